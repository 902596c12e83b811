"""YOLO line kinds (box, oriented box, polygon, pose) between normalised text and pixel columns.

Encoders take annotation rows plus each row's image width/height and class index and return
text lines; decoders take parsed :class:`~.yolo_common.Lines` and return annotation
columns. Both work on whole columns. Rotation is handled in pixel space: oriented-box
corners come from :func:`geometry.box_corners` in pixels and only then are normalised.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core import geometry
from ._carry import report_attributes
from .yolo_common import Lines, export_sizes, format_ragged, format_rows, select_rows


@dataclass
class Rows:
    """Annotation rows ready to encode: each with its item position, image size and class."""

    a: pd.DataFrame
    pos: np.ndarray
    W: np.ndarray
    H: np.ndarray
    cls: np.ndarray

    def take(self, mask) -> Rows:
        mask = np.asarray(mask, dtype=bool)
        return Rows(self.a[mask], self.pos[mask], self.W[mask], self.H[mask], self.cls[mask])

    def at(self, idx) -> Rows:
        """Rows by position (may repeat: a mask of several parts gives several lines)."""
        idx = np.asarray(idx, dtype=np.int64)
        return Rows(self.a.iloc[idx], self.pos[idx], self.W[idx], self.H[idx], self.cls[idx])


def prepare(ds, ctx, classes: list[str], types: tuple[str, ...],
            children: bool = False) -> tuple[Rows, np.ndarray, np.ndarray]:
    """Rows of ``types`` to write (others reported), with sizes and class ids; plus item W, H.

    Rows of other types linked to a parent (``parent_id``: skeleton points, Label Studio
    keypoints on a box) go into their parent's line when ``children`` is true (pose lines),
    so they are reported only if their parent is not written; otherwise they are reported.
    """
    a = select_rows(ds, ctx)
    items = ds.items
    wrong = ~a["type"].isin(types).to_numpy()
    linked = wrong & a["parent_id"].notna().to_numpy()
    ctx.report.add_mask("annotations", a, wrong & ~linked, f"{ctx.format} carries only {', '.join(types)}",
                        key="ann_id")
    kids = a[linked]
    a = a[~wrong]
    report_attributes(ctx.report, a, ctx.format)
    pos = pd.Index(items["item_id"]).get_indexer(a["item_id"])
    need = np.zeros(len(items), dtype=bool)
    need[pos[pos >= 0]] = True
    W, H = export_sizes(ds, items, need)
    rw = np.where(pos >= 0, W[pos], np.nan)
    rh = np.where(pos >= 0, H[pos], np.nan)
    nosize = np.isnan(rw) | np.isnan(rh) | (rw <= 0) | (rh <= 0)
    ctx.report.add_mask("annotations", a, nosize, "image size unknown (no width/height and media not readable)",
                        key="ann_id")
    lut = {n: i for i, n in enumerate(classes)}
    cls = a["label"].map(lut).to_numpy(dtype=float, na_value=np.nan)
    nocls = np.isnan(cls) & ~nosize
    ctx.report.add_mask("annotations", a, nocls, "label is not in the class list", key="ann_id")
    keep = ~nosize & ~nocls
    rows = Rows(a[keep], pos[keep], rw[keep], rh[keep], cls[keep].astype(np.int64))
    if not children:
        ctx.report.add("annotations", kids["ann_id"], f"keypoints are not carried by {ctx.format} (points linked "
                                                      f"to a skeleton or a box)")
    else:
        orphan = ~kids["parent_id"].isin(rows.a["ann_id"]).to_numpy()
        ctx.report.add_mask("annotations", kids, orphan, "linked to a parent shape that is not written",
                            key="ann_id")
    return rows, W, H


def export_classes(ds, base: list[str], types: tuple[str, ...] | None = None, sort: bool = False) -> list[str]:
    """``base`` plus labels used by rows of ``types`` that the labels table lacks."""
    a = ds.annotations
    if types is not None:
        a = a[a["type"].isin(types) & a["parent_id"].isna()]
    extra = [n for n in dict.fromkeys(a["label"].tolist()) if n and n not in set(base)]
    out = base + extra
    return sorted(out) if sort else out



# -- boxes -----------------------------------------------------------------------------------
def encode_boxes(r: Rows, ctx, tail: np.ndarray | None = None) -> list[str]:
    """``cls cx cy w h``; rotated boxes become their enclosing box (computed in pixels, reported)."""
    a = r.a
    x, y, w, h = (a[c].to_numpy(dtype=float) for c in ("x", "y", "w", "h"))
    rot = a["rotation"].to_numpy(dtype=float)
    rotated = (np.mod(rot, 360.0) != 0) & (a["type"] == "bbox").to_numpy()
    if rotated.any():
        ex, ey, ew, eh = geometry.enclosing_box(x[rotated], y[rotated], w[rotated], h[rotated], rot[rotated])
        x, y, w, h = x.copy(), y.copy(), w.copy(), h.copy()
        x[rotated], y[rotated], w[rotated], h[rotated] = ex, ey, ew, eh
        ctx.report.add("annotations", a.loc[rotated, "ann_id"],
                       "rotated box written as its axis-aligned enclosing box (rotation approximated)")
    vals = np.stack([(x + w / 2) / r.W, (y + h / 2) / r.H, w / r.W, h / r.H], axis=1)
    return format_rows(r.cls, vals, tail)


def decode_boxes(lines: Lines, sel: np.ndarray, W: np.ndarray, H: np.ndarray) -> dict:
    """Columns of ``cls cx cy w h`` lines; ``W``/``H`` per selected line."""
    v = lines.fixed(sel, 5)
    w = v[:, 3] * W
    h = v[:, 4] * H
    return {"x": v[:, 1] * W - w / 2, "y": v[:, 2] * H - h / 2, "w": w, "h": h, "type": "bbox"}


# -- oriented boxes ------------------------------------------------------------------------------
def encode_obb(r: Rows) -> list[str]:
    """``cls x1 y1 … x4 y4``: corners of the rotated box in pixels, then normalised."""
    a = r.a
    c = geometry.box_corners(*(a[k].to_numpy(dtype=float) for k in ("x", "y", "w", "h", "rotation")))
    c = c / np.stack([r.W, r.H], axis=-1)[:, None, :]
    return format_rows(r.cls, c.reshape(len(a), 8))


def decode_obb(lines: Lines, sel: np.ndarray, W: np.ndarray, H: np.ndarray) -> dict:
    v = lines.fixed(sel, 9)[:, 1:].reshape(-1, 4, 2)
    px = v * np.stack([W, H], axis=-1)[:, None, :]
    x, y, w, h, rot = geometry.corners_to_box(px)
    rot = np.where(np.abs(rot) < 1e-9, 0.0, geometry.normalize_angle(rot))
    rot = np.where(np.abs(rot - 360.0) < 1e-9, 0.0, rot)
    return {"x": x, "y": y, "w": w, "h": h, "rotation": rot, "type": "bbox"}


# -- polygons --------------------------------------------------------------------------------
def encode_polygons(r: Rows, points: list) -> list[str]:
    """``cls x1 y1 x2 y2 …`` normalised; ``points`` are flat pixel lists aligned with ``r``."""
    vals, offs = geometry.flatten_points(points)
    lens = np.diff(offs)
    row = np.repeat(np.arange(len(points)), lens)
    size = np.where(np.arange(vals.size) % 2 == 0, r.W[row], r.H[row])
    norm = vals / size
    lists = [norm[offs[i]:offs[i + 1]].tolist() for i in range(len(points))]
    return format_ragged(r.cls, lists)


def decode_polygons(lines: Lines, sel: np.ndarray, W: np.ndarray, H: np.ndarray) -> dict:
    pts = lines.ragged(sel, skip=1)
    vals, offs = geometry.flatten_points(pts)
    row = np.repeat(np.arange(len(pts)), np.diff(offs))
    size = np.where(np.arange(vals.size) % 2 == 0, W[row], H[row])
    px = vals * size
    plist = [px[offs[i]:offs[i + 1]].tolist() for i in range(len(pts))]
    x, y, w, h = geometry.points_bbox(plist)
    return {"x": x, "y": y, "w": w, "h": h, "points": plist, "type": "polygon"}


# -- pose (box + K keypoints) ---------------------------------------------------------------------
def keypoint_block(parents: Rows, children: pd.DataFrame, slot: np.ndarray, k: int, dims: int = 3,
                   visible_only: bool = False, report=None) -> np.ndarray:
    """(N, k*dims) normalised keypoints of each parent row; missing slots stay 0 0 0.

    ``children`` are point rows with ``parent_id`` in ``parents.a.ann_id``; ``slot`` is each
    child's keypoint index. Visibility: outside -> 0 (written ``0 0 0``), occluded -> 1, else 2.
    With ``report``, children of written parents that get no place (no coordinates, or a
    second point in a slot already taken) are named in it.
    """
    n = len(parents.a)
    out = np.zeros((n, k, 3))
    if len(children) and n:
        prow = pd.Index(parents.a["ann_id"]).get_indexer(children["parent_id"])
        ok = (prow >= 0) & (slot >= 0) & (slot < k)
        pts = children["points"].tolist()
        xy = np.array([(p[0], p[1]) if p is not None and len(p) >= 2 else (np.nan, np.nan) for p in pts],
                      dtype=float).reshape(-1, 2)
        ok &= ~np.isnan(xy).any(axis=1)
        vis = np.where(children["occluded"].to_numpy(dtype=bool), 1.0, 2.0)
        out_ = children["outside"].to_numpy(dtype=bool)
        if visible_only:
            vis[:] = 2.0
        if report is not None:
            taken = ok.copy()
            taken[ok] = ~pd.Series(list(zip(prow[ok], slot[ok], strict=True))).duplicated(keep="last").to_numpy()
            coordless = (prow >= 0) & (slot >= 0) & (slot < k) & np.isnan(xy).any(axis=1) & ~out_
            report.add_mask("annotations", children, coordless, "keypoint without coordinates: nothing to write "
                            "in its slot", key="ann_id")
            report.add_mask("annotations", children, ok & ~taken, "a second point in a slot its skeleton "
                            "already fills: a pose line has one x y v per slot (the last one is written)",
                            key="ann_id")
        pr, sl = prow[ok], slot[ok]
        out[pr, sl, 0] = np.where(out_[ok], 0.0, xy[ok, 0] / parents.W[pr])
        out[pr, sl, 1] = np.where(out_[ok], 0.0, xy[ok, 1] / parents.H[pr])
        out[pr, sl, 2] = np.where(out_[ok], 0.0, vis[ok])
    if dims == 2:
        return out[:, :, :2].reshape(n, k * 2)
    return out.reshape(n, k * 3)


def format_pose(cls: np.ndarray, box: np.ndarray, kp: np.ndarray, dims: int = 3) -> list[str]:
    """Pose lines: box values with ``%.10g``, keypoints ``x y v`` with an integer visibility."""
    n, k3 = kp.shape
    if n == 0:
        return []
    one = " %.10g %.10g %d" if dims == 3 else " %.10g %.10g"
    fmt = "%d %.10g %.10g %.10g %.10g" + one * (k3 // dims)
    flat = np.concatenate([np.asarray(cls, dtype=float)[:, None], box, kp], axis=1)
    ints = [0] + ([5 + dims * j + 2 for j in range(k3 // dims)] if dims == 3 else [])
    rows = flat.tolist()
    for r in rows:
        for j in ints:
            r[j] = int(r[j])
    return [fmt % tuple(r) for r in rows]


def decode_keypoints(lines: Lines, sel: np.ndarray, W: np.ndarray, H: np.ndarray, k: int, dims: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x px, y px, visibility) arrays of shape (M, k) from the fields after the box."""
    v = lines.fixed(sel, 5 + k * dims)[:, 5:].reshape(int(np.count_nonzero(sel)), k, dims)
    x = v[:, :, 0] * W[:, None]
    y = v[:, :, 1] * H[:, None]
    vis = v[:, :, 2] if dims == 3 else np.where((v[:, :, 0] == 0) & (v[:, :, 1] == 0), 0.0, 2.0)
    return x, y, vis
