"""CVAT's "KITTI 1.0" (Datumaro ``kitti``): 2D object detection lines and instance PNGs.

Layout (per subset): ``<subset>/label_2/<id>.txt`` (one object per line: ``type truncated
occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]``), ``<subset>/instance/<id>.png``
(16-bit: ``class_index << 8 | instance``, instance 0 = a crowd region), ``<subset>/semantic/``
(class indices) and ``<subset>/semantic_rgb/`` (label colours), ``<subset>/image_2/`` (images)
and ``label_colors.txt`` (``r g b name``) beside the subset folders. Without
``label_colors.txt`` the class indices are KITTI's own 35 classes.

Import: boxes get ``occluded`` (the column: level != 0) and ``attributes['truncated']``
(truncated != 0), as CVAT keeps them; the exact truncation and occlusion level and the 3D
fields (alpha, dimensions h w l, location x y z, rotation_y) go to ``extra['kitti']``; a 16th
field is the ``score``. Instance PNGs give one mask per instance with ``is_crowd`` (instance
0); regions of a class named ``background`` are left out, as CVAT does.

Export: unrotated boxes go to ``label_2`` (the 3D fields from ``extra['kitti']``, else -1);
polygons, masks, ellipses and rotated boxes are painted (in ``z_order``, one instance per
``group``) into the three PNGs; ``label_colors.txt`` lists every label with ``background``
first in black, as CVAT writes it. Everything else is named in the loss report.
"""
from __future__ import annotations

import io
import posixpath
import re

import numpy as np
import pandas as pd
from PIL import Image

from ..core import raster
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ..core.media_types import IMAGE_EXTS
from . import _voc_common as vc
from ._media import copy_media
from .cityscapes import CITYSCAPES_LABELS
from .registry import FormatSpec, WriteContext, register

LABELS_DIR, INSTANCE_DIR, SEMANTIC_DIR, SEMANTIC_RGB_DIR, IMAGES_DIR = (
    "label_2", "instance", "semantic", "semantic_rgb", "image_2")
LABEL_COLORS = "label_colors.txt"
#: KITTI's own classes (the class index of an instance PNG) when there is no label_colors.txt
KITTI_LABELS = CITYSCAPES_LABELS  # KITTI's semantic benchmark uses Cityscapes' classes and colours
#: the 3D fields kept in extra['kitti'] and their value when a box has none (as Datumaro writes)
FIELDS_3D = ("alpha", "height", "width", "length", "x", "y", "z", "rotation_y")
AREA_TYPES = ("polygon", "mask", "ellipse")


# -- finding the dataset -------------------------------------------------------------------------
def _subset_dirs(files: list[str]) -> dict[str, set]:
    """``<prefix><subset>/`` -> which of label_2 / instance it holds (the files' own structure)."""
    found: dict[str, set] = {}
    for f in files:
        parts = f.split("/")
        if len(parts) < 2:
            continue
        for i in range(len(parts) - 1):
            d = parts[i]
            if (d, f.lower()[-4:]) in ((LABELS_DIR, ".txt"), (INSTANCE_DIR, ".png")):
                found.setdefault("/".join(parts[:i]) + ("/" if i else ""), set()).add(d)
                break
    return found


def _roots(subsets: dict[str, set]) -> set[str]:
    """The folders the subset folders sit in (label_colors.txt is there)."""
    return {posixpath.dirname(s.rstrip("/")) for s in subsets if s} | ({""} if "" in subsets else set())


def _first_line_ok(source: Source, rel: str) -> bool:
    try:
        with source.open(rel) as f:
            line = f.readline(4096).decode("utf-8", "replace").split()
    except OSError:
        return False
    if not line:
        return True
    if len(line) not in (15, 16):
        return False
    try:
        [float(v) for v in line[1:]]
    except ValueError:
        return False
    return True


def detect_kitti(source: Source) -> float:
    subsets = _subset_dirs(source.files)
    if not subsets or len(_roots(subsets)) != 1:
        return 0.0
    for s, kinds in subsets.items():
        if LABELS_DIR in kinds:
            txt = next(f for f in source.files if f.startswith(f"{s}{LABELS_DIR}/") and f.lower().endswith(".txt"))
            if not _first_line_ok(source, txt):
                return 0.0
        if INSTANCE_DIR in kinds:
            png = next(f for f in source.files if f.startswith(f"{s}{INSTANCE_DIR}/") and f.lower().endswith(".png"))
            try:
                with Image.open(source.open(png)) as img:
                    if img.mode not in ("I;16", "I", "L", "I;16B"):
                        return 0.0
            except Exception:  # noqa: BLE001 - an unreadable PNG is not this format's evidence
                return 0.0
    return 0.85


# -- reading ---------------------------------------------------------------------------------------
def parse_label_colors(text: str, where: str) -> list[tuple[str, tuple | None]]:
    """``r g b name`` lines (``name`` alone: no colour); ``#`` comments and blank lines skipped."""
    out, seen = [], set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split()
        if len(f) == 1:
            name, rgb = f[0], None
        elif len(f) == 4:
            try:
                rgb = tuple(int(v) for v in f[:3])
            except ValueError:
                raise FormatError(where, f"expected 'r g b name', got {line!r}", line=lineno) from None
            if not all(0 <= c <= 255 for c in rgb):
                raise FormatError(where, f"colour components must be 0..255, got {line!r}", line=lineno)
            name = f[3]
        else:
            raise FormatError(where, f"expected 'r g b name' (4 fields) or 'name', got {len(f)} fields",
                              line=lineno)
        if name in seen:
            raise FormatError(where, f"label {name!r} is defined twice", line=lineno)
        seen.add(name)
        out.append((name, rgb))
    return out


def _parse_label_files(source: Source, files: list[str]):
    """All label_2 lines at once: (file index, line number, tokens) -> columns, checked."""
    file_of, line_of, toks = [], [], []
    for k, rel in enumerate(files):
        for n, raw in enumerate(source.read_text(rel).splitlines(), 1):
            t = raw.split()
            if not t:
                continue
            if len(t) not in (15, 16):
                raise FormatError(source.display(rel), f"expected 15 or 16 space-separated fields (type truncated "
                                  f"occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]), got {len(t)}",
                                  line=n)
            if len(t) == 15:
                t.append("nan")
            file_of.append(k)
            line_of.append(n)
            toks.append(t)
    if not toks:
        return None
    arr = np.array(toks, dtype=object)
    try:
        nums = arr[:, 1:].astype(np.float64)
    except ValueError:
        for i, t in enumerate(toks):
            for j, v in enumerate(t[1:], 2):
                try:
                    float(v)
                except ValueError:
                    raise FormatError(source.display(files[file_of[i]]), f"field {j} is {v!r}, expected a number",
                                      line=line_of[i]) from None
        raise
    bad = ~np.isfinite(nums[:, 3:7]).all(axis=1) | (nums[:, 5] < nums[:, 3]) | (nums[:, 6] < nums[:, 4])
    if bad.any():
        i = int(np.argmax(bad))
        raise FormatError(source.display(files[file_of[i]]), "box corners x1 y1 x2 y2 (fields 5-8) must be finite "
                          "with x2 >= x1 and y2 >= y1", line=line_of[i])
    occl = nums[:, 1]
    if (occl != np.floor(occl)).any():
        i = int(np.argmax(occl != np.floor(occl)))
        raise FormatError(source.display(files[file_of[i]]), "occluded (field 3) must be an integer level",
                          line=line_of[i])
    return np.asarray(file_of), arr[:, 0].astype(str), nums


def _image_index(source: Source, subset_dir: str) -> dict[str, str]:
    d = f"{subset_dir}{IMAGES_DIR}/"
    return {posixpath.splitext(f[len(d):])[0]: f for f in source.files
            if f.startswith(d) and posixpath.splitext(f)[1].lower() in IMAGE_EXTS}


def read_kitti(source: Source, **options) -> Dataset:
    """Read every subset's label_2 boxes and instance masks, with label_colors.txt if present."""
    subsets = _subset_dirs(source.files)
    roots = _roots(subsets)
    if not subsets:
        raise FormatError(source.display(), "no KITTI annotations here: expected <subset>/label_2/*.txt or "
                                            "<subset>/instance/*.png")
    if len(roots) != 1:
        raise FormatError(source.display(), f"several KITTI datasets in one input ({', '.join(sorted(roots))}); "
                                            "read them one by one")
    root = next(iter(roots))
    root = f"{root}/" if root else ""
    lc_rel = f"{root}{LABEL_COLORS}"
    seg_labels = (parse_label_colors(source.read_text(lc_rel), source.display(lc_rel)) if source.exists(lc_rel)
                  else list(KITTI_LABELS))
    seg_names = [n for n, _ in seg_labels]

    item_rows: list[dict] = []
    ann_parts: list[pd.DataFrame] = []
    mask_rows: list[dict] = []
    for sdir in sorted(subsets):
        subset = sdir.rstrip("/").rsplit("/", 1)[-1] if sdir else "default"
        images = _image_index(source, sdir)
        lab_dir, inst_dir = f"{sdir}{LABELS_DIR}/", f"{sdir}{INSTANCE_DIR}/"
        lab_files = {f[len(lab_dir):-4]: f for f in source.files
                     if f.startswith(lab_dir) and f.lower().endswith(".txt")}
        inst_files = {f[len(inst_dir):-4]: f for f in source.files
                      if f.startswith(inst_dir) and f.lower().endswith(".png")}
        ids = list(dict.fromkeys([*sorted(lab_files), *sorted(inst_files), *sorted(images)]))
        item_of = {}
        sizes = {}
        for ident, rel in inst_files.items():
            where = source.display(rel)
            try:
                with Image.open(io.BytesIO(source.read_bytes(rel))) as img:
                    img.load()
                    arr = np.asarray(img).astype(np.int64)
            except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
                raise FormatError(where, f"not a readable PNG ({exc})") from exc
            if arr.ndim != 2:
                raise FormatError(where, "expected a single-channel (16-bit) instance PNG, got colour channels")
            sizes[ident] = (arr.shape[1], arr.shape[0])
            for v in np.unique(arr).tolist():
                cls, inst = v >> 8, v & 255
                if cls >= len(seg_names):
                    raise FormatError(where, f"pixel value {v} has class index {cls}, but the label map "
                                      f"({LABEL_COLORS if source.exists(lc_rel) else 'KITTI default'}) has "
                                      f"{len(seg_names)} labels")
                if seg_names[cls] == vc.BACKGROUND:
                    continue
                m = arr == v
                row = vc._mask_row(m, seg_names[cls], inst)
                row.pop("_bitmap")
                row.update(attributes={"is_crowd": inst == 0}, _ident=ident)
                mask_rows.append(row)
        for ident in ids:
            item_id = len(item_rows)
            item_of[ident] = item_id
            img = images.get(ident)
            name = img[len(f"{sdir}{IMAGES_DIR}/"):] if img else f"{ident}.png"
            size = sizes.get(ident)
            if size is None and img:
                size = vc.image_size(source.read_bytes(img))
            item_rows.append({"item_id": item_id, "name": name, "subset": subset,
                              "media": source.url_of(img) if img else name,
                              "width": size[0] if size else pd.NA, "height": size[1] if size else pd.NA})
        for r in mask_rows:
            if "_ident" in r:
                r["item_id"] = item_of[r.pop("_ident")]
        files = [lab_files[i] for i in sorted(lab_files)]
        parsed = _parse_label_files(source, files)
        if parsed is not None:
            fidx, types, nums = parsed
            item = np.array([item_of[i] for i in sorted(lab_files)], dtype=np.int64)[fidx]
            ann_parts.append(_box_table(item, types, nums))

    items = pd.DataFrame(item_rows, columns=["item_id", "name", "subset", "media", "width", "height"])
    for c in ("width", "height"):
        items[c] = pd.array(items[c].tolist(), dtype="Int64")
    parts = [p for p in ann_parts if len(p)]
    if mask_rows:
        parts.append(pd.DataFrame(mask_rows))
    ann = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    ann["ann_id"] = np.arange(len(ann))
    for c in ("attributes", "extra", "mask"):
        if c in ann:
            ann[c] = ann[c].astype(object).where(ann[c].notna(), None)
    used = list(dict.fromkeys(ann["label"].tolist())) if len(ann) else []
    lab_names = [n for n in seg_names if n != vc.BACKGROUND or n in used] if source.exists(lc_rel) else []
    colors = dict(seg_labels)
    names = list(dict.fromkeys([*lab_names, *used]))
    labels = pd.DataFrame({"name": names,
                           "color": ["#{:02x}{:02x}{:02x}".format(*colors[n]) if colors.get(n) else pd.NA
                                     for n in names]})
    return Dataset(items=items, annotations=ann, labels=labels)


def _box_table(item: np.ndarray, types: np.ndarray, nums: np.ndarray) -> pd.DataFrame:
    trunc, occl = nums[:, 0], nums[:, 1].astype(np.int64)
    x1, y1, x2, y2 = nums[:, 3], nums[:, 4], nums[:, 5], nums[:, 6]
    three_d = nums[:, [2, 7, 8, 9, 10, 11, 12, 13]].tolist()
    extra = [{"kitti": {"truncated": t, "occluded": o, **dict(zip(FIELDS_3D, d, strict=True))}}
             for t, o, d in zip(trunc.tolist(), occl.tolist(), three_d, strict=True)]
    return pd.DataFrame({
        "item_id": item, "label": types, "type": "bbox", "x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1,
        "occluded": occl != 0, "score": nums[:, 14],
        # a 16th field (score) is what KITTI's detection results add to ground truth lines
        "source": np.where(np.isnan(nums[:, 14]), "annotation", "prediction"),
        "attributes": [{"truncated": bool(t)} for t in (trunc != 0).tolist()], "extra": extra,
    })


# -- writing -----------------------------------------------------------------------------------------
def _num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def _truthy(v) -> bool | None:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return None if v != v else bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "1", "yes"):
            return True
        if s in ("false", "0", "no", ""):
            return False
    return None


def _box_lines(boxes: pd.DataFrame, report) -> list[str]:
    """One label_2 line per row; fields the row has no value for are -1, as Datumaro writes them."""
    lines, bad_name, extra_attrs = [], [], []
    for r in boxes.itertuples(index=False):
        ex = r.extra.get("kitti") if isinstance(r.extra, dict) and isinstance(r.extra.get("kitti"), dict) else {}
        attrs = r.attributes if isinstance(r.attributes, dict) else {}
        t_attr = attrs.get("truncated")
        t_kept = ex.get("truncated")
        flag = _truthy(t_attr)
        if isinstance(t_attr, (int, float)) and not isinstance(t_attr, bool):
            trunc = float(t_attr)  # a truncation fraction given as the attribute itself
        elif flag is None:
            trunc = float(t_kept) if isinstance(t_kept, (int, float)) else 0.0
        elif isinstance(t_kept, (int, float)) and bool(t_kept) == flag:
            trunc = float(t_kept)
        else:
            trunc = 1.0 if flag else 0.0
        o_kept = ex.get("occluded")
        occl = int(o_kept) if isinstance(o_kept, (int, float)) and bool(o_kept) == bool(r.occluded) else int(r.occluded)
        if set(attrs) - {"truncated", "occluded"}:
            extra_attrs.append(r.ann_id)
        label = str(r.label)
        if not label or re.search(r"\s", label):
            bad_name.append(r.ann_id)
            label = re.sub(r"\s+", "_", label) or "unlabeled"
        d3 = [ex.get(k, -1) for k in FIELDS_3D]
        d3 = [v if isinstance(v, (int, float)) else -1 for v in d3]
        f = [label, _num(trunc), str(occl), _num(d3[0]), _num(r.x), _num(r.y), _num(r.x + r.w), _num(r.y + r.h),
             *(_num(v) for v in d3[1:])]
        if r.score == r.score:
            f.append(_num(r.score))
        lines.append(" ".join(f))
    report.add("annotations", bad_name, "KITTI type names cannot hold whitespace (or be empty): written with '_'")
    report.add("annotations", extra_attrs, "KITTI boxes carry only truncated and occluded; other attributes "
               "not written")
    return lines


def write_kitti(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items, ids, files, subsets, a = vc.prepared(ds, report)
    kind = a["type"].to_numpy()
    rotated = (kind == "bbox") & (a["rotation"].fillna(0).to_numpy() != 0)
    is_box = (kind == "bbox") & ~rotated
    is_area = np.isin(kind, AREA_TYPES) | rotated
    for t, g in a[~is_box & ~is_area].groupby("type"):
        report.add("annotations", g["ann_id"], f"KITTI carries boxes and area shapes (as masks) only, not {t}")
    report.add_mask("annotations", a, rotated, "rotated box written as a mask in instance/ (comes back as a mask)",
                    key="ann_id")
    boxes, areas = a[is_box], a[is_area]
    area_kept = {"is_crowd"}
    extra_attr = areas["attributes"].map(lambda d: bool(set(d) - area_kept) if isinstance(d, dict) else False)
    report.add_mask("annotations", areas, extra_attr.to_numpy(dtype=bool),
                    "KITTI masks carry only is_crowd; other attributes not written", key="ann_id")
    report.add_mask("annotations", areas, areas["score"].notna().to_numpy(), "KITTI masks carry no score",
                    key="ann_id")
    lines_of: dict[int, list[str]] = {}
    if len(boxes):
        for p, line in zip(boxes["_pos"].tolist(), _box_lines(boxes, report), strict=True):
            lines_of.setdefault(p, []).append(line)
    for p in range(len(items)):  # every item, so one with nothing on it still comes back
        sink.write_text(f"{subsets[p]}/{LABELS_DIR}/{ids.iloc[p]}.txt", "".join(f"{ln}\n" for ln in lines_of.get(p, [])))
    ctx.step(0.3, "boxes")
    entries = vc.labelmap_from_dataset(ds, extra_names=pd.unique(a["label"]).tolist())
    if len(entries) > 256:
        raise ValueError(f"KITTI instance PNGs hold class indices up to 255; this dataset has {len(entries)} labels")
    _write_masks(ds, sink, ctx, areas, items, ids, subsets, entries)
    sink.write_text(LABEL_COLORS, "".join(f"{r} {g} {b} {n}\n" for n, (r, g, b), _, _ in entries))
    if ctx.save_images:
        pairs = [(i, m, f"{s}/{IMAGES_DIR}/{f}") for i, m, s, f in
                 zip(items["item_id"], items["media"], subsets, files, strict=True)]
        copy_media(ds, sink, pairs, report)


def _png(arr: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    if mode == "I;16":
        Image.fromarray(arr.astype(np.uint16)).save(buf, format="PNG")
    else:
        Image.fromarray(arr.astype(np.uint8), mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _write_masks(ds, sink, ctx, rows, items, ids, subsets, entries) -> None:
    if rows.empty:
        return
    report = ctx.report
    index_of = {e[0]: i for i, e in enumerate(entries)}
    colors = np.array([e[1] for e in entries], dtype=np.uint8)
    widths, heights = vc.item_sizes(ds, items)
    no_size, too_many, bad, hidden = [], [], [], []
    for p, grp in rows.groupby("_pos", sort=True):
        width, height = widths[p], heights[p]
        if np.isnan(width) or np.isnan(height):
            no_size.extend(grp["ann_id"].tolist())
            continue
        cls = grp["label"].map(index_of).fillna(0).astype(np.int64).to_numpy()
        crowd = grp["attributes"].map(lambda d: _truthy(d.get("is_crowd")) is True if isinstance(d, dict)
                                      else False).to_numpy(dtype=bool)
        g = grp["group"]
        # one instance per group (CVAT merges a group's shapes), numbered within its class
        key = np.where(g.notna(), "g" + g.astype(str), "r" + grp["ann_id"].astype(str))
        inst = np.zeros(len(grp), dtype=np.int64)
        for c in np.unique(cls):
            sel = np.flatnonzero((cls == c) & ~crowd)
            _, first, inv = np.unique(key[sel], return_index=True, return_inverse=True)
            order = np.argsort(np.argsort(first))
            inst[sel] = order[inv] + 1
        over = inst > 255
        too_many.extend(grp["ann_id"].to_numpy()[over].tolist())
        inst = np.where(over, 0, inst)
        value = (cls << 8) | inst
        try:
            cls_map, inst_map = raster.paint(grp, int(height), int(width), cls, value)
        except ValueError:
            bad.extend(grp["ann_id"].tolist())
            continue
        present = set(np.unique(inst_map).tolist())
        gone = np.array([v not in present for v in value.tolist()])
        hidden.extend(grp["ann_id"].to_numpy()[gone].tolist())
        rel = f"{ids.iloc[p]}.png"
        s = subsets[p]
        sink.write_bytes(f"{s}/{INSTANCE_DIR}/{rel}", _png(inst_map, "I;16"))
        sink.write_bytes(f"{s}/{SEMANTIC_DIR}/{rel}", _png(cls_map, "L"))
        sink.write_bytes(f"{s}/{SEMANTIC_RGB_DIR}/{rel}", vc.encode_rgb_png(cls_map, colors))
    report.add("annotations", no_size, "item has no known width/height, shape not rasterised")
    report.add("annotations", too_many, "more than 255 instances of one label in an image: written as a crowd region "
               "(instance 0)")
    report.add("annotations", bad, "mask size differs from the image size, not rasterised")
    report.add("annotations", hidden, "no pixel of it left in instance/ (covered by shapes painted over it in "
               "z_order, or smaller than a pixel)")


register(FormatSpec(
    name="KITTI 1.0", aliases=("kitti",), read=read_kitti, write=write_kitti, detect=detect_kitti,
    shapes=("bbox", "mask", "polygon", "ellipse"), family="cvat",
    description="<subset>/label_2/*.txt (KITTI object lines), <subset>/instance|semantic|semantic_rgb PNGs, "
                "label_colors.txt",
))
