"""CVAT's "ICDAR Localization 1.0" (Datumaro ``icdar_text_localization``): text boxes and quads.

Layout: ``<subset>/gt_<image id>.txt`` at the archive root (as CVAT's export, Datumaro's exporter,
writes it, and as CVAT's import needs it: under an extra folder Datumaro takes that folder for
the subset), one region per line: a box as ``x1 y1 x2 y2 "text"`` (spaces) or a polygon as
``x1,y1,x2,y2,x3,y3,x4,y4,"text"`` (commas); the text may be left out, or given unquoted as the
last field. Images in ``<subset>/images/``. The ``text_localization/<subset>/`` nesting CVAT's
docs show is read too.

Import: boxes and polygons labelled ``icdar`` (as CVAT labels them) with
``attributes['text']``. Export: unrotated boxes as boxes, polygons with their points, rotated
boxes as their four corners (reported); every item gets a file, so an image with no text on
it comes back.
"""
from __future__ import annotations

import posixpath
import re

import numpy as np

from ..core import geometry
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from . import _icdar
from . import _voc_common as vc
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

FOLDER = "text_localization"
_NUM = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _gt_files(files: list[str]) -> list[str]:
    return [f for f in files if posixpath.basename(f).startswith("gt_") and f.lower().endswith(".txt")
            and "/" in f]


def _where(rel: str) -> tuple[str, str]:
    """(subset, item id) of a ``gt_<id>.txt`` path."""
    parts = rel.split("/")
    if FOLDER in parts[:-2]:
        k = parts.index(FOLDER)
        subset, inner = parts[k + 1], parts[k + 2:]
    else:
        subset, inner = parts[-2], parts[-1:]
    inner = [*inner[:-1], inner[-1][3:-4]]
    return subset, "/".join(inner)


def parse_line(line: str):
    """``(kind, points, text)`` of one line, or a string saying what is wrong."""
    text = None
    if '"' in line:
        i, j = line.index('"'), line.rindex('"')
        if i == j:
            return "an unbalanced quote"
        if line[j + 1:].strip():
            return "text after the closing quote"
        text, line = line[i + 1:j], line[:i]
    fields = [f for f in re.split(r"[,\s]+", line.strip()) if f != ""] if "," in line else line.split()
    nums = []
    for f in fields:
        if _NUM.match(f):
            nums.append(float(f))
        else:
            break
    rest = fields[len(nums):]
    if rest:
        if text is not None:
            return f"unexpected field {rest[0]!r} before the quoted text"
        text = " ".join(rest) if "," not in line else ",".join(
            p.strip() for p in line.split(",")[len(nums):])
    if len(nums) >= 8 and len(nums) % 2 == 0:
        return "polygon", nums, text
    if len(nums) == 4:
        return "bbox", nums, text
    return f"{len(nums)} coordinates (expected 4 for a box, or 8 or more, even, for a polygon)"


def detect_icdar_localization(source: Source) -> float:
    return _icdar.detect_gt(source, _gt_files(source.files), "localization", parse_line, 0.8)


def read_icdar_localization(source: Source, **options) -> Dataset:
    gts = _gt_files(source.files)
    if not gts:
        raise FormatError(source.display(), "no ICDAR text localization here: expected <subset>/gt_<image>.txt "
                                            "(text_localization/<subset>/gt_<image>.txt in CVAT's export)")
    items, rows = [], []
    images_by_dir: dict[str, dict] = {}
    for rel in sorted(gts):
        subset, ident = _where(rel)
        sdir = rel[: len(rel) - len(posixpath.basename(rel))]
        if "/" in ident:
            sdir = sdir[: len(sdir) - len(posixpath.dirname(ident)) - 1]
        images = images_by_dir.setdefault(sdir, _icdar.images_of(source, sdir))
        img = images.get(ident)
        name = img[len(sdir) + 7:] if img else f"{ident}.png"
        item_id = len(items)
        items.append(_icdar.item_row(source, item_id, name, subset, img))
        for n, raw in enumerate(source.read_text(rel).splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            parsed = parse_line(line)
            if isinstance(parsed, str):
                raise FormatError(source.display(rel), f"{parsed}: expected 'x1 y1 x2 y2 \"text\"' or "
                                  f"'x1,y1,...,x4,y4,\"text\"', got {line!r}", line=n)
            kind, nums, text = parsed
            attrs = {"text": text} if text else {}
            if kind == "bbox":
                x1, y1, x2, y2 = nums
                rows.append({"item_id": item_id, "type": "bbox", "label": _icdar.LABEL, "x": x1, "y": y1,
                             "w": x2 - x1, "h": y2 - y1, "attributes": attrs})
            else:
                xs, ys = nums[0::2], nums[1::2]
                rows.append({"item_id": item_id, "type": "polygon", "label": _icdar.LABEL, "points": nums,
                             "x": min(xs), "y": min(ys), "w": max(xs) - min(xs), "h": max(ys) - min(ys),
                             "attributes": attrs})
    return _icdar.dataset(items, rows)


def _num(v) -> str:
    v = float(v)
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def write_icdar_localization(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items, ids, files, subsets, a = vc.prepared(ds, report)
    kind = a["type"].to_numpy()
    rotated = (kind == "bbox") & (a["rotation"].fillna(0).to_numpy() != 0)
    ok = np.isin(kind, ("bbox", "polygon"))
    for t, g in a[~ok].groupby("type"):
        report.add("annotations", g["ann_id"], f"ICDAR Localization carries boxes and polygons only, not {t}")
    report.add_mask("annotations", a, rotated, "rotated box written as a polygon of its corners", key="ann_id")
    a = a[ok]
    _icdar.report_other_labels(report, a, "ICDAR Localization")
    other = a["attributes"].map(lambda d: bool(set(d) - {"text"}) if isinstance(d, dict) else False)
    report.add_mask("annotations", a, other.to_numpy(dtype=bool), "ICDAR Localization carries only the text "
                    "attribute", key="ann_id")
    quotes = a["attributes"].map(lambda d: '"' in (_icdar.text_of(d) or "")).to_numpy(dtype=bool)
    report.add_mask("annotations", a, quotes, "text with a quote: written, but CVAT/Datumaro refuse the line",
                    key="ann_id")
    short = a["points"].map(lambda p: p is not None and len(p) < 8).to_numpy(dtype=bool) & (a["type"] == "polygon").to_numpy()
    report.add_mask("annotations", a, short, "polygon of fewer than 4 points: written with its last point repeated "
                    "(ICDAR needs at least 4), so it comes back with 4", key="ann_id")
    lines: dict[int, list[str]] = {}
    for p, r in zip(a["_pos"].tolist(), a.itertuples(index=False), strict=True):
        text = _icdar.text_of(r.attributes)
        if r.type == "bbox" and not (r.rotation == r.rotation and r.rotation):
            s = " ".join(_num(v) for v in (r.x, r.y, r.x + r.w, r.y + r.h))
            s += f' "{text}"' if text is not None else ""
        else:
            pts = (geometry.box_corners(r.x, r.y, r.w, r.h, r.rotation).reshape(-1).tolist() if r.type == "bbox"
                   else list(r.points or []))
            while 0 < len(pts) < 8:
                pts += pts[-2:]
            s = ",".join(_num(v) for v in pts) + (f',"{text}"' if text is not None else "")
        lines.setdefault(p, []).append(s + "\n")
    for p in range(len(items)):
        ident = ids.iloc[p]
        d, base = posixpath.split(ident)
        rel = posixpath.join(subsets[p], d, f"gt_{base}.txt")
        sink.write_text(rel, "".join(lines.get(p, [])))
    if ctx.save_images:
        copy_media(ds, sink, [(i, m, f"{s}/images/{f}") for i, m, s, f in
                              zip(items["item_id"], items["media"], subsets, files, strict=True)], report)


register(FormatSpec(
    name="ICDAR Localization 1.0", aliases=("icdar_text_localization", "icdar localization", "ICDAR Detection 1.0"),
    read=read_icdar_localization, write=write_icdar_localization, detect=detect_icdar_localization,
    shapes=("bbox", "polygon"), family="cvat",
    description='<subset>/gt_<image>.txt: x1 y1 x2 y2 "text" or x1,y1,...,x4,y4,"text"',
))
