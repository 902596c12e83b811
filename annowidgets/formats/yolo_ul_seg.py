"""Ultralytics YOLO Segmentation 1.0: ``cls x1 y1 x2 y2 …`` polygons, normalised.

Ellipses are written as 32-point polygons and masks as their pixel-edge outlines (one line
per connected part; holes cannot be carried): both change type and are reported.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import raster
from ..core.masks import coco_decode
from . import yolo_codecs as codecs
from . import yolo_ultralytics as ul
from .registry import FormatSpec, register
from .yolo_common import class_list, ellipse_polygons

TYPES = ("polygon", "ellipse", "mask")


def _decode(lines, cls, item, W, H, classes, data):
    lines.require((lines.n >= 7) & (lines.n % 2 == 1), "an odd count >= 7 (class and at least 3 x y points)")
    cols = codecs.decode_polygons(lines, np.ones(len(lines), dtype=bool), W[item], H[item])
    cols.update(item=item, label=np.asarray(classes, dtype=object)[cls])
    return [cols], pd.DataFrame({"name": classes, "type": "polygon"})


def read(source, **options):
    return ul.read(source, _decode, options, "Ultralytics YOLO Segmentation")


def encode_shapes(rows: codecs.Rows, ctx) -> tuple[np.ndarray, list[str]]:
    """Polygon lines for polygon, ellipse and mask rows; returns (row index per line, lines).

    Ellipses become 32-point polygons; masks their exact pixel-edge outlines, one line per
    connected part (holes cannot be written: reported).
    """
    kind = rows.a["type"].to_numpy()
    pts = rows.a["points"].tolist()
    owner = list(range(len(pts)))
    ell = kind == "ellipse"
    if ell.any():
        for i, p in zip(np.flatnonzero(ell).tolist(), ellipse_polygons(rows.a[ell]), strict=True):
            pts[i] = p
        ctx.report.add("annotations", rows.a.loc[ell, "ann_id"], "ellipse written as a 32-point polygon")
    holed, split, empty = [], [], []
    ids = rows.a["ann_id"].tolist()
    for i in np.flatnonzero(kind == "mask").tolist():
        rle = rows.a["mask"].iat[i]
        outer, holes = raster.mask_to_polygons(coco_decode(rle), with_holes=True) if isinstance(rle, dict) else ([], [])
        if not outer:
            empty.append(ids[i])
            pts[i] = None
            continue
        pts[i] = outer[0]
        for extra in outer[1:]:
            pts.append(extra)
            owner.append(i)
        if len(outer) > 1:
            split.append(ids[i])
        if holes:
            holed.append(ids[i])
    ctx.report.add("annotations", split, "mask of several parts written as one polygon line per part")
    ctx.report.add("annotations", holed, "mask holes cannot be written in YOLO segmentation (outer outline kept)")
    ctx.report.add("annotations", empty, "empty or unreadable mask not written")
    owner_arr = np.asarray(owner, dtype=np.int64)
    short = np.array([p is None or len(p) < 6 for p in pts], dtype=bool)
    bad_poly = short & (kind[owner_arr] == "polygon")
    ctx.report.add("annotations", [ids[i] for i in owner_arr[bad_poly].tolist()],
                   "polygon with fewer than 3 points not written")
    keep = ~short
    idx = owner_arr[keep]
    return idx, codecs.encode_polygons(rows.at(idx), [p for p, k in zip(pts, keep, strict=True) if k])


def write(ds, sink, ctx) -> None:
    def encode(p):
        classes = codecs.export_classes(ds, class_list(ds), TYPES)
        rows, W, H = codecs.prepare(ds, ctx, classes, TYPES)
        idx, lines = encode_shapes(rows, ctx)
        return rows.pos[idx], lines, W, H, classes, {}

    ul.write_layout(ds, sink, ctx, "segment", encode)


def detect(source) -> float:
    return 0.85 if ul.detect_task(source) == "segment" else 0.0


register(FormatSpec(
    name="Ultralytics YOLO Segmentation 1.0", aliases=("yolo_ultralytics_segmentation", "ultralytics segmentation"),
    read=read, write=write, detect=detect, shapes=("polygon", "ellipse", "mask"), family="cvat",
    description="Ultralytics YOLO segmentation: cls x1 y1 x2 y2 … polygons",
))
