"""CVAT's "Datumaro 3D 1.0": Datumaro JSON of a point-cloud task.

The same files as "Datumaro 1.0" (:mod:`.datumaro`, whose reader this is): ``annotations/<subset>.json``,
items with ``point_cloud`` ``{path}`` and ``related_images`` ``[{path, size?}]``, annotations of type
``cuboid_3d`` with ``position``, ``rotation`` (radians) and ``scale``, plus ``point_clouds/<subset>/``
and ``related_images/<subset>/<item id>/`` when media are saved. Detection tells the two apart by
content: a cloud entry, a 3D cuboid or a point-cloud folder makes an export 3D (and the 2D format
then says no). The writer is :func:`.datumaro_write.write` with ``three_d=True``.
"""
from __future__ import annotations

from ..core.dataset import Dataset
from ..core.io import Source
from . import datumaro
from .registry import FormatSpec, register

NAME = "Datumaro 3D 1.0"
SHAPES = ("cuboid_3d", "tag")


def detect(source: Source) -> float:
    score, three_d = datumaro.detect_kind(source)
    return score if three_d else 0.0


def read(source: Source, **options) -> Dataset:
    return datumaro.read_as(source, NAME)


def _write(ds, sink, ctx):
    from .datumaro_write import write

    write(ds, sink, ctx, three_d=True)


register(FormatSpec(
    name=NAME, aliases=("datumaro_3d", "datumaro_3d_1.0"), read=read, write=_write, detect=detect,
    shapes=SHAPES, media=("point_cloud",), family="cvat",
    description="Datumaro JSON of point-cloud tasks: annotations/<subset>.json (+ point_clouds/<subset>/, "
                "related_images/<subset>/<id>/); 3D cuboids (position, rotation, scale) and tags; tracks as per-frame "
                "cuboids with track_id/keyframe attributes"))
