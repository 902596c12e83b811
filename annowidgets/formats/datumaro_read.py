"""The annotations of one Datumaro file -> annotation rows, a column at a time.

The parsed JSON is a list of dicts; each column is one comprehension over it, boxes and
ellipses become one numpy array, and only the rarer kinds (polygons, masks, skeletons,
captions, 2D cuboids) take a step per annotation. Skeleton elements are read as a second batch
of ``points`` rows and sorted in right after their skeleton.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import geometry
from ..core.errors import FormatError
from ..core.masks import rle_bbox
from . import coco_rle

SPECIAL = frozenset({"occluded", "rotation", "track_id", "keyframe", "outside"})
KNOWN = frozenset({"id", "type", "attributes", "group", "label_id", "z_order", "bbox", "points", "rle",
                   "visibility", "elements", "caption", "position", "rotation", "scale"})
OUR_TYPE = {"label": "tag", "bbox": "bbox", "polygon": "polygon", "polyline": "polyline", "points": "points",
            "ellipse": "ellipse", "mask": "mask", "skeleton": "skeleton", "caption": "text", "cuboid_2d": "cuboid",
            "cuboid_3d": "cuboid_3d"}
CUBOID_3D = ("position", "rotation", "scale")  # 3 numbers each: our 9-number ``points``


def _fail(where: str, ann, message: str, element: str = "annotations"):
    aid = ann.get("id") if type(ann) is dict else None
    raise FormatError(where, f"annotation id {aid!r}: {message}"[:400], element=element)


def _flags(attrs: list, has: list, key: str, n: int) -> np.ndarray:
    return np.fromiter((bool(at.get(key, False)) if h else False for at, h in zip(attrs, has, strict=True)),
                       dtype=bool, count=n)


def _label_names(anns: list, names: list[str], where: str) -> np.ndarray:
    lid = [a.get("label_id") for a in anns]
    ok = all(v is None or type(v) is int for v in lid)
    arr = np.array([-1 if v is None else v for v in lid], dtype=np.int64) if ok else None
    if arr is None or (arr < -1).any() or (arr >= len(names)).any() or \
            ((arr == -1) & np.array([v is not None for v in lid], dtype=bool)).any():
        for a, v in zip(anns, lid, strict=True):
            if v is not None and (type(v) is not int or not 0 <= v < len(names)):
                _fail(where, a, f"label_id {v!r} is not an index into categories.label.labels "
                                f"({len(names)} labels)")
    out = np.full(len(anns), "", dtype=object)
    has = arr >= 0
    out[has] = np.asarray(names, dtype=object)[arr[has]] if len(names) else ""
    return out


def _quads(anns: list, idx: np.ndarray, key: str, where: str) -> np.ndarray:
    vals = [anns[i].get(key) for i in idx]
    try:
        arr = np.asarray(vals, dtype=np.float64)
        if arr.shape == (len(idx), 4) and all(type(v) is list for v in vals):
            return arr
    except (TypeError, ValueError):
        pass
    for i, v in zip(idx, vals, strict=True):
        if not (type(v) is list and len(v) == 4 and all(type(p) in (int, float) for p in v)):
            _fail(where, anns[i], f"'{key}' must be 4 numbers, got {v!r}")
    _fail(where, anns[idx[0]], f"'{key}' values must be numbers")


def _flat(ann: dict, n: int | None, where: str) -> list[float]:
    v = ann.get("points")
    if type(v) is list and n == 16 and all(type(p) is list for p in v):  # cuboid_2d: [[x, y], …]
        v = [c for p in v for c in p]
    if not (type(v) is list and all(type(p) in (int, float) for p in v) and (len(v) == n if n else len(v) % 2 == 0)):
        _fail(where, ann, f"'points' must be {f'{n} numbers' if n else 'a flat list of x, y numbers'}, got {v!r}")
    return [float(p) for p in v]


def _cuboids_3d(anns: list, idx: np.ndarray, where: str) -> list[list[float]]:
    """``[px, py, pz, rx, ry, rz, sx, sy, sz]`` of each ``cuboid_3d`` in ``idx``, one array for all."""
    vals = [[anns[i].get(k) for k in CUBOID_3D] for i in idx]
    try:
        arr = np.asarray(vals, dtype=np.float64)
        if arr.shape == (len(idx), 3, 3) and all(type(v) is list for row in vals for v in row):
            return arr.reshape(len(idx), 9).tolist()
    except (TypeError, ValueError):
        pass
    for i, row in zip(idx, vals, strict=True):
        for key, v in zip(CUBOID_3D, row, strict=True):
            if not (type(v) is list and len(v) == 3 and all(type(p) in (int, float) for p in v)):
                _fail(where, anns[i], f"cuboid_3d '{key}' must be 3 numbers, got {v!r}", element=key)
    _fail(where, anns[idx[0]], "cuboid_3d position, rotation and scale must be numbers")


def _ints(vals: list, default: int) -> np.ndarray:
    if all(type(v) is int for v in vals):
        return np.asarray(vals, dtype=np.int64).reshape(len(vals))
    return np.array([v if type(v) is int else default for v in vals], dtype=np.int64)


def rows(anns: list, item_rows: np.ndarray, names: list[str], where: str, skipped: list,
         visibility: np.ndarray | None = None) -> pd.DataFrame:
    """Annotation rows of ``anns`` (item row of each in ``item_rows``), with ``_pos`` (place in
    ``anns``) and, for skeletons, their elements as rows with ``_parent`` = the skeleton's ``_pos``."""
    n = len(anns)
    for a in anns:
        if type(a) is not dict or "type" not in a:
            raise FormatError(where, f"annotation {str(a)[:80]} is not an object with a 'type'", element="annotations")
    kinds = np.array([a["type"] for a in anns] if visibility is None else ["points"] * n, dtype=object)
    known = np.array([k in OUR_TYPE for k in kinds], dtype=bool) if n else np.zeros(0, bool)
    for i in np.flatnonzero(~known):
        skipped.append((kinds[i], anns[i].get("id")))
    label = _label_names(anns, names, where)
    attrs = [a.get("attributes") for a in anns]
    has = [type(at) is dict and bool(at) for at in attrs]
    user = [({k: v for k, v in at.items() if k not in SPECIAL} or None) if h else None
            for at, h in zip(attrs, has, strict=True)]
    rot_raw = [at.get("rotation", 0.0) if h else 0.0 for at, h in zip(attrs, has, strict=True)]
    try:
        rotation = np.asarray(rot_raw, dtype=np.float64).reshape(n)
    except (TypeError, ValueError):
        rotation = np.zeros(n)
        for i, r in enumerate(rot_raw):
            try:
                rotation[i] = float(r)
            except (TypeError, ValueError):
                user[i] = {**(user[i] or {}), "rotation": r}
    track = [at.get("track_id") if h else None for at, h in zip(attrs, has, strict=True)]
    if not all(t is None or type(t) is int for t in track):
        for i, t in enumerate(track):
            if t is not None and type(t) is not int:
                user[i] = {**(user[i] or {}), "track_id": t}
                track[i] = None
    occluded, outside = _flags(attrs, has, "occluded", n), _flags(attrs, has, "outside", n)
    if visibility is not None:
        outside |= visibility == 0
        occluded |= visibility == 1
    group = _ints([a.get("group", 0) for a in anns], 0)
    x, y, w, h = (np.full(n, np.nan) for _ in range(4))
    points: list = [None] * n
    masks: list = [None] * n
    text: list = [pd.NA] * n
    for kind in ("bbox", "ellipse"):
        idx = np.flatnonzero(kinds == kind)
        if len(idx):
            q = _quads(anns, idx, "bbox" if kind == "bbox" else "points", where)
            x[idx], y[idx] = q[:, 0], q[:, 1]
            w[idx], h[idx] = (q[:, 2], q[:, 3]) if kind == "bbox" else (q[:, 2] - q[:, 0], q[:, 3] - q[:, 1])
    idx = np.flatnonzero(np.isin(kinds, ["polygon", "polyline", "points", "cuboid_2d"]))
    if len(idx):
        pts = [_flat(anns[i], 16 if kinds[i] == "cuboid_2d" else (2 if visibility is not None else None), where)
               for i in idx]
        for i, p in zip(idx, pts, strict=True):
            points[i] = p
        x[idx], y[idx], w[idx], h[idx] = geometry.points_bbox(pts)
    idx = np.flatnonzero(kinds == "cuboid_3d")
    for i, p in zip(idx, _cuboids_3d(anns, idx, where) if len(idx) else [], strict=True):
        points[i] = p
    for i in np.flatnonzero(kinds == "mask"):
        try:
            masks[i] = coco_rle.normalize_rle(anns[i].get("rle"))
        except coco_rle.RLEError as exc:
            _fail(where, anns[i], str(exc), element="rle")
    idx = np.flatnonzero(kinds == "mask")
    if len(idx):
        b = rle_bbox([masks[i] for i in idx])
        x[idx], y[idx], w[idx], h[idx] = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    for i in np.flatnonzero(kinds == "caption"):
        text[i] = str(anns[i].get("caption", ""))
    ids = [a.get("id") for a in anns]
    df = pd.DataFrame({
        "_pos": np.arange(n), "_parent": -1, "item_id": item_rows, "label": label,
        "type": pd.Series(kinds).map(OUR_TYPE).to_numpy(dtype=object),
        "region_id": pd.array([None if v is None else str(v) for v in ids], dtype="str"),
        "group": pd.array(np.where(group != 0, group, 0), dtype="Int64"),
        "z_order": _ints([a.get("z_order", 0) for a in anns], 0),
        "x": x, "y": y, "w": w, "h": h, "rotation": rotation,
        "points": pd.Series(points, dtype=object), "mask": pd.Series(masks, dtype=object),
        "text": pd.array(text, dtype="str"), "occluded": occluded, "outside": outside,
        "keyframe": _flags(attrs, has, "keyframe", n), "track_id": pd.array(track, dtype="Int64"),
        "attributes": pd.Series(user, dtype=object),
        "extra": pd.Series([None if a.keys() <= KNOWN else {k: v for k, v in a.items() if k not in KNOWN}
                            for a in anns], dtype=object)})
    df.loc[group == 0, "group"] = pd.NA
    if visibility is None:  # per-point visibility of a points shape has no column: kept in extra when it says more
        for i in np.flatnonzero(kinds == "points"):
            v = anns[i].get("visibility")
            if type(v) is list and any(x != 2 for x in v):
                df.at[i, "extra"] = {**(df.at[i, "extra"] or {}), "visibility": v}
    df = df[known]
    sk = np.flatnonzero((kinds == "skeleton") & known)
    if visibility is None and len(sk):
        els, par = [], []
        for i in sk:
            e = anns[i].get("elements") or []
            if type(e) is not list:
                _fail(where, anns[i], "'elements' must be a list", element="elements")
            els += e
            par += [i] * len(e)
        if els:
            for e in els:
                if type(e) is not dict:
                    _fail(where, {}, f"skeleton element {str(e)[:60]} is not an object", element="elements")
            vis = np.array([v[0] if type(v := e.get("visibility")) is list and v and type(v[0]) is int else 2
                            for e in els], dtype=np.int64)
            for e in els:
                e.setdefault("type", "points")
            par = np.asarray(par, dtype=np.int64)
            kids = rows(els, item_rows[par], names, where, skipped, visibility=vis)
            kids["_parent"] = par[kids["_pos"].to_numpy()]
            kids["w"], kids["h"] = 0.0, 0.0
            df = _with_children(df, kids)
    return df


def _with_children(top: pd.DataFrame, kids: pd.DataFrame) -> pd.DataFrame:
    """Children after their parent; each skeleton's box is the box of its visible points."""
    vis = kids[~kids["outside"].to_numpy()]
    if len(vis):
        g = pd.DataFrame({"p": vis["_parent"].to_numpy(), "x": vis["x"].to_numpy(), "y": vis["y"].to_numpy()}
                         ).groupby("p")
        lo, hi = g.min(), g.max()
        where = top["_pos"].isin(lo.index).to_numpy()
        p = top.loc[where, "_pos"].to_numpy()
        top.loc[where, "x"], top.loc[where, "y"] = lo.loc[p, "x"].to_numpy(), lo.loc[p, "y"].to_numpy()
        top.loc[where, "w"] = hi.loc[p, "x"].to_numpy() - lo.loc[p, "x"].to_numpy()
        top.loc[where, "h"] = hi.loc[p, "y"].to_numpy() - lo.loc[p, "y"].to_numpy()
    k0 = np.concatenate([top["_pos"].to_numpy(), kids["_parent"].to_numpy()])
    k1 = np.concatenate([np.full(len(top), -1), kids["_pos"].to_numpy()])
    both = pd.concat([top, kids], ignore_index=True)
    return both.iloc[np.lexsort((k1, k0))].reset_index(drop=True)
