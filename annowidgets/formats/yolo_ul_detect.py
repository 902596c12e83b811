"""Ultralytics YOLO Detection 1.0 (``cls cx cy w h [track_id]``) and its Track export variant.

Import reads an optional trailing track id into ``track_id`` (CVAT does the same). The plain
export leaves track ids out (reported when there are any); "Ultralytics YOLO Detection
Track 1.0" appends them to the lines of rows that have one.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import yolo_codecs as codecs
from . import yolo_ultralytics as ul
from .registry import FormatSpec, register
from .yolo_common import class_list


def _decode(lines, cls, item, W, H, classes, data):
    lines.require((lines.n == 5) | (lines.n == 6), "5 (class cx cy w h) or 6 (… track_id)")
    cols = codecs.decode_boxes(lines, np.ones(len(lines), dtype=bool), W[item], H[item])
    six = lines.n == 6
    track = np.full(len(lines), np.nan)
    if six.any():
        t = lines.values[lines.offsets[:-1][six] + 5]
        bad = t != np.floor(t)
        if bad.any():
            raise lines.error(np.flatnonzero(six)[np.argmax(bad)], "track id (field 6) must be an integer")
        track[six] = t
    cols.update(item=item, label=np.asarray(classes, dtype=object)[cls],
                track_id=pd.array([pd.NA if v != v else int(v) for v in track.tolist()], dtype="Int64"))
    if six.any():
        cols["keyframe"] = six
    labels = pd.DataFrame({"name": classes, "type": "rectangle"})
    return [cols], labels


def read(source, **options):
    return ul.read(source, _decode, options, "Ultralytics YOLO Detection")


def _writer(with_track: bool):
    def write(ds, sink, ctx) -> None:
        def encode(p):
            classes = codecs.export_classes(ds, class_list(ds), ("bbox",))
            rows, W, H = codecs.prepare(ds, ctx, classes, ("bbox",))
            tid = rows.a["track_id"]
            if with_track:
                has = tid.notna().to_numpy()
                lines = [""] * len(rows.a)
                for mask, tail in ((has, tid[has].to_numpy(dtype=np.int64)), (~has, None)):
                    sub = rows.take(mask)
                    for i, ln in zip(np.flatnonzero(mask).tolist(), codecs.encode_boxes(sub, ctx, tail), strict=True):
                        lines[i] = ln
            else:
                ctx.report.add_mask("annotations", rows.a, tid.notna().to_numpy(),
                                    "track ids not written (use 'Ultralytics YOLO Detection Track 1.0')", key="ann_id")
                lines = codecs.encode_boxes(rows, ctx)
            return rows.pos, lines, W, H, classes, {}

        ul.write_layout(ds, sink, ctx, "detect", encode)

    return write


def detect(source) -> float:
    return 0.8 if ul.detect_task(source) == "detect" else 0.0


register(FormatSpec(
    name="Ultralytics YOLO Detection 1.0", aliases=("yolo_ultralytics_detection", "ultralytics detection"),
    read=read, write=_writer(False), detect=detect, shapes=("bbox",), family="cvat",
    description="Ultralytics YOLO: data.yaml, images/<subset>/, labels/<subset>/<image>.txt (cls cx cy w h)",
))
register(FormatSpec(
    name="Ultralytics YOLO Detection Track 1.0", aliases=("yolo_ultralytics_detection_track",),
    read=None, write=_writer(True), detect=None, shapes=("bbox",), family="cvat",
    description="Ultralytics YOLO Detection with the track id appended to each line",
))
