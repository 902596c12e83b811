"""Kitti Raw Format 1.0 (CVAT's point-cloud format, Datumaro's ``kitti_raw``): 3D cuboid tracklets.

Layout: ``tracklet_labels.xml`` (see ``_kitti_raw_xml``), ``frame_list.txt`` (``<frame> <name>``
per line), ``velodyne_points/data/<name>.pcd`` and related camera images
``image_XX/data/<name>.<ext>``. A tracklet has one label and one size (``h w l``) and a pose
per frame from ``first_frame`` on.

Import (as Datumaro, and so CVAT, reads it): each tracklet is a track (``track_id`` = its
position + 1); every pose is a keyframe row of type ``cuboid_3d`` with ``points`` = ``tx ty tz rx
ry rz h w l``. Poses whose truncation is 2 or 99 (out of / behind the image) are skipped; the
first of each such run, and the frame after a tracklet's last pose when the sequence goes on,
is an ``outside`` row, CVAT's way to end a track. ``occluded`` is occlusion 1 or 2, an unset
occlusion (-1) takes the last ``occlusion_kf`` pose's. The other pose values go to
``extra['kitti_raw']``, pose and tracklet ``<attributes>`` to ``attributes``.

Export: every track is a tracklet written on every frame it is visible (interpolated between
keyframes), one per visible run unless ``hidden_poses=True`` (see ``_kitti_raw_write``); cuboids
outside tracks become one-pose tracklets. Track ids themselves are not written (CVAT drops
them too). Frames are renumbered 0, 1, … in frame order and named in ``frame_list.txt``.
"""
from __future__ import annotations

import posixpath

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError, UnsafeInputError
from ..core.io import Source
from ..core.media_types import IMAGE_EXTS, POINT_CLOUD_EXTS
from . import _kitti_raw_xml as kx
from ._kitti_raw_write import write
from .registry import FormatSpec, register

ANNO_FILE = "tracklet_labels.xml"
FRAME_LIST = "frame_list.txt"
PCD_DIR = "velodyne_points/data/"
HIDDEN_TRUNCATION = (2, 99)  # OUT_IMAGE, BEHIND_IMAGE: Datumaro skips these poses


# == finding the document ======================================================================
def _candidates(source: Source) -> list[str]:
    """``tracklet_labels.xml`` anywhere, else XML files at most one folder deep."""
    if source.kind == "file":
        return [source.name]
    named = [f for f in source.files if posixpath.basename(f).lower() == ANNO_FILE]
    if named:
        return named
    return [f for f in source.glob("*.xml") if f.count("/") <= 1]


def _sniff(source: Source, rel: str, named: bool) -> bool:
    """Whether ``rel`` is a tracklets document (a ``tracklet_labels.xml`` is taken as one when
    ``named``, so that damage in it is reported by the parser); a DTD or entities are refused here."""
    with source.open(rel) as f:
        head = f.read(1 << 16)
    if not kx.looks_like_tracklets(head):
        if not (named and posixpath.basename(rel).lower() == ANNO_FILE):
            return False
    kx.check_safe(head, source.display(rel))
    return True


def find_document(source: Source, named: bool = True) -> str:
    """The tracklets XML of ``source``; ``named=False`` (detection) insists on its content."""
    found = [rel for rel in _candidates(source) if _sniff(source, rel, named)]
    if not found:
        raise FormatError(source.display(), "no KITTI raw tracklets here: expected tracklet_labels.xml with "
                          "<boost_serialization><tracklets>")
    found.sort(key=lambda r: (r.count("/"), r))
    if len(found) > 1 and found[1].count("/") == found[0].count("/"):
        raise FormatError(source.display(), f"several tracklet files ({', '.join(found[:5])}): load one folder "
                          "at a time")
    return found[0]


def detect(source: Source) -> float:
    try:
        find_document(source, named=False)
    except UnsafeInputError:
        raise
    except (FormatError, OSError):
        return 0.0
    return 0.95


# == reading ===================================================================================
def parse_frame_list(text: str, where: str) -> dict[int, str]:
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise FormatError(where, f"expected '<frame> <name>', got {line[:80]!r}", line=n)
        name = parts[1].strip().replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise FormatError(where, f"name {name!r} leaves the dataset folder", line=n)
        out[int(parts[0])] = name
    return out


def _media_index(source: Source, root: str) -> tuple[dict, dict]:
    """Point clouds by name (without extension) and related images by name, under ``root``."""
    clouds, images = {}, {}
    for f in source.files:
        if not f.startswith(root):
            continue
        rel = f[len(root):]
        stem, ext = posixpath.splitext(rel)
        ext = ext.lower()
        if rel.startswith(PCD_DIR) and ext in POINT_CLOUD_EXTS:
            clouds.setdefault(stem[len(PCD_DIR):], f)
            continue
        top, _, rest = rel.partition("/")
        if top.lower().startswith("image_") and rest.startswith("data/") and ext in IMAGE_EXTS:
            images.setdefault(posixpath.splitext(rest[len("data/"):])[0], []).append(f)
    return clouds, images


def _items(source: Source, root: str, frames: np.ndarray, names: dict[int, str]) -> pd.DataFrame:
    clouds, images = ({}, {}) if source.kind == "file" else _media_index(source, root)
    ids = [names.get(f, f"{f:010d}") for f in frames.tolist()]
    cloud = [clouds.get(i) for i in ids]
    related = [sorted(images.get(i, [])) for i in ids]
    return pd.DataFrame({
        "item_id": np.arange(len(frames)),
        "name": [i + (posixpath.splitext(c)[1] if c else ".pcd") for i, c in zip(ids, cloud, strict=True)],
        "frame": frames, "task": 0, "kind": "point_cloud",
        "media": [source.url_of(c) if c else pd.NA for c in cloud],
        "extra": [{"related_images": [source.url_of(r) for r in rs]} if rs else None for rs in related],
    })


def _pose_extra(poses: pd.DataFrame, finished: np.ndarray) -> list[dict]:
    """``{'kitti_raw': {...}}`` per pose: the values the pose has (all of them, in KITTI's files)."""
    vals = poses[list(kx.POSE_VALUES)]
    if vals.notna().all().all():
        recs = vals.astype({k: "int64" for k in kx.POSE_INTS}).to_dict("records")
    else:
        recs = [{k: v for k, v in r.items() if not pd.isna(v)} for r in vals.astype(object).to_dict("records")]
    for r, fin in zip(recs, finished.tolist(), strict=True):
        if fin is not None:
            r["finished"] = fin
    return [{"kitti_raw": r} for r in recs]


def _attributes(track_attrs: list[dict], poses: pd.DataFrame) -> list[dict | None]:
    out = []
    for t, pa in zip(poses["tracklet"].tolist(), poses["attributes"].tolist(), strict=True):
        merged = {k: kx.parse_value(v) for k, v in track_attrs[t].items()}
        if pa:
            merged.update({k: kx.parse_value(v) for k, v in pa.items()})
        out.append(merged or None)
    return out


def _annotations(parsed: kx.Parsed, poses: pd.DataFrame, item_frames: np.ndarray) -> pd.DataFrame:
    tr = parsed.tracklets
    t = poses["tracklet"].to_numpy()
    first = np.asarray([x["first_frame"] for x in tr], dtype=np.int64)
    size = np.asarray([[x["h"], x["w"], x["l"]] for x in tr], dtype=np.float64).reshape(-1, 3)
    finished = np.asarray([x["finished"] if x["finished"] not in (None, "1") else None for x in tr], dtype=object)
    pos = poses.groupby("tracklet").cumcount().to_numpy()
    frame = first[t] + pos if len(t) else np.zeros(0, np.int64)
    occlusion = poses["occlusion"].fillna(0).to_numpy(dtype=np.int64)
    occlusion_kf = poses["occlusion_kf"].fillna(0).to_numpy(dtype=np.int64)
    occluded = kx.occluded_of(occlusion, occlusion_kf, t)
    hidden = np.isin(poses["truncation"].fillna(0).to_numpy(dtype=np.int64), HIDDEN_TRUNCATION)
    same_prev = np.r_[False, t[1:] == t[:-1]]
    prev_hidden = np.r_[True, hidden[:-1]]
    last_of_track = np.r_[t[1:] != t[:-1], True] if len(t) else np.zeros(0, bool)
    starts_gap = hidden & same_prev & ~prev_hidden  # first hidden pose after a visible one
    keep = ~hidden | starts_gap
    # after a tracklet's last (visible) pose: an outside row on the next frame there is
    nxt = np.searchsorted(item_frames, frame, side="right")
    ends = last_of_track & ~hidden & (nxt < len(item_frames))
    pts = np.column_stack([poses[list(kx.POSITION)].to_numpy(np.float64), size[t]]) if len(t) else \
        np.zeros((0, 9))
    attrs = np.asarray(_attributes([x["attributes"] for x in tr], poses), dtype=object)
    extra = np.asarray(_pose_extra(poses, finished[t]) if len(t) else [], dtype=object)
    labels = np.asarray([x["label"] for x in tr], dtype=object)
    sel = np.r_[np.flatnonzero(keep), np.flatnonzero(ends)]
    out_frame = np.r_[frame[keep], item_frames[np.minimum(nxt[ends], max(len(item_frames) - 1, 0))]] \
        if len(item_frames) else frame[keep]
    outside = np.r_[hidden[keep], np.ones(int(ends.sum()), bool)]
    ann = pd.DataFrame({
        "item_id": np.searchsorted(item_frames, out_frame), "frame": out_frame,
        "label": labels[t[sel]] if len(sel) else np.zeros(0, object), "type": "cuboid_3d",
        "points": list(pts[sel].tolist()) if len(sel) else [],
        "occluded": occluded[sel] & ~outside, "outside": outside, "keyframe": True,
        "track_id": (t[sel] + 1).astype(np.int64), "attributes": attrs[sel] if len(sel) else [],
        "extra": extra[sel] if len(sel) else [], "_line": poses["line"].to_numpy()[sel] if len(sel) else [],
    })
    ann = ann.sort_values(["item_id", "track_id", "outside"], kind="stable").drop(columns="_line")
    ann["ann_id"] = np.arange(len(ann))
    return ann.reset_index(drop=True)


def read(source: Source, **options) -> Dataset:
    """Read a Kitti Raw export (folder or zip) or a bare ``tracklet_labels.xml``."""
    rel = find_document(source)
    where = source.display(rel)
    with source.open(rel) as f:
        parsed = kx.parse(f, where)
    poses = kx.numbers(parsed, where)
    root = posixpath.dirname(rel)
    root = f"{root}/" if root else ""
    names = {}
    if source.kind != "file" and source.exists(f"{root}{FRAME_LIST}"):
        names = parse_frame_list(source.read_text(f"{root}{FRAME_LIST}"), source.display(f"{root}{FRAME_LIST}"))
    first = np.asarray([x["first_frame"] for x in parsed.tracklets], dtype=np.int64)
    pose_frames = first[poses["tracklet"].to_numpy()] + poses.groupby("tracklet").cumcount().to_numpy() \
        if len(poses) else np.zeros(0, np.int64)
    frames = np.union1d(np.asarray(sorted(names), dtype=np.int64), pose_frames).astype(np.int64)
    items = _items(source, root, frames, names)
    ann = _annotations(parsed, poses, frames)
    labels = list(dict.fromkeys(x["label"] for x in parsed.tracklets if x["label"]))
    stop = int(frames[-1]) if len(frames) else pd.NA
    task = {"task_id": 0, "name": posixpath.splitext(source.name)[0] or "kitti_raw", "mode": "interpolation",
            "size": len(frames), "start_frame": 0, "stop_frame": stop}
    return Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": labels, "type": "any"}),
                   tasks=pd.DataFrame([task]))


register(FormatSpec(
    name="Kitti Raw Format 1.0", aliases=("kitti_raw", "kitti raw"), read=read, write=write, detect=detect,
    shapes=("cuboid_3d",), media=("point_cloud",), family="cvat",
    description="3D cuboid tracklets of a point-cloud sequence: tracklet_labels.xml, frame_list.txt, "
                "velodyne_points/data/*.pcd, image_XX/data/ related images",
))
