"""CVAT's "CamVid 1.0" (Datumaro ``camvid``): semantic segmentation as colour-coded class PNGs.

Layout: ``<subset>.txt`` with lines ``/<subset>/<image> /<subset>annot/<stem>.png`` (a path with
spaces in double quotes; an image without a mask has no second path), ``<subset>annot/*.png``
(pixel colour = class, from ``label_colors.txt``), ``label_colors.txt`` (``r g b name``;
CamVid's own 32 classes when it is absent) and ``<subset>/<image>`` with "save images".

Export rasterises boxes (rotated ones too), polygons, ellipses and masks in ``z_order`` into one
class map per image, as CVAT does; the class with the black colour is the background (a
``background`` label is made when there is none and, as CVAT does, left out of
``label_colors.txt``). The format is semantic: shapes of one class on an image come back as one
mask, and that merge, attributes, scores and shapes without area are reported. Import gives
one mask row per class present (never the background), or pixel-exact polygons with
``to_polygons=True`` (several parts share a ``group``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from . import _semseg as ss
from . import _voc_common as vc
from ._carry import report_attributes
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

ANNOT = "annot"

# CamVid's own classes (the SegNet release), used when label_colors.txt is absent
CAMVID_LABELS = (
    ("Void", (0, 0, 0)), ("Animal", (64, 128, 64)), ("Archway", (192, 0, 128)), ("Bicyclist", (0, 128, 192)),
    ("Bridge", (0, 128, 64)), ("Building", (128, 0, 0)), ("Car", (64, 0, 128)), ("CartLuggagePram", (64, 0, 192)),
    ("Child", (192, 128, 64)), ("Column_Pole", (192, 192, 128)), ("Fence", (64, 64, 128)),
    ("LaneMkgsDriv", (128, 0, 192)), ("LaneMkgsNonDriv", (192, 0, 64)), ("Misc_Text", (128, 128, 64)),
    ("MotorcycycleScooter", (192, 0, 192)), ("OtherMoving", (128, 64, 64)), ("ParkingBlock", (64, 192, 128)),
    ("Pedestrian", (64, 64, 0)), ("Road", (128, 64, 128)), ("RoadShoulder", (128, 128, 192)),
    ("Sidewalk", (0, 0, 192)), ("SignSymbol", (192, 128, 128)), ("Sky", (128, 128, 128)),
    ("SUVPickupTruck", (64, 128, 192)), ("TrafficCone", (0, 0, 64)), ("TrafficLight", (0, 64, 64)),
    ("Train", (192, 64, 128)), ("Tree", (128, 128, 0)), ("Truck_Bus", (192, 128, 192)), ("Tunnel", (64, 0, 64)),
    ("VegetationMisc", (192, 192, 0)), ("Wall", (64, 192, 0)),
)


# == reading ===================================================================================
def _lists(source) -> list[str]:
    return [f for f in source.files if "/" not in f and f.lower().endswith(".txt") and f != ss.LABEL_COLORS]


def parse_line(line: str, where: str, lineno: int) -> tuple[str, str | None]:
    """``<image> [<mask>]``, either path possibly in double quotes -> (image, mask or None)."""
    if '"' in line:
        parts = line.strip().split('"')
        if len(parts) == 5 and not parts[0].strip() and not parts[2].strip() and not parts[4].strip():
            tokens = [parts[1], parts[3]]
        elif len(parts) == 3 and not parts[0].strip():
            tokens = [parts[1], *parts[2].split()]
        else:
            raise FormatError(where, f'unbalanced quotes: expected "<image>" "<mask>", got {line.strip()[:60]!r}',
                              line=lineno)
    else:
        tokens = line.split()
    if not 1 <= len(tokens) <= 2:
        raise FormatError(where, f"expected '<image path> <mask path>', got {len(tokens)} fields", line=lineno)
    return tokens[0], (tokens[1] if len(tokens) == 2 else None)


def read(source, to_polygons: bool = False, **options) -> Dataset:
    """Items from the subset lists, one mask (or polygons) per class from the annotation PNGs."""
    if source.kind == "file":
        raise FormatError(source.display(), "expected a CamVid folder or zip (<subset>.txt, <subset>annot/, "
                                            "label_colors.txt), not a single file")
    lists = _lists(source)
    if source.exists(ss.LABEL_COLORS):
        entries = ss.parse_label_colors(source.read_text(ss.LABEL_COLORS), source.display(ss.LABEL_COLORS))
    else:
        entries = list(CAMVID_LABELS)
    entries, implicit, _ = ss.with_background(entries)
    names = [n for n, _ in entries]
    colors = np.array([c for _, c in entries], dtype=np.int64)
    items, rows, unknown, holes = [], [], {}, []
    group = 1
    has_masks = False
    for rel in lists:
        where = source.display(rel)
        subset = rel[:-4]
        for lineno, line in enumerate(source.read_text(rel).splitlines(), 1):
            if not line.strip():
                continue
            image, gt = parse_line(line, where, lineno)
            img_rel = image.lstrip("/")
            parts = img_rel.split("/")
            name = "/".join(parts[1:]) if len(parts) > 1 else img_rel
            iid = len(items)
            width = height = None
            found = []
            if gt is not None:
                gt_rel = gt.lstrip("/")
                if not source.exists(gt_rel):
                    raise FormatError(where, f"mask {gt!r} is not in the dataset", line=lineno)
                has_masks = True
                cls_map, unk = vc.decode_color_png(source.read_bytes(gt_rel), colors, source.display(gt_rel))
                height, width = cls_map.shape
                for u in unk:
                    unknown.setdefault(u, []).append(iid)
                found = [{"type": "mask", "label": names[v], "mask": rle, "x": x, "y": y, "w": w, "h": h, "extra": None,
                          "_bitmap": ss.bitmap(idx, cls_map.shape) if to_polygons else None}
                         for v, rle, (x, y, w, h), idx in ss.segments(cls_map) if v > 0]  # -1: unknown colour
                if to_polygons:
                    found, n_holes = vc.to_polygon_rows(found, group)
                    group += len(found)
                    if n_holes:
                        holes.append(iid)
            elif source.exists(img_rel):
                size = vc.image_size(source.read_bytes(img_rel))
                if size:
                    width, height = size
            for r in found:
                r = {k: v for k, v in r.items() if k != "_bitmap"}
                r["item_id"] = iid
                rows.append(r)
            items.append({"item_id": iid, "name": name, "subset": subset, "width": width, "height": height,
                          "media": source.url_of(img_rel) if source.exists(img_rel) else name})
    if not has_masks and not source.exists(ss.LABEL_COLORS):
        raise FormatError(source.display(), "no CamVid annotations here: expected <subset>.txt lines "
                                            "'<image> <mask>' or label_colors.txt")
    ann = pd.DataFrame(rows) if rows else None
    if ann is not None:
        ann.insert(0, "ann_id", np.arange(len(ann), dtype=np.int64))
        for c in ("extra", "points", "mask"):
            if c in ann:
                ann[c] = ann[c].astype(object).where(ann[c].notna(), None)
    it = pd.DataFrame(items, columns=["item_id", "name", "subset", "width", "height", "media"])
    for c in ("width", "height"):
        it[c] = pd.to_numeric(it[c]).astype("Int64")
    ds = Dataset(items=it, annotations=ann, labels=ss.labels_table(entries, implicit))
    ds.media_root = source.url_of("")
    for color, ids in unknown.items():
        ds.loss.add("items", ids, f"pixels of colour {color} (not in label_colors.txt) read as unlabelled")
    if holes:
        ds.loss.add("items", holes, "mask holes cannot be polygons; holes filled (to_polygons=True)")
    return ds


# == writing ===================================================================================
def _quoted(path: str) -> str:
    return f'"{path}"' if len(path.split()) > 1 or path != path.strip() else path


def write(ds: Dataset, sink, ctx: WriteContext) -> None:
    report = ctx.report
    items = ds.items.reset_index(drop=True)
    ids, files, renamed = vc.item_ids(items)
    report.add("items", renamed, "file name collides with another item's; written as <name>__<n>")
    rows = ss.paintable_rows(ds, items, report, "CamVid")
    report_attributes(report, rows, "CamVid")
    entries = ss.export_entries(ds, pd.unique(rows["label"]).tolist())
    index_of = {n: i for i, n in enumerate(n for n, _ in entries)}
    colors = np.array([c for _, c in entries], dtype=np.uint8)
    cls = rows["label"].map(index_of).fillna(0).astype(np.int64).to_numpy()
    # one class map per image: separate shapes of one class become one mask when read back
    fg = rows[cls > 0]
    dup = fg.duplicated(["_pos", "label"], keep=False).to_numpy()
    report.add("annotations", fg["ann_id"][dup], "CamVid keeps one mask per class and image: shapes of the "
                                                 "same class on an image come back merged")
    subsets = items["subset"].fillna("default").astype(str).to_numpy()
    masked = {}
    for p, cls_map, _, _ in ss.paint_items(ds, rows, items, cls, np.arange(1, len(rows) + 1), report, ctx):
        rel = f"{subsets[p]}{ANNOT}/{ids.iloc[p]}.png"
        png = vc.encode_index_png(cls_map, colors) if len(colors) <= 256 else vc.encode_rgb_png(cls_map, colors)
        sink.write_bytes(rel, png)
        masked[p] = rel
    for subset in pd.unique(subsets):
        lines = []
        for p in np.nonzero(subsets == subset)[0]:
            img = _quoted(f"/{subset}/{files.iloc[p]}")
            lines.append(f"{img} {_quoted('/' + masked[p])}\n" if p in masked else f"{img}\n")
        sink.write_text(f"{subset}.txt", "".join(lines))
    # as CVAT: the background made up for the export is not listed
    added = not any(n == entries[0][0] for n in ds.labels["name"].tolist())
    sink.write_text(ss.LABEL_COLORS, ss.format_label_colors(entries[1:] if added else entries))
    if ctx.save_images:
        targets = [f"{s}/{f}" for s, f in zip(subsets.tolist(), files.tolist(), strict=True)]
        copy_media(ds, sink, zip(items["item_id"], items["media"], targets, strict=True), report)


# == detection =================================================================================
def detect(source) -> float:
    """A top-level ``<subset>.txt`` whose lines pair an image with a mask PNG that is in the input."""
    if source.kind == "file":
        return 0.0
    for rel in _lists(source):
        try:
            lines = [ln for ln in source.read_text(rel).splitlines()[:20] if ln.strip()]
            pairs = [parse_line(ln, rel, k) for k, ln in enumerate(lines, 1)]
        except (FormatError, OSError):
            continue
        masks = [gt.lstrip("/") for _, gt in pairs if gt is not None]
        if masks and all(m.lower().endswith(".png") and source.exists(m) for m in masks):
            return 0.7
    return 0.0


register(FormatSpec(
    name="CamVid 1.0", aliases=("camvid",),
    read=read, write=write, detect=detect, shapes=("mask", "polygon", "bbox", "ellipse"), family="cvat",
    description="CamVid: <subset>.txt, <subset>annot/ class PNGs coloured by label_colors.txt",
))
