"""Ultralytics YOLO Segmentation 1.0: ``cls x1 y1 x2 y2 …`` polygons, normalised.

Ellipses are written as 32-point polygons (type changes, reported). Masks are not traced
into polygons here: they are reported in the LossReport rather than dropped silently.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import yolo_codecs as codecs
from . import yolo_ultralytics as ul
from .registry import FormatSpec, register
from .yolo_common import class_list, ellipse_polygons

TYPES = ("polygon", "ellipse")


def _decode(lines, cls, item, W, H, classes, data):
    lines.require((lines.n >= 7) & (lines.n % 2 == 1), "an odd count >= 7 (class and at least 3 x y points)")
    cols = codecs.decode_polygons(lines, np.ones(len(lines), dtype=bool), W[item], H[item])
    cols.update(item=item, label=np.asarray(classes, dtype=object)[cls])
    return [cols], pd.DataFrame({"name": classes, "type": "polygon"})


def read(source, **options):
    return ul.read(source, _decode, options, "Ultralytics YOLO Segmentation")


def encode_shapes(rows: codecs.Rows, ctx) -> list[str]:
    """Polygon lines for polygon and ellipse rows (ellipses approximated, reported)."""
    ell = (rows.a["type"] == "ellipse").to_numpy()
    pts = rows.a["points"].tolist()
    if ell.any():
        approx = ellipse_polygons(rows.a[ell])
        for i, p in zip(np.flatnonzero(ell).tolist(), approx, strict=True):
            pts[i] = p
        ctx.report.add("annotations", rows.a.loc[ell, "ann_id"], "ellipse written as a 32-point polygon")
    short = np.array([p is None or len(p) < 6 for p in pts], dtype=bool)
    ctx.report.add("annotations", rows.a.loc[short, "ann_id"], "polygon with fewer than 3 points not written")
    keep = ~short
    return codecs.encode_polygons(rows.take(keep), [p for p, k in zip(pts, keep, strict=True) if k]), keep


def write(ds, sink, ctx) -> None:
    def encode(p):
        classes = codecs.export_classes(ds, class_list(ds), TYPES)
        rows, W, H = codecs.prepare(ds, ctx, classes, TYPES)
        lines, keep = encode_shapes(rows, ctx)
        return rows.pos[keep], lines, W, H, classes, {}

    ul.write_layout(ds, sink, ctx, encode)


def detect(source) -> float:
    score, data, counts = ul.detect_kind(source)
    if score and "kpt_shape" not in data and len(counts) and ((counts >= 7) & (counts % 2 == 1)).all():
        return 0.7 if (counts == 9).all() else 0.85
    return 0.0


register(FormatSpec(
    name="Ultralytics YOLO Segmentation 1.0", aliases=("yolo_ultralytics_segmentation", "ultralytics segmentation"),
    read=read, write=write, detect=detect, shapes=("polygon", "ellipse"), family="cvat",
    description="Ultralytics YOLO segmentation: cls x1 y1 x2 y2 … polygons",
))
