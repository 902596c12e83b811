"""CVAT track semantics: keyframes -> one row per frame, and back.

A track is the annotation rows sharing a ``track_id``; the rows with ``keyframe=True`` are
what the annotator set. CVAT's exporter (``TrackManager.get_interpolated_shapes``) writes
one shape per frame from the first keyframe on, and this module reproduces it so that our
"CVAT for video" output equals CVAT's:

* between a visible keyframe and the next one, boxes, ellipses, cuboids, single points and
  skeleton points move linearly (rotation along the shortest arc, with CVAT's quirk at
  exactly 180 degrees), 3D cuboids too (each angle along its shortest arc, in radians), several points are copied from the previous keyframe, and polygons /
  polylines are matched along their length, blended, then thinned as CVAT does;
* an ``outside`` keyframe ends the visible span until the next keyframe;
* a last keyframe that is not outside is repeated to the end of the task;
* attributes missing from a keyframe carry over from the previous one.

Frames are absolute; interpolation steps over the task's frames (``start + k*step``).
Skeleton points are rows with ``parent_id`` pointing at the skeleton row of the same frame.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .geometry import points_bbox

LINEAR_BOX = ("bbox", "ellipse")


# -- the inverse used on import ----------------------------------------------------------------
def keyframes_only(ann: pd.DataFrame) -> pd.DataFrame:
    """Rows CVAT keeps on import: untracked rows and track keyframes (and their points).

    A track without any keyframe row (e.g. from a format with track ids but no keyframes)
    keeps all its rows: each is then a keyframe.
    """
    tracked = ann["track_id"].notna() & ann["parent_id"].isna()
    has_kf = ann.loc[tracked & ann["keyframe"], "track_id"].unique()
    top_keep = ~tracked | ann["keyframe"] | ~ann["track_id"].isin(has_kf)
    keep_ids = set(ann.loc[top_keep & ann["parent_id"].isna(), "ann_id"].tolist())
    child = ann["parent_id"].notna()
    keep = (top_keep & ~child) | (child & ann["parent_id"].isin(keep_ids))
    out = ann[keep].copy()
    all_kf = tracked & ~ann["track_id"].isin(has_kf)
    out.loc[all_kf[keep].to_numpy(), "keyframe"] = True
    return out.reset_index(drop=True)


# -- rotation as CVAT does it ------------------------------------------------------------------
def angle_diff(right, left):
    """CVAT's ``find_angle_diff``: the shortest signed arc, but +1 when it is exactly -180."""
    d = np.mod(np.asarray(right, dtype=np.float64) - left + 180.0, 360.0) - 180.0
    return np.where(np.abs(d) >= 180.0, 1.0, d)


# -- polygon / polyline blending ---------------------------------------------------------------
def _seg_lengths(p: np.ndarray) -> np.ndarray:
    d = np.diff(p, axis=0)
    return np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)


def _length(p: np.ndarray) -> float:
    s = _seg_lengths(p)
    return float(np.cumsum(s)[-1]) if s.size else 0.0


def _offsets(p: np.ndarray) -> np.ndarray:
    acc = np.cumsum(_seg_lengths(p))
    total = acc[-1] if acc.size else 0.0
    if total == 0:
        return np.zeros(len(p))
    return np.concatenate(([0.0], acc / total))


def blend_curves(left, right, offset: float, closed: bool = False) -> list[float]:
    """Blend two polylines at ``offset`` (0..1) the way CVAT does.

    Each vertex of one curve is matched to the vertex of the other nearest in relative arc
    length (every vertex of both curves gets a partner), the matched pairs are blended
    linearly, and runs of blended points closer than half the mean spacing of their source
    segment are thinned. ``closed`` treats the curves as polygons (first point repeated).
    """
    a = np.asarray(left, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(right, dtype=np.float64).reshape(-1, 2)
    if closed:
        a = np.vstack([a, a[:1]])
        b = np.vstack([b, b[:1]])
    la, lb = _offsets(a), _offsets(b)
    near = np.abs(la[:, None] - lb[None, :]).argmin(axis=1)
    match = [[int(j)] for j in near]
    unmatched = np.setdiff1d(np.arange(len(b)), near)
    if unmatched.size:
        back = np.abs(lb[unmatched][:, None] - la[None, :]).argmin(axis=1)
        for j, i in zip(unmatched.tolist(), back.tolist(), strict=True):
            match[i].append(j)
        match = [sorted(m) for m in match]
    src = np.repeat(np.arange(len(a)), [len(m) for m in match])
    dst = np.fromiter((j for m in match for j in m), dtype=np.int64, count=src.size)
    pts = a[src] + (b[dst] - a[src]) * offset
    first = np.concatenate(([0], np.cumsum([len(m) for m in match])[:-1]))
    last = first + np.array([len(m) for m in match]) - 1

    def dist(i, j):
        return float(np.sqrt((pts[i, 0] - pts[j, 0]) ** 2 + (pts[i, 1] - pts[j, 1]) ** 2))

    def thin(base, n, s, t):
        thr = base / (2 * n)
        kept, prev = [pts[s]], s
        for k in range(s + 1, t):
            if dist(prev, k) >= thr:
                kept.append(pts[k])
                prev = k
        kept.append(pts[t])
        if len(kept) == 2 and dist(s, t) < thr:
            return [(kept[0] + kept[1]) / 2]
        return kept

    out: list = []

    def left_run(s, t):
        si, ti = first[s], first[t]
        if si == ti:
            out.append(pts[si])
        else:
            out.extend(thin(_length(a[s:t + 1]), t - s + 1, si, ti))

    opened = None
    for i, m in enumerate(match):
        if len(m) == 1:
            if opened is None:
                opened = i
            elif m[0] != match[opened][0]:
                left_run(opened, i - 1)
                opened = i
        else:
            if opened is not None:
                left_run(opened, i - 1)
                opened = None
            out.extend(thin(_length(b[m[0]:m[-1] + 1]), m[-1] - m[0] + 1, first[i], last[i]))
    if opened is not None:
        left_run(opened, len(a) - 1)
    flat = np.asarray(out, dtype=np.float64).reshape(-1).tolist()
    return flat[:-2] if closed else flat


# -- keyframes -> per-frame rows --------------------------------------------------------------
def _per_track(value, tids: np.ndarray, default) -> np.ndarray:
    if value is None:
        return np.full(len(tids), default)
    if isinstance(value, (dict, pd.Series)):
        s = pd.Series(value) if isinstance(value, dict) else value
        return pd.Series(tids).map(s).fillna(default).to_numpy()
    return np.full(len(tids), value)


def _expand(kf: pd.DataFrame, start, step, stop, include_outside: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Top-level rows of tracks (sorted by track, frame) -> generated in-between/tail rows."""
    n = len(kf)
    tid = kf["track_id"].to_numpy(dtype=np.int64)
    st = _per_track(start, tid, 0).astype(np.int64)
    sp = np.maximum(_per_track(step, tid, 1).astype(np.int64), 1)
    frame = kf["frame"].to_numpy(dtype=np.int64)
    r = (frame - st) // sp
    r_end = (_per_track(stop, tid, np.iinfo(np.int64).max // 4).astype(np.int64) - st) // sp
    same_next = np.zeros(n, dtype=bool)
    same_next[:-1] = tid[1:] == tid[:-1]
    nxt = np.minimum(np.arange(n) + 1, n - 1)
    active = np.ones(n, dtype=bool) if include_outside else ~kf["outside"].to_numpy(dtype=bool)
    gap = np.where(same_next, r[nxt] - r - 1, r_end - r)
    gap = np.where(active, np.minimum(gap, r_end - r), 0)
    gap = np.maximum(gap, 0)
    src = np.repeat(np.arange(n), gap)
    starts = np.repeat(np.cumsum(gap) - gap, gap)
    k = np.arange(src.size) - starts + 1
    interp = same_next[src]
    dist = np.where(interp, (r[nxt] - r)[src], 1)
    off = np.where(interp, k / dist, 0.0)
    gen = kf.iloc[src].reset_index(drop=True)
    gen["frame"] = st[src] + (r[src] + k) * sp[src]
    gen["keyframe"] = False
    return gen, np.column_stack([src, nxt[src], off, interp])


def _blend_geometry(kf: pd.DataFrame, gen: pd.DataFrame, link: np.ndarray) -> None:
    """Fill ``gen``'s geometry from its keyframe pair (in place)."""
    if not len(gen):
        return
    src, nxt = link[:, 0].astype(np.int64), link[:, 1].astype(np.int64)
    off, interp = link[:, 2], link[:, 3].astype(bool)
    types = gen["type"].to_numpy()
    x, y = kf["x"].to_numpy(float), kf["y"].to_numpy(float)
    w, h = kf["w"].to_numpy(float), kf["h"].to_numpy(float)
    rot = kf["rotation"].to_numpy(float)
    lin = interp & np.isin(types, LINEAR_BOX)
    if lin.any():
        s, t, o = src[lin], nxt[lin], off[lin]
        x0, y0, x1, y1 = x[s], y[s], x[s] + w[s], y[s] + h[s]
        u0, v0, u1, v1 = x[t], y[t], x[t] + w[t], y[t] + h[t]
        nx0, ny0 = x0 + (u0 - x0) * o, y0 + (v0 - y0) * o
        nx1, ny1 = x1 + (u1 - x1) * o, y1 + (v1 - y1) * o
        gen.loc[lin, "x"], gen.loc[lin, "y"] = nx0, ny0
        gen.loc[lin, "w"], gen.loc[lin, "h"] = nx1 - nx0, ny1 - ny0
    rlin = interp & np.isin(types, LINEAR_BOX + ("cuboid", "points", "skeleton"))
    if rlin.any():
        s, t, o = src[rlin], nxt[rlin], off[rlin]
        gen.loc[rlin, "rotation"] = np.mod(rot[s] + angle_diff(rot[t], rot[s]) * o + 360.0, 360.0)
    pts = kf["points"].to_numpy()
    _blend_cuboids_3d(pts, gen, src, nxt, off, interp & (types == "cuboid_3d"))
    poly = interp & np.isin(types, ("cuboid", "points", "polygon", "polyline"))
    if poly.any():
        new_pts = gen["points"].to_numpy().copy()
        for i in np.flatnonzero(poly):
            p0, p1 = pts[src[i]], pts[nxt[i]]
            if p0 is None or p1 is None or not len(p0) or not len(p1):
                continue
            kind = types[i]
            if kind == "cuboid" or (kind == "points" and len(p0) == 2 and len(p1) == 2):
                a = np.asarray(p0, dtype=np.float64)
                new_pts[i] = (a + (np.asarray(p1, dtype=np.float64) - a) * off[i]).tolist()
            elif kind in ("polygon", "polyline"):
                new_pts[i] = blend_curves(p0, p1, off[i], closed=kind == "polygon")
        gen["points"] = new_pts
        bx, by, bw, bh = points_bbox(new_pts[poly])
        gen.loc[poly, "x"], gen.loc[poly, "y"], gen.loc[poly, "w"], gen.loc[poly, "h"] = bx, by, bw, bh


def _blend_cuboids_3d(pts: np.ndarray, gen: pd.DataFrame, src, nxt, off, rows: np.ndarray) -> None:
    """3D cuboids between keyframes: position and scale linear, each rotation angle along the
    shortest arc (radians), all rows at once (in place)."""
    rows = np.flatnonzero(rows)
    if not len(rows):
        return
    whole = np.array([p is not None and len(p) == 9 for p in pts], dtype=bool)
    rows = rows[whole[src[rows]] & whole[nxt[rows]]]
    if not len(rows):
        return
    p0 = np.array(pts[src[rows]].tolist(), dtype=np.float64)
    p1 = np.array(pts[nxt[rows]].tolist(), dtype=np.float64)
    o = off[rows][:, None]
    out = p0 + (p1 - p0) * o
    turn = np.mod(p1[:, 3:6] - p0[:, 3:6] + np.pi, 2 * np.pi) - np.pi
    out[:, 3:6] = p0[:, 3:6] + turn * o
    col = gen["points"].to_numpy().copy()
    col[rows] = out.tolist()
    gen["points"] = col


def _carry_attributes(kf: pd.DataFrame) -> None:
    """Attributes a keyframe lacks are taken from the previous keyframe of its track."""
    attrs = kf["attributes"].tolist()
    tid = kf["track_id"].tolist()
    prev_t, prev_a = None, None
    for i, (t, a) in enumerate(zip(tid, attrs, strict=True)):
        if t == prev_t and prev_a:
            merged = dict(a or {})
            for key, val in prev_a.items():
                merged.setdefault(key, val)
            attrs[i] = merged
        prev_t, prev_a = t, attrs[i]
    kf["attributes"] = attrs


def interpolate(ann: pd.DataFrame, start=0, step=1, stop=None, visible_only: bool = False) -> pd.DataFrame:
    """Per-frame rows of the tracks in ``ann`` (rows with ``track_id``), as CVAT exports them.

    ``start``/``step``/``stop`` (absolute first frame, frame step, last frame inclusive)
    are scalars or mappings ``track_id -> value`` (tasks differ in a project). Keyframes
    keep their ids; generated rows get new ``ann_id`` values after the largest one, and
    ``keyframe=False``. ``visible_only`` drops outside rows (and skeletons whose points are
    all outside), as "CVAT for images" does. Rows without a track are returned unchanged.
    """
    ann = keyframes_only(ann)
    is_top = ann["track_id"].notna() & ann["parent_id"].isna()
    is_kid = ann["parent_id"].isin(ann.loc[is_top, "ann_id"])
    loose = ann[~is_top & ~is_kid]
    top = ann[is_top].sort_values(["track_id", "frame"], kind="stable")
    top = top.reset_index(drop=True)
    if stop is not None:
        too_late = _per_track(stop, top["track_id"].to_numpy(dtype=np.int64), np.inf) < top["frame"].to_numpy()
        top = top[~too_late].reset_index(drop=True)
    _carry_attributes(top)
    gen, link = _expand(top, start, step, stop, include_outside=False)
    _blend_geometry(top, gen, link)
    next_id = int(ann["ann_id"].max()) + 1 if len(ann) and ann["ann_id"].notna().any() else 0
    gen["ann_id"] = np.arange(next_id, next_id + len(gen))
    next_id += len(gen)
    parents = pd.concat([top, gen], ignore_index=True).sort_values(["track_id", "frame"], kind="stable")
    parts = [parents]
    kids = ann[ann["parent_id"].isin(top["ann_id"])]
    if len(kids):
        kids = _expand_children(kids, top, parents, start, step, stop, next_id)
        parts.append(kids)
    out = pd.concat(parts, ignore_index=True)
    if visible_only:
        out = _visible(out)
    out = pd.concat([loose, out], ignore_index=True)
    return out.reset_index(drop=True)


def _expand_children(kids, top, parents, start, step, stop, next_id) -> pd.DataFrame:
    """Skeleton points as sub-tracks (track, label), linked to the skeleton row per frame."""
    pinfo = top.set_index("ann_id")[["track_id", "frame"]]
    kids = kids.copy()
    kids["track_id"] = pinfo.loc[kids["parent_id"], "track_id"].to_numpy()
    kids["frame"] = pinfo.loc[kids["parent_id"], "frame"].to_numpy()
    codes = kids.groupby(["track_id", "label"], sort=False, dropna=False).ngroup().to_numpy()
    kids["_sub"] = codes
    kids["_tid"] = kids["track_id"]
    kids = kids.sort_values(["_sub", "frame"], kind="stable").reset_index(drop=True)
    sub = kids.copy()
    sub["track_id"] = sub["_sub"]
    m = dict(zip(sub["_sub"], sub["_tid"], strict=True))
    per = {}
    for name, val in (("start", start), ("step", step), ("stop", stop)):
        if isinstance(val, (dict, pd.Series)):
            per[name] = {s: pd.Series(val).get(t) for s, t in m.items()}
        else:
            per[name] = val
    _carry_attributes(sub)
    gen, link = _expand(sub, per["start"], per["step"], per["stop"], include_outside=True)
    _blend_geometry(sub, gen, link)
    gen["ann_id"] = np.arange(next_id, next_id + len(gen))
    allk = pd.concat([sub, gen], ignore_index=True)
    allk["track_id"] = allk["_tid"]
    key = parents.set_index(["track_id", "frame"])["ann_id"]
    idx = pd.MultiIndex.from_arrays([allk["track_id"].astype("int64"), allk["frame"].astype("int64")])
    pid = key.reindex(idx).to_numpy()
    allk["parent_id"] = pid
    allk = allk[pd.notna(pid)].drop(columns=["_sub", "_tid"])
    return allk.sort_values(["track_id", "frame"], kind="stable")


def _visible(rows: pd.DataFrame) -> pd.DataFrame:
    top = rows["parent_id"].isna()
    keep = ~(top & rows["outside"])
    kids = rows[~top]
    if len(kids):
        all_out = kids.groupby("parent_id")["outside"].all()
        hidden = set(all_out[all_out].index.tolist())
        keep &= ~(top & rows["ann_id"].isin(hidden))
        keep &= top | rows["parent_id"].isin(rows.loc[keep & top, "ann_id"])
    return rows[keep]
