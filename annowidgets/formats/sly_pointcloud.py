"""CVAT's "Sly Point Cloud Format 1.0" (Datumaro's ``sly_pointcloud``): Supervisely point clouds.

Layout: ``meta.json`` (``classes`` with ``title``; ``tags``: attribute declarations with
``value_type``, ``applicable_type``, ``classes``), ``key_id_map.json`` (uuid keys -> ids for
``videos`` (frames), ``objects``, ``figures``, ``tags``), then per dataset folder (CVAT: ``ds0``)
``pointcloud/<name>.pcd``, ``ann/<name>.pcd.json`` (``key``, ``description``, frame ``tags``,
``objects`` {key, classTitle, tags}, ``figures`` {key, objectKey, geometryType ``cuboid_3d``,
geometry {position, rotation, dimensions} each {x, y, z}}) and
``related_images/<stem>_pcd/<image>`` with ``<image>.json`` (sensor data) beside each image.

Mapping: a figure is a ``cuboid_3d`` row, ``points`` = position, rotation (rad), dimensions
(= Datumaro's scale); its object's ``classTitle`` the label, the object's tags its attributes
(``"true"``/``"false"`` -> booleans), except CVAT's ``occluded`` and ``keyframe`` tags, which go
to their columns. An object on several frames (or with a ``keyframe`` tag, which is how CVAT
marks track rows) is a track: ``track_id`` = the object's id in ``key_id_map.json``, and, as
CVAT's import does, an ``outside`` row follows each visible run that ends before the task does.
Keys, ids and fields with no column stay in ``extra``. See ``docs/formats/sly_pointcloud.md``.
The reader is :mod:`.sly_pointcloud_read`, the writer :mod:`.sly_pointcloud_write`.
"""
from __future__ import annotations

from ..core.io import Source
from . import sly_pointcloud_read, sly_pointcloud_write
from .registry import FormatSpec, register

NAME = "Sly Point Cloud Format 1.0"


def detect(source: Source) -> float:
    """Sure when ``meta.json`` and ``key_id_map.json`` sit beside a ``<ds>/ann/*.json`` folder."""
    if source.kind == "file":
        return 0.0
    root = sly_pointcloud_read.find_root(source.files)
    if root is None:
        return 0.0
    return 0.95 if sly_pointcloud_read.annotation_files(source.files, root) else 0.6


register(FormatSpec(
    name=NAME, aliases=("sly_pointcloud", "Sly Point Cloud", "Supervisely Point Cloud"),
    read=sly_pointcloud_read.read, write=sly_pointcloud_write.write, detect=detect,
    shapes=("cuboid_3d",), media=("point_cloud",), family="cvat",
    description="Supervisely point clouds: meta.json, key_id_map.json, ds0/pointcloud/*.pcd, ds0/ann/*.pcd.json, "
                "ds0/related_images/<name>_pcd/",
))
