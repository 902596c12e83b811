"""Geometry conversions, in one tested place, vectorised over columns.

Conventions (see :mod:`annowidgets.core.schema`): absolute pixels, y pointing down, boxes as
``x, y, w, h`` of the *unrotated* box, ``rotation`` in degrees clockwise about its centre
(CVAT's convention). Label Studio rotates about the box's top-left corner instead and stores
percentages; the conversions below are the only place that knows.
"""
from __future__ import annotations

import numpy as np


def _arr(*xs):
    return [np.asarray(x, dtype=np.float64) for x in xs]


# -- percent <-> pixels ---------------------------------------------------------------------
def pct_to_px(value, size):
    """Label Studio percent (0–100) of ``size`` to pixels."""
    value, size = _arr(value, size)
    return value * size / 100.0


def px_to_pct(value, size):
    """Pixels to percent (0–100) of ``size``."""
    value, size = _arr(value, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return value * 100.0 / size


# -- rotation about the top-left corner (LS) <-> about the centre -----------------------------
def topleft_to_centre(x, y, w, h, rotation):
    """A box rotated by ``rotation`` about its corner (x, y) as the same box rotated about its centre.

    Returns ``(x, y)`` of the unrotated box in the centre convention; w, h and the angle stay.
    """
    x, y, w, h, rotation = _arr(x, y, w, h, rotation)
    t = np.deg2rad(rotation)
    c, s = np.cos(t), np.sin(t)
    cx = x + (w / 2) * c - (h / 2) * s
    cy = y + (w / 2) * s + (h / 2) * c
    return cx - w / 2, cy - h / 2


def centre_to_topleft(x, y, w, h, rotation):
    """Inverse of :func:`topleft_to_centre`: the rotated box's own top-left corner."""
    x, y, w, h, rotation = _arr(x, y, w, h, rotation)
    t = np.deg2rad(rotation)
    c, s = np.cos(t), np.sin(t)
    cx, cy = x + w / 2, y + h / 2
    return cx - (w / 2) * c + (h / 2) * s, cy - (w / 2) * s - (h / 2) * c


def box_corners(x, y, w, h, rotation=0.0):
    """Corners of boxes rotated clockwise about their centre, shape (..., 4, 2).

    Order: top-left, top-right, bottom-right, bottom-left of the unrotated box.
    """
    x, y, w, h, rotation = np.broadcast_arrays(*_arr(x, y, w, h, rotation))
    t = np.deg2rad(rotation)
    c, s = np.cos(t), np.sin(t)
    cx, cy = x + w / 2, y + h / 2
    dx = np.stack([-w / 2, w / 2, w / 2, -w / 2], axis=-1)
    dy = np.stack([-h / 2, -h / 2, h / 2, h / 2], axis=-1)
    px = cx[..., None] + dx * c[..., None] - dy * s[..., None]
    py = cy[..., None] + dx * s[..., None] + dy * c[..., None]
    return np.stack([px, py], axis=-1)


def enclosing_box(x, y, w, h, rotation=0.0):
    """Axis-aligned box around rotated boxes, computed in pixels: ``(x, y, w, h)``."""
    c = box_corners(x, y, w, h, rotation)
    lo, hi = c.min(axis=-2), c.max(axis=-2)
    return lo[..., 0], lo[..., 1], hi[..., 0] - lo[..., 0], hi[..., 1] - lo[..., 1]


def corners_to_box(corners):
    """Boxes from their four corners (N, 4, 2) in the order of :func:`box_corners`.

    Inverse of :func:`box_corners` for rectangles: ``(x, y, w, h, rotation)`` with rotation
    in (-180, 180]. Used for oriented-box formats that store corners.
    """
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2)
    centre = c.mean(axis=1)
    top = c[:, 1] - c[:, 0]
    side = c[:, 3] - c[:, 0]
    w = np.hypot(top[:, 0], top[:, 1])
    h = np.hypot(side[:, 0], side[:, 1])
    rot = np.rad2deg(np.arctan2(top[:, 1], top[:, 0]))
    return centre[:, 0] - w / 2, centre[:, 1] - h / 2, w, h, rot


def normalize_angle(deg):
    """Degrees into [0, 360)."""
    return np.mod(np.asarray(deg, dtype=np.float64), 360.0)


# -- ragged point lists ------------------------------------------------------------------------
def flatten_points(points) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate per-row flat point lists into ``(values, offsets)`` (offsets has N+1 entries)."""
    lens = np.fromiter((0 if p is None else len(p) for p in points), dtype=np.int64, count=len(points))
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    if offsets[-1] == 0:
        return np.zeros(0), offsets
    values = np.concatenate([np.asarray(p, dtype=np.float64) for p in points if p is not None and len(p)])
    return values, offsets


def points_bbox(points):
    """Bounding boxes ``(x, y, w, h)`` of per-row flat point lists; NaN where a row has none."""
    n = len(points)
    values, offsets = flatten_points(points)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    w = np.full(n, np.nan)
    h = np.full(n, np.nan)
    if values.size == 0:
        return x, y, w, h
    xs, ys = values[0::2], values[1::2]
    starts = offsets[:-1] // 2
    has = (offsets[1:] - offsets[:-1]) >= 2
    idx = starts[has]
    x0 = np.minimum.reduceat(xs, idx)
    x1 = np.maximum.reduceat(xs, idx)
    y0 = np.minimum.reduceat(ys, idx)
    y1 = np.maximum.reduceat(ys, idx)
    x[has], y[has], w[has], h[has] = x0, y0, x1 - x0, y1 - y0
    return x, y, w, h


def polygon_area(points):
    """Shoelace areas of per-row flat point lists (absolute value); 0 for fewer than 3 points."""
    n = len(points)
    values, offsets = flatten_points(points)
    out = np.zeros(n)
    if values.size == 0:
        return out
    xs, ys = values[0::2], values[1::2]
    starts = offsets[:-1] // 2
    counts = (offsets[1:] - offsets[:-1]) // 2
    row = np.repeat(np.arange(n), counts)
    nxt = np.arange(xs.size) + 1
    has = counts > 0
    nxt[(starts + counts - 1)[has]] = starts[has]
    cross = xs * ys[nxt] - ys * xs[nxt]
    out = 0.5 * np.abs(np.bincount(row, cross, minlength=n))
    out[counts < 3] = 0.0
    return out


def ellipse_bbox(cx, cy, rx, ry):
    """Unrotated box of ellipses given by centre and radii: ``(x, y, w, h)``."""
    cx, cy, rx, ry = _arr(cx, cy, rx, ry)
    return cx - rx, cy - ry, 2 * rx, 2 * ry


def iou_matrix(a, b):
    """IoU of axis-aligned boxes ``a`` (N, 4) and ``b`` (M, 4), each row ``x, y, w, h``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(a[:, 0][:, None], b[:, 0][None]), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(a[:, 1][:, None], b[:, 1][None]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)
