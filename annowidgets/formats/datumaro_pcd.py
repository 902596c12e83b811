"""Point-cloud items in Datumaro's layout: where the clouds and their related images sit.

Reading has to find files written by two Datumaros: CVAT's fork (what CVAT's "Datumaro 3D
1.0" is made with) puts a cloud at ``point_clouds/<subset>/<path>`` and its camera frames at
``related_images/<subset>/<item id>/<path>`` (``path`` = ``image_<i>.<ext>``); upstream
Datumaro 1.x puts the frames at ``images/<subset>/<path>`` (``path`` = ``<id>/extra_image_<i>.<ext>``).
Writing follows CVAT's fork, plus upstream's ``media_type`` key so that upstream reads the
items as point clouds too (CVAT's reader ignores the key).
"""
from __future__ import annotations

import posixpath

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ..core.loss import LossReport
from ..core.media_types import POINT_CLOUD_EXTS
from ._media import copy_media

MEDIA_TYPE_POINT_CLOUD = 6  # upstream Datumaro's MediaType.POINT_CLOUD


# -- reading -------------------------------------------------------------------------------------
def _find(source: Source, index: set, candidates: list[str], path: str) -> str:
    for cand in candidates:
        if cand in index:
            return source.url_of(cand)
    return path


def read_item(it: dict, iid: str, subset: str, root: str, source: Source, index: set, where: str
              ) -> tuple[str, str, list[str] | None]:
    """``(name, media, related images)`` of an item with a ``point_cloud`` entry; ``root`` is the
    folder holding ``annotations/`` ("" at the top, with a trailing "/" otherwise)."""
    pc = it["point_cloud"]
    path = pc.get("path") if type(pc) is dict else None
    if type(path) is not str or not path:
        raise FormatError(where, f"item {iid!r}: 'point_cloud' must be an object with a non-empty 'path', "
                                 f"got {str(pc)[:80]}", element="point_cloud")
    media = _find(source, index, [f"{root}point_clouds/{subset}/{path}", f"{root}point_clouds/{path}"], path)
    related = it.get("related_images")
    if related is None:
        return path, media, None
    if type(related) is not list or not all(type(r) is dict and type(r.get("path")) is str and r["path"]
                                            for r in related):
        raise FormatError(where, f"item {iid!r}: 'related_images' must be a list of objects with a 'path', "
                                 f"got {str(related)[:80]}", element="related_images")
    out = [_find(source, index, [f"{root}related_images/{subset}/{iid}/{r['path']}",
                                 f"{root}images/{subset}/{r['path']}", f"{root}images/{r['path']}"], r["path"])
           for r in related]
    return path, media, out


# -- writing -------------------------------------------------------------------------------------
def is_point_cloud(kind, name, media) -> bool:
    """An item of kind point_cloud, or one whose file is a cloud (a table made by hand)."""
    if kind == "point_cloud":
        return True
    if isinstance(kind, str) and kind not in ("image", ""):
        return False
    ref = name if isinstance(name, str) and name else media
    return isinstance(ref, str) and ref.lower().endswith(POINT_CLOUD_EXTS)


def related_of(extra) -> list[str]:
    rel = extra.get("related_images") if isinstance(extra, dict) else None
    return [r for r in rel if isinstance(r, str) and r] if isinstance(rel, list) else []


def related_name(i: int, media: str) -> str:
    """CVAT's name for the ``i``-th frame of a cloud: the frames' own names may clash or be missing."""
    ext = posixpath.splitext(media.split("?")[0])[1].lower() or ".jpg"
    return f"image_{i}{ext}"


def item_media(d: dict, iid: str, name, extra) -> None:
    """Put ``point_cloud`` (and ``related_images``) into the item dict ``d``."""
    path = name.lstrip("/") if isinstance(name, str) and name else f"{iid}.pcd"
    d["point_cloud"] = {"path": path}
    rel = related_of(extra)
    if rel:
        d["related_images"] = [{"path": related_name(i, m)} for i, m in enumerate(rel)]


def copy_clouds(ds: Dataset, sink: Sink, rows: list[tuple], report: LossReport) -> None:
    """Copy each ``(item_id, id, subset, name, media, extra)`` cloud and its frames into the export."""
    clouds, frames = [], []
    for item_id, iid, subset, name, media, extra in rows:
        path = name.lstrip("/") if isinstance(name, str) and name else f"{iid}.pcd"
        clouds.append((item_id, media, f"point_clouds/{subset}/{path}"))
        frames += [(item_id, m, f"related_images/{subset}/{iid}/{related_name(i, m)}")
                   for i, m in enumerate(related_of(extra))]
    copy_media(ds, sink, clouds, report)
    missing = LossReport(report.format)
    copy_media(ds, sink, frames, missing)
    for e in missing.entries:
        report.add("items", e.rows, "related image not found, not saved")
