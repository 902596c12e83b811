"""Kitti Raw Format 1.0 writer: tracks and cuboids -> tracklets, items -> frame_list.txt (+ media).

Split from the reader because turning CVAT tracks into KITTI's one-size, every-frame tracklets
is most of the work: tracks are expanded to every visible frame (3D cuboids interpolated
between keyframes by the tracks module), cut where their label or size changes, and cut where they are
hidden: Datumaro (and so CVAT) reads a pose list with out-of-image poses in it shifted by one
frame per such pose, so by default every visible run is its own tracklet. ``hidden_poses=True``
writes KITTI's own way instead (one tracklet, hidden frames as out-of-image copies of the last
pose), which our reader and KITTI's devkit read correctly.
"""
from __future__ import annotations

import posixpath

import numpy as np
import pandas as pd

from ..core import tracks as _tracks
from ..core.dataset import Dataset
from ..core.io import Sink
from ..core.media_types import POINT_CLOUD_EXTS
from . import _kitti_raw_xml as kx
from ._media import copy_media, unique_file_names
from .registry import WriteContext
from .yolo_common import select_rows

RESERVED_ATTRS = ("occluded", "track_id")  # Datumaro's reader sets these itself
OUT_IMAGE = 2
HIDDEN = (2, 99)  # truncation values readers skip


def _item_table(ds: Dataset, ctx: WriteContext) -> pd.DataFrame:
    """Items in frame order with their KITTI frame (position) and name without extension."""
    items = ds.items.reset_index(drop=True)
    if items["frame"].notna().any():
        items = items.sort_values("frame", kind="stable").reset_index(drop=True)
    names, renamed = unique_file_names(items, rename_given=True)
    stems = [posixpath.splitext(n)[0] for n in names]
    seen: set[str] = set()
    for i, s in enumerate(stems):  # a.pcd and a.bin share the stem
        if s.lower() in seen:
            stems[i] = f"{s}__{items['item_id'].iloc[i]}"
            renamed.append(items["item_id"].iloc[i])
        seen.add(stems[i].lower())
    items = items.assign(_k=np.arange(len(items)), _stem=stems)
    report = ctx.report
    report.add("items", renamed, "Kitti Raw names frames by file name: a duplicate name got a suffix")
    fr = items["frame"]
    report.add_mask("items", items, (fr.notna() & (fr != items["_k"])).to_numpy(dtype=bool),
                    "Kitti Raw numbers frames 0, 1, … in order: the frame number is not kept", key="item_id")
    report.add_mask("items", items, (items["subset"] != "default").to_numpy(), "Kitti Raw has no subsets: the "
                    "subset is not kept", key="item_id")
    return items


def _rows(ds: Dataset, ctx: WriteContext, items: pd.DataFrame) -> pd.DataFrame:
    """The 3D cuboid rows KITTI can take; the others named in the report."""
    report = ctx.report
    a = select_rows(ds, ctx)
    for t, g in a[a["type"] != "cuboid_3d"].groupby("type", sort=True):
        report.add("annotations", g["ann_id"], f"Kitti Raw carries only 3D cuboids (cuboid_3d), not {t}")
    a = a[a["type"] == "cuboid_3d"]
    ok_pts = a["points"].map(lambda p: p is not None and len(p) == 9 and bool(np.isfinite(np.asarray(p, float)).all()))
    report.add_mask("annotations", a, ~ok_pts.to_numpy(dtype=bool), "a 3D cuboid needs 9 finite numbers in points "
                    "(position, rotation, scale): not written", key="ann_id")
    a = a[ok_pts.to_numpy(dtype=bool)]
    no_label = (a["label"].fillna("") == "").to_numpy()
    report.add_mask("annotations", a, no_label, "a tracklet needs a label (objectType): not written", key="ann_id")
    a = a[~no_label]
    orphan = ~a["item_id"].isin(items["item_id"]).to_numpy()
    report.add_mask("annotations", a, orphan, "the row's item does not exist: not written", key="ann_id")
    a = a[~orphan]
    report.add_mask("annotations", a, a["score"].notna().to_numpy(), "Kitti Raw scores are not written",
                    key="ann_id")
    report.add_mask("annotations", a, a["group"].notna().to_numpy(), "Kitti Raw has no groups: the group is not "
                    "kept", key="ann_id")
    bad_attr = a["attributes"].map(lambda d: isinstance(d, dict) and any(
        k in RESERVED_ATTRS or not isinstance(v, (str, int, float, bool, np.generic)) for k, v in d.items()))
    report.add_mask("annotations", a, bad_attr.to_numpy(dtype=bool), "attributes named occluded or track_id, or "
                    "whose value is not a scalar, are not written", key="ann_id")
    return a


def _per_frame(a: pd.DataFrame, items: pd.DataFrame, report) -> pd.DataFrame:
    """Track rows on every frame they are visible, plain rows as they are; each with its KITTI frame."""
    frame_of = pd.Series(items["frame"].to_numpy() if items["frame"].notna().all() and
                         not items["frame"].duplicated().any() else items["_k"].to_numpy(),
                         index=items["item_id"].to_numpy())
    a = a.assign(frame=frame_of.reindex(a["item_id"].to_numpy()).to_numpy())
    tracked = a["track_id"].notna().to_numpy()
    if tracked.any():
        per = _tracks.interpolate(a[tracked], start=int(frame_of.min()), step=1, stop=int(frame_of.max()),
                                  visible_only=True)
        per = per[per["track_id"].notna()].reset_index(drop=True)
        look = pd.Series(frame_of.index.to_numpy(), index=frame_of.to_numpy())
        per["item_id"] = look.reindex(per["frame"].to_numpy()).to_numpy()
        gen_tracks = per.loc[~per["keyframe"].to_numpy(dtype=bool), "track_id"].unique()
        report.add_mask("annotations", a, tracked & a["track_id"].isin(gen_tracks).to_numpy(),
                        "Kitti Raw has no keyframes: tracks are written on every frame (interpolated between "
                        "keyframes) and every pose reads back as a keyframe", key="ann_id")
        a = pd.concat([a[~tracked], per[per["item_id"].notna()]], ignore_index=True)
    k_of = pd.Series(items["_k"].to_numpy(), index=items["item_id"].to_numpy())
    return a.assign(_k=k_of.reindex(a["item_id"].to_numpy()).to_numpy(dtype=np.int64))


def _segments(a: pd.DataFrame, report, hidden_poses: bool) -> pd.DataFrame:
    """A tracklet number per row: a track cut where label or size changes (and where it is hidden,
    unless ``hidden_poses``), each plain row alone."""
    if not len(a):
        return a.assign(_seg=np.zeros(0, np.int64))
    tracked = a["track_id"].notna().to_numpy()
    a = a.assign(_t=np.where(tracked, a["track_id"].to_numpy(dtype="float64", na_value=np.nan), np.inf),
                 _o=np.arange(len(a)))
    a = a.sort_values(["_t", "_k", "_o"], kind="stable").reset_index(drop=True)
    pts = np.asarray(a["points"].tolist(), dtype=np.float64).reshape(-1, 9)
    t, k = a["_t"].to_numpy(), a["_k"].to_numpy()
    lab = a["label"].to_numpy(dtype=object)
    same_track = np.r_[False, (t[1:] == t[:-1]) & np.isfinite(t[1:])]
    dup = same_track & np.r_[False, k[1:] == k[:-1]]
    report.add_mask("annotations", a, dup & a["keyframe"].to_numpy(dtype=bool), "a track has one pose per frame: "
                    "a second row of the track on the same frame is not written", key="ann_id")
    a, pts, t, lab, same_track = a[~dup], pts[~dup], t[~dup], lab[~dup], same_track[~dup]
    same_track = np.r_[False, (t[1:] == t[:-1]) & np.isfinite(t[1:])] if len(t) else same_track
    changed = np.r_[False, (lab[1:] != lab[:-1]) | (pts[1:, 6:] != pts[:-1, 6:]).any(axis=1)] if len(t) else \
        np.zeros(0, bool)
    cut = same_track & changed
    k = a["_k"].to_numpy()
    gap = same_track & np.r_[False, k[1:] - k[:-1] > 1] if len(k) else np.zeros(0, bool)
    seg = np.cumsum(~same_track | cut | (gap & ~hidden_poses)) - 1
    a = a.assign(_seg=seg)
    if not hidden_poses:
        gap_tracks = a.loc[gap, "track_id"].unique()
        report.add_mask("annotations", a, (a["track_id"].isin(gap_tracks) & a["keyframe"]).to_numpy(dtype=bool),
                        "a track hidden for some frames is written as one tracklet per visible run (Datumaro and "
                        "CVAT misread KITTI's out-of-image poses; hidden_poses=True writes them): the runs come back "
                        "as separate tracks", key="ann_id")
    cut_tracks = a.loc[cut, "track_id"].unique()
    report.add_mask("annotations", a, (a["track_id"].isin(cut_tracks) & a["keyframe"]).to_numpy(dtype=bool),
                    "a tracklet has one label and one size: the track is written as several tracklets where they "
                    "change", key="ann_id")
    return a


def _pose_values(a: pd.DataFrame, occluded: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pose values: the ones read from KITTI where they still agree, else from the row."""
    ex = [e.get("kitti_raw", {}) if isinstance(e, dict) and isinstance(e.get("kitti_raw"), dict) else {}
          for e in a["extra"].tolist()]

    def col(key, default):
        v = pd.to_numeric(pd.Series([e.get(key) for e in ex], dtype=object), errors="coerce").to_numpy(np.float64)
        return np.where(np.isnan(v), default, v)

    kf = a["keyframe"].to_numpy(dtype=bool)
    out = {"state": col("state", np.nan), "occlusion": col("occlusion", np.nan),
           "occlusion_kf": col("occlusion_kf", 0), "truncation": col("truncation", 0)}
    out["state"] = np.where(np.isnan(out["state"]), np.where(kf, 2, 1), out["state"])
    out["truncation"] = np.where(np.isin(out["truncation"], (-1, 0, 1)), out["truncation"], 0)
    for k in kx.POSE_FLOATS:
        out[k] = col(k, -1.0)
    occ = out["occlusion"]
    agrees = np.isin(occ, (0, 1, 2, -1)) & ((np.isin(occ, (1, 2)) == occluded) | (occ == -1))
    occ = np.where(agrees, occ, np.where(occluded, 1, 0))
    seg = a["_seg"].to_numpy()
    for _ in range(len(occ) + 1):  # an unset occlusion repeats the last keyframe's: keep it only where it still does
        got = kx.occluded_of(occ, out["occlusion_kf"], seg)
        wrong = got != occluded
        if not wrong.any():
            break
        occ = np.where(wrong, np.where(occluded, 1, 0), occ)
    out["occlusion"] = occ
    return out


def _hidden_poses(hidden: pd.DataFrame) -> dict:
    """(track_id, KITTI frame) -> (position, KITTI values) of outside rows: what a hidden frame was."""
    if not len(hidden):
        return {}
    vals = _pose_values(hidden.assign(_seg=np.arange(len(hidden))), np.zeros(len(hidden), bool))
    pts = np.asarray(hidden["points"].tolist(), dtype=np.float64).reshape(-1, 9)
    trunc = [e["kitti_raw"].get("truncation") if isinstance(e, dict) and isinstance(e.get("kitti_raw"), dict)
             else None for e in hidden["extra"].tolist()]  # 2 or 99, which _pose_values keeps for visible poses only
    out = {}
    for i, (t, k) in enumerate(zip(hidden["track_id"].tolist(), hidden["_k"].tolist(), strict=True)):
        pose = dict(zip(kx.POSITION, pts[i, :6].tolist(), strict=True))
        pose.update({key: v[i].item() if key in kx.POSE_FLOATS else int(v[i]) for key, v in vals.items()})
        pose["truncation"] = trunc[i] if trunc[i] in HIDDEN else OUT_IMAGE
        out[(t, k)] = pose
    return out


def _tracklets(a: pd.DataFrame, hidden: dict) -> list[dict]:
    occluded = a["occluded"].to_numpy(dtype=bool)
    vals = _pose_values(a, occluded)
    pts = np.asarray(a["points"].tolist(), dtype=np.float64).reshape(-1, 9)
    ints = {k: vals[k].astype(np.int64).tolist() for k in kx.POSE_INTS}
    floats = {k: vals[k].tolist() for k in kx.POSE_FLOATS}
    attrs = [{k: v for k, v in d.items() if k not in RESERVED_ATTRS and
              isinstance(v, (str, int, float, bool, np.generic))} if isinstance(d, dict) else None
             for d in a["attributes"].tolist()]
    finished = [e.get("kitti_raw", {}).get("finished", 1) if isinstance(e, dict) else 1 for e in a["extra"].tolist()]
    seg, k, lab, tid = a["_seg"].tolist(), a["_k"].tolist(), a["label"].tolist(), a["track_id"].tolist()
    out: list[dict] = []
    cur = None
    for i in range(len(a)):
        if cur is None or seg[i] != cur["_seg"]:
            cur = {"_seg": seg[i], "label": lab[i], "h": pts[i, 6], "w": pts[i, 7], "l": pts[i, 8],
                   "first_frame": k[i], "finished": finished[i], "poses": [], "_next": k[i]}
            out.append(cur)
        pose = dict(zip(kx.POSITION, pts[i, :6].tolist(), strict=True))
        pose.update({key: v[i] for key, v in ints.items()})
        pose.update({key: v[i] for key, v in floats.items()})
        pose["attributes"] = attrs[i]
        prev = cur["poses"][-1] if cur["poses"] else None
        for hk in range(cur["_next"], k[i]):  # hidden frames inside the tracklet: as read, else the last pose
            prev = dict(prev, occlusion=-1, truncation=OUT_IMAGE, attributes=None)
            prev.update(hidden.get((tid[i], hk), {}))
            if prev["truncation"] not in HIDDEN:
                prev["truncation"] = OUT_IMAGE
            cur["poses"].append(prev)
        cur["poses"].append(pose)
        cur["_next"] = k[i] + 1
    return out


def _copy_media(ds: Dataset, sink: Sink, items: pd.DataFrame, report) -> None:
    ext = items["media"].map(lambda m: posixpath.splitext(str(m).split("::")[0].split("?")[0])[1].lower()
                             if isinstance(m, str) else "")
    cloud = ext.isin(POINT_CLOUD_EXTS).to_numpy() & (items["kind"] == "point_cloud").to_numpy()
    report.add_mask("items", items, ~cloud & items["media"].notna().to_numpy(), "the media is not a point cloud "
                    "(.pcd/.bin): not saved", key="item_id")
    report.add_mask("items", items, cloud & (ext != ".pcd").to_numpy(), "Datumaro and CVAT look for .pcd point "
                    "clouds: saved with its own extension", key="item_id")
    c = items[cloud]
    copy_media(ds, sink, zip(c["item_id"], c["media"], [f"velodyne_points/data/{s}{e}" for s, e in
                                                        zip(c["_stem"], ext[cloud], strict=True)], strict=True),
               report)
    missing = []
    for item_id, stem, extra in zip(items["item_id"], items["_stem"], items["extra"], strict=True):
        related = extra.get("related_images") if isinstance(extra, dict) else None
        for j, media in enumerate(related or []):
            url = ds.media_url(media)
            e = posixpath.splitext(str(media).split("::")[0].split("?")[0])[1] or ".jpg"
            try:
                sink.copy(f"image_{j:02d}/data/{stem}{e}", url)
            except (FileNotFoundError, OSError, TypeError):
                missing.append(item_id)
    report.add("items", sorted(set(missing)), "related image not found, not saved")


def write(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items = _item_table(ds, ctx)
    a = _rows(ds, ctx, items)
    k_of = pd.Series(items["_k"].to_numpy(), index=items["item_id"].to_numpy())
    out_rows = a[a["track_id"].notna().to_numpy() & a["outside"].to_numpy(dtype=bool)]
    hidden = _hidden_poses(out_rows.assign(_k=k_of.reindex(out_rows["item_id"].to_numpy()).to_numpy()))
    a = _per_frame(a, items, report) if len(a) else a.assign(_k=np.zeros(0, np.int64))
    a = _segments(a, report, bool(ctx.options.get("hidden_poses", False)))
    sink.write_text("tracklet_labels.xml", kx.serialize(_tracklets(a, hidden)))
    sink.write_text("frame_list.txt", "".join(f"{k} {s}\n" for k, s in zip(items["_k"], items["_stem"], strict=True)))
    if ctx.save_images:
        _copy_media(ds, sink, items, report)
