"""CVAT's "ICDAR Segmentation 1.0" (Datumaro ``icdar_text_segmentation``): character masks.

Layout: ``<subset>/<image id>_GT.bmp`` (each character painted in its own colour on white) and
``<subset>/<image id>_GT.txt`` at the archive root, as CVAT's export (Datumaro's exporter) writes
them, one character per line: ``R G B cx cy x1 y1 x2 y2 "c"`` (colour, centre, box); a blank line
ends a word; a line starting with ``#`` is a space character. Images in ``<subset>/images/``.
The ``text_segmentation/<subset>/`` nesting CVAT's docs show is read too.

Import: one mask per character labelled ``icdar`` (as CVAT labels them) with attributes
``index``, ``color``, ``text`` and ``center`` (Datumaro's names); characters of a word of more
than one character share a ``group``. Export: masks, polygons, boxes and ellipses are painted
(in ``index`` order, else row order) with their ``color`` (or a new distinct one); a group is a
word.
"""
from __future__ import annotations

import io
import posixpath

import numpy as np
import pandas as pd
from PIL import Image

from ..core import raster
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from . import _icdar
from . import _voc_common as vc
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

FOLDER = "text_segmentation"
WHITE = (255, 255, 255)
ATTRS = ("index", "color", "text", "center")


def _gt_files(files: list[str]) -> list[str]:
    return [f for f in files if f.endswith("_GT.txt") and "/" in f]


def _paired(files: list[str]) -> list[str]:
    """The ``_GT.txt`` files with their ``_GT.bmp`` beside them (the format's own evidence)."""
    index = set(files)
    return [f for f in _gt_files(files) if f[:-4] + ".bmp" in index]


def _where(rel: str) -> tuple[str, str, str]:
    """(subset, item id, subset folder) of a ``<id>_GT.txt`` path."""
    parts = rel.split("/")
    if FOLDER in parts[:-2]:
        k = parts.index(FOLDER)
        subset, inner = parts[k + 1], parts[k + 2:]
        sdir = "/".join(parts[:k + 2]) + "/"
    else:
        subset, inner, sdir = parts[-2], parts[-1:], "/".join(parts[:-1]) + "/"
    inner = [*inner[:-1], inner[-1][:-7]]
    return subset, "/".join(inner), sdir


def parse_line(line: str):
    """``(rgb, center, box, char)`` of a character line, or a string saying what is wrong."""
    space = line.startswith("#")
    if space:
        line = line[1:]
    head, quote, tail = line.partition('"')
    f = head.split()
    if len(f) != 9 or not quote or not tail.rstrip().endswith('"'):
        return 'expected 10 fields: R G B cx cy x1 y1 x2 y2 "c"'
    char = " " if space else tail.rstrip()[:-1]
    try:
        rgb = tuple(int(v) for v in f[:3])
    except ValueError:
        return f"colour {' '.join(f[:3])!r} is not three integers"
    if not all(0 <= c <= 255 for c in rgb):
        return "colour components must be 0..255"
    return rgb, f"{f[3]} {f[4]}", f[5:9], char


def detect_icdar_segmentation(source: Source) -> float:
    return _icdar.detect_gt(source, _paired(source.files), "segmentation", parse_line, 0.85)


def read_icdar_segmentation(source: Source, **options) -> Dataset:
    gts = _gt_files(source.files)
    if not gts:
        raise FormatError(source.display(), "no ICDAR text segmentation here: expected <subset>/<image>_GT.txt "
                                            "with <image>_GT.bmp (text_segmentation/<subset>/ in CVAT's export)")
    items, rows = [], []
    group_base = 0
    for rel in sorted(gts):
        subset, ident, sdir = _where(rel)
        images = _icdar.images_of(source, sdir)
        img = images.get(ident)
        bmp = rel[:-4] + ".bmp"
        item_id = len(items)
        items.append(_icdar.item_row(source, item_id, img[len(sdir) + 7:] if img else f"{ident}.png", subset, img,
                                     probe=bmp if source.exists(bmp) else None))
        chars = []  # (rgb, center, char, word)
        word, in_word = 0, 0
        sizes = []
        for n, raw in enumerate(source.read_text(rel).splitlines(), 1):
            line = raw.strip()
            if not line:
                if in_word:
                    sizes.append(in_word)
                    word += 1
                in_word = 0
                continue
            parsed = parse_line(line)
            if isinstance(parsed, str):
                raise FormatError(source.display(rel), f"{parsed}, got {line!r}", line=n)
            rgb, center, _, char = parsed
            chars.append((rgb, center, char, word))
            in_word += 1
        if in_word:
            sizes.append(in_word)
        if not source.exists(bmp):
            if chars:
                raise FormatError(source.display(rel), f"lists {len(chars)} character(s) but "
                                  f"{posixpath.basename(bmp)} is not beside it")
            continue
        where = source.display(bmp)
        try:
            with Image.open(io.BytesIO(source.read_bytes(bmp))) as im:
                im.load()
                data = np.asarray(im.convert("RGB"), dtype=np.int64)
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
            raise FormatError(where, f"not a readable image ({exc})") from exc
        colors = np.array([WHITE] + [c[0] for c in chars], dtype=np.int64)
        buf = io.BytesIO()
        Image.fromarray(data.astype(np.uint8), "RGB").save(buf, format="PNG")
        idx, unknown = vc.decode_color_png(buf.getvalue(), colors, where)
        if unknown:
            raise FormatError(where, f"colour(s) {unknown[:5]} are not listed in {posixpath.basename(rel)}")
        for k in np.unique(idx).tolist():
            if k <= 0:
                continue
            rgb, center, char, w = chars[k - 1]
            row = vc._mask_row(idx == k, _icdar.LABEL, None)
            row.pop("_bitmap")
            grouped = sizes[w] > 1 if w < len(sizes) else False
            row.update(item_id=item_id, group=group_base + w + 1 if grouped else pd.NA, extra=None,
                       attributes={"index": k - 1, "color": " ".join(map(str, rgb)), "text": char, "center": center})
            rows.append(row)
        group_base += len(sizes)
    ds = _icdar.dataset(items, rows)
    return ds


def _colors(n: int, used: set) -> list[tuple]:
    """``n`` distinct colours, none white or in ``used`` (VOC colour map order, then more)."""
    out = []
    for c in vc.colormap(4096)[1:]:
        t = tuple(int(v) for v in c)
        if t != WHITE and t not in used:
            out.append(t)
            used.add(t)
            if len(out) == n:
                break
    return out


def write_icdar_segmentation(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items, ids, files, subsets, a = vc.prepared(ds, report)
    kind = a["type"].to_numpy()
    ok = np.isin(kind, raster.RASTER_TYPES)
    for t, g in a[~ok].groupby("type"):
        report.add("annotations", g["ann_id"], f"ICDAR Segmentation carries masks only (area shapes are painted), "
                   f"not {t}")
    report.add_mask("annotations", a, ok & (kind != "mask"), "painted into the character mask: comes back as a mask",
                    key="ann_id")
    a = a[ok]
    _icdar.report_other_labels(report, a, "ICDAR Segmentation")
    other = a["attributes"].map(lambda d: bool(set(d) - set(ATTRS)) if isinstance(d, dict) else False)
    report.add_mask("annotations", a, other.to_numpy(dtype=bool), "ICDAR Segmentation carries only index, color, "
                    "text and center", key="ann_id")
    widths, heights = vc.item_sizes(ds, items)
    no_size, hidden, bad = [], [], []
    by_pos = dict(list(a.groupby("_pos", sort=False)))
    for p in range(len(items)):
        sdir = f"{subsets[p]}/"
        grp = by_pos.get(p)
        txt = []
        if grp is not None and len(grp):
            width, height = widths[p], heights[p]
            if np.isnan(width) or np.isnan(height):
                no_size.extend(grp["ann_id"].tolist())
                grp = None
        if grp is not None and len(grp):
            attrs = [d if isinstance(d, dict) else {} for d in grp["attributes"]]
            order_key = [(int(d["index"]) if str(d.get("index", "")).lstrip("-").isdigit() else 1 << 30, k)
                         for k, d in enumerate(attrs)]
            order = [k for _, k in sorted(order_key)]
            given = {}
            for k in order:
                c = str(attrs[k].get("color", "")).split()
                if len(c) == 3 and all(v.isdigit() and int(v) <= 255 for v in c):
                    rgb = tuple(int(v) for v in c)
                    if rgb != WHITE and rgb not in given.values():
                        given[k] = rgb
            fresh = iter(_colors(len(order) - len(given), set(given.values()) | {WHITE}))
            color = {k: given.get(k) or next(fresh) for k in order}
            canvas = np.full((int(height), int(width), 3), 255, dtype=np.uint8)
            groups = grp["group"].tolist()
            prev = None
            ann_ids = grp["ann_id"].tolist()
            painted = np.zeros((int(height), int(width)), dtype=np.int64)
            for n, k in enumerate(order, 1):
                r = grp.iloc[k]
                try:
                    m = raster.shape_mask(r["type"], int(height), int(width), x=r["x"], y=r["y"], w=r["w"],
                                          h=r["h"], rotation=r["rotation"], points=r["points"], mask=r["mask"])
                except ValueError:
                    bad.append(ann_ids[k])
                    continue
                canvas[m] = color[k]
                painted[m] = n
                g = groups[k]
                g = None if g is pd.NA or g is None else g
                if n > 1 and (g is None or g != prev):
                    txt.append("")  # a blank line ends a word
                prev = g
                ys, xs = np.nonzero(m)
                box = (f"{xs.min()} {ys.min()} {xs.max() + 1} {ys.max() + 1}" if len(xs) else "0 0 0 0")
                center = str(attrs[k].get("center") or "- -")
                char = str(attrs[k].get("text", ""))
                rgb = " ".join(map(str, color[k]))
                txt.append(f"#{rgb} {center} {box} \" \"" if char == " " else f'{rgb} {center} {box} "{char}"')
            seen = set(np.unique(painted).tolist())
            hidden.extend(ann_ids[k] for n, k in enumerate(order, 1) if n not in seen)
            buf = io.BytesIO()
            Image.fromarray(canvas, "RGB").save(buf, format="BMP")
            sink.write_bytes(f"{sdir}{ids.iloc[p]}_GT.bmp", buf.getvalue())
        elif widths[p] == widths[p] and heights[p] == heights[p]:
            buf = io.BytesIO()
            Image.new("RGB", (int(widths[p]), int(heights[p])), WHITE).save(buf, format="BMP")
            sink.write_bytes(f"{sdir}{ids.iloc[p]}_GT.bmp", buf.getvalue())
        sink.write_text(f"{sdir}{ids.iloc[p]}_GT.txt", "".join(f"{ln}\n" for ln in txt))
    report.add("annotations", no_size, "item has no known width/height, shape not painted")
    report.add("annotations", bad, "mask size differs from the image size, not painted")
    report.add("annotations", hidden, "no pixel of it left (covered by characters painted after it)")
    if ctx.save_images:
        copy_media(ds, sink, [(i, m, f"{s}/images/{f}") for i, m, s, f in
                              zip(items["item_id"], items["media"], subsets, files, strict=True)], report)


register(FormatSpec(
    name="ICDAR Segmentation 1.0", aliases=("icdar_text_segmentation", "icdar segmentation"),
    read=read_icdar_segmentation, write=write_icdar_segmentation, detect=detect_icdar_segmentation,
    shapes=("mask", "polygon", "bbox", "ellipse"), family="cvat",
    description='<subset>/<image>_GT.bmp + <image>_GT.txt: R G B cx cy x1 y1 x2 y2 "c"',
))
