"""Ultralytics YOLO Oriented Bounding Boxes 1.0: ``cls x1 y1 x2 y2 x3 y3 x4 y4`` normalised.

Corners are computed in pixels (:func:`geometry.box_corners`: top-left, top-right,
bottom-right, bottom-left of the unrotated box, rotated clockwise about the centre) and
then normalised, so rotation stays right on non-square images. Import inverts it with
:func:`geometry.corners_to_box`; rotation comes back in [0, 360).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import yolo_codecs as codecs
from . import yolo_ultralytics as ul
from .registry import FormatSpec, register
from .yolo_common import class_list


def _decode(lines, cls, item, W, H, classes, data):
    lines.require(lines.n == 9, "9 (class x1 y1 x2 y2 x3 y3 x4 y4)")
    cols = codecs.decode_obb(lines, np.ones(len(lines), dtype=bool), W[item], H[item])
    cols.update(item=item, label=np.asarray(classes, dtype=object)[cls])
    return [cols], pd.DataFrame({"name": classes, "type": "rectangle"})


def read(source, **options):
    return ul.read(source, _decode, options, "Ultralytics YOLO Oriented Bounding Boxes")


def write(ds, sink, ctx) -> None:
    def encode(p):
        classes = codecs.export_classes(ds, class_list(ds), ("bbox",))
        rows, W, H = codecs.prepare(ds, ctx, classes, ("bbox",))
        return rows.pos, codecs.encode_obb(rows), W, H, classes, {}

    ul.write_layout(ds, sink, ctx, "obb", encode)


def detect(source) -> float:
    return 0.85 if ul.detect_task(source) == "obb" else 0.0


register(FormatSpec(
    name="Ultralytics YOLO Oriented Bounding Boxes 1.0",
    aliases=("yolo_ultralytics_oriented_boxes", "ultralytics obb"),
    read=read, write=write, detect=detect, shapes=("bbox",), family="cvat",
    description="Ultralytics YOLO OBB: cls x1 y1 x2 y2 x3 y3 x4 y4, corners of the rotated box",
))
