"""Shapes to pixel masks and back, in pixel space, for the segmentation formats.

Sampling rule (one rule for every shape, so shapes tile without gaps or overlaps): pixel
``(row, col)`` belongs to a shape when its centre ``(col + 0.5, row + 0.5)`` lies inside it,
with half-open edges. An axis-aligned box with integer corners therefore covers exactly
``w * h`` pixels, and a polygon covers its shoelace area up to a one-pixel border.

Masks go the other way with :func:`mask_to_polygons`, which follows pixel edges ("crack
following"), so a polygon traced from a mask rasterises back to the very same pixels.
"""
from __future__ import annotations

import numpy as np

from . import geometry
from .masks import coco_decode


# -- single shapes ----------------------------------------------------------------------------
def _first_centre_at_or_after(v):
    """Index of the first pixel whose centre is >= v (pixel i has its centre at i + 0.5)."""
    return np.ceil(np.asarray(v, dtype=np.float64) - 0.5).astype(np.int64)


def box_mask(x, y, w, h, rotation=0.0, height=0, width=0) -> np.ndarray:
    """Boolean (height, width) mask of a box rotated clockwise about its centre."""
    if rotation and float(rotation) % 360.0:
        corners = geometry.box_corners(x, y, w, h, rotation)
        return polygon_mask(corners.reshape(-1), height, width)
    out = np.zeros((height, width), dtype=bool)
    c0, c1 = np.clip(_first_centre_at_or_after([x, x + w]), 0, width)
    r0, r1 = np.clip(_first_centre_at_or_after([y, y + h]), 0, height)
    out[r0:r1, c0:c1] = True
    return out


def polygon_mask(points, height: int, width: int) -> np.ndarray:
    """Boolean mask of a closed polygon (flat ``[x0, y0, x1, y1, …]``), even-odd rule.

    Vectorised scanline: every edge crossing a row centre toggles the parity from the first
    pixel centre at or right of the crossing; a cumulative sum turns toggles into spans.
    """
    out = np.zeros((height, width), dtype=bool)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3 or height <= 0 or width <= 0:
        return out
    xa, ya = pts[:, 0], pts[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    r0 = max(0, int(_first_centre_at_or_after(ya.min())))
    r1 = min(height, int(_first_centre_at_or_after(ya.max())) + 1)
    if r1 <= r0:
        return out
    yc = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
    crosses = (ya[None, :] <= yc) != (yb[None, :] <= yc)  # half-open: no double count at vertices
    rows, edges = np.nonzero(crosses)
    if rows.size == 0:
        return out
    t = (yc[rows, 0] - ya[edges]) / (yb[edges] - ya[edges])
    xc = xa[edges] + t * (xb[edges] - xa[edges])
    cols = np.clip(_first_centre_at_or_after(xc), 0, width)
    toggles = np.zeros((r1 - r0, width + 1), dtype=np.int32)
    np.add.at(toggles, (rows, cols), 1)
    out[r0:r1] = (np.cumsum(toggles, axis=1)[:, :width] & 1).astype(bool)
    return out


def ellipse_mask(cx, cy, rx, ry, rotation=0.0, height=0, width=0) -> np.ndarray:
    """Boolean mask of an ellipse (centre, radii) rotated clockwise about its centre."""
    out = np.zeros((height, width), dtype=bool)
    if rx <= 0 or ry <= 0:
        return out
    bx, by, bw, bh = geometry.enclosing_box(cx - rx, cy - ry, 2 * rx, 2 * ry, rotation)
    c0, c1 = np.clip(_first_centre_at_or_after([float(bx), float(bx + bw)]), 0, width)
    r0, r1 = np.clip(_first_centre_at_or_after([float(by), float(by + bh)]), 0, height)
    if c1 <= c0 or r1 <= r0:
        return out
    px = np.arange(c0, c1) + 0.5 - cx
    py = np.arange(r0, r1)[:, None] + 0.5 - cy
    t = np.deg2rad(rotation)
    c, s = np.cos(t), np.sin(t)
    u = px * c + py * s  # rotate the pixel back by -rotation into the ellipse's frame
    v = -px * s + py * c
    out[r0:r1, c0:c1] = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
    return out


def shape_mask(kind: str, height: int, width: int, *, x=np.nan, y=np.nan, w=np.nan, h=np.nan,
               rotation=0.0, points=None, mask=None) -> np.ndarray | None:
    """Rasterise one annotation given its schema columns; ``None`` for kinds with no area."""
    rotation = 0.0 if rotation is None or rotation != rotation else float(rotation)
    if kind == "bbox":
        return box_mask(x, y, w, h, rotation, height, width)
    if kind == "polygon":
        return polygon_mask(points, height, width) if points is not None else None
    if kind == "ellipse":
        return ellipse_mask(x + w / 2, y + h / 2, w / 2, h / 2, rotation, height, width)
    if kind == "mask":
        if mask is None:
            return None
        m = coco_decode(mask)
        if m.shape != (height, width):
            raise ValueError(f"mask is {m.shape[1]}x{m.shape[0]}, the image is {width}x{height}")
        return m
    return None


RASTER_TYPES = ("bbox", "polygon", "ellipse", "mask")


def paint(rows, height: int, width: int, class_ids, instance_ids) -> tuple[np.ndarray, np.ndarray]:
    """Paint annotation rows (a DataFrame) into a class map and an instance map.

    Rows are painted in ``z_order`` (stable), so later shapes cover earlier ones; pixels no
    shape covers stay 0 in both maps. ``class_ids``/``instance_ids`` give each row's value.
    """
    cls = np.zeros((height, width), dtype=np.int32)
    inst = np.zeros((height, width), dtype=np.int32)
    order = np.argsort(rows["z_order"].to_numpy(), kind="stable")
    cols = {c: rows[c].to_numpy() for c in ("type", "x", "y", "w", "h", "rotation", "points", "mask")}
    class_ids = np.asarray(class_ids)
    instance_ids = np.asarray(instance_ids)
    for i in order:
        m = shape_mask(cols["type"][i], height, width, x=cols["x"][i], y=cols["y"][i], w=cols["w"][i],
                       h=cols["h"][i], rotation=cols["rotation"][i], points=cols["points"][i],
                       mask=cols["mask"][i])
        if m is None:
            continue
        cls[m] = class_ids[i]
        inst[m] = instance_ids[i]
    return cls, inst


# -- masks to polygons -------------------------------------------------------------------------
def mask_to_polygons(mask: np.ndarray, with_holes: bool = False):
    """Outlines of a boolean mask along pixel edges, as flat ``[x0, y0, …]`` lists.

    Returns the outer boundaries (counter-clockwise on screen is not assumed; each list is
    one closed ring). With ``with_holes=True`` returns ``(outers, holes)``; otherwise holes
    are left out and the caller should report them, since a polygon cannot carry a hole.
    Collinear points are dropped, so a box comes back as its four corners.
    """
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    d = m[1:, :] != m[:-1, :]  # horizontal edges between row r-1 and r (padded coords)
    hr, hc = np.nonzero(d)
    inside_below = m[1:, :][hr, hc]
    v = m[:, 1:] != m[:, :-1]  # vertical edges between col c-1 and c
    vr, vc = np.nonzero(v)
    inside_right = m[:, 1:][vr, vc]
    # Walk every boundary edge with the inside on its left as seen on screen (x right, y
    # down): outer rings then have a negative shoelace sum and holes a positive one.
    sx = np.concatenate([np.where(inside_below, hc + 1, hc), vc + 1])
    sy = np.concatenate([hr + 1, np.where(inside_right, vr, vr + 1)])
    ex = np.concatenate([np.where(inside_below, hc, hc + 1), vc + 1])
    ey = np.concatenate([hr + 1, np.where(inside_right, vr + 1, vr)])
    n = sx.size
    if n == 0:
        return ([], []) if with_holes else []
    # link each edge to the edge starting where it ends; at a pinch vertex (two edges start
    # there) take the one that turns towards the inside so rings stay simple
    key = lambda xs, ys: xs.astype(np.int64) * (m.shape[0] + 1) + ys  # noqa: E731
    skey = key(sx, sy)
    ekey = key(ex, ey)
    order = np.argsort(skey, kind="stable")
    sorted_keys = skey[order]
    first = np.searchsorted(sorted_keys, ekey, side="left")
    count = np.searchsorted(sorted_keys, ekey, side="right") - first
    nxt = order[first]
    pinch = np.nonzero(count > 1)[0]
    dx_all, dy_all = ex - sx, ey - sy
    for i in pinch:
        cands = order[first[i]:first[i] + count[i]]
        # prefer a left turn relative to the incoming direction (inside is on the left)
        best = None
        for c in cands:
            cross = dx_all[i] * dy_all[c] - dy_all[i] * dx_all[c]
            if cross < 0:  # screen coords: negative cross = left turn as drawn
                best = c
        nxt[i] = best if best is not None else cands[0]
    # every edge has one successor and one predecessor, so the links are a permutation and its
    # cycles are the rings: walk them all at once (pointer doubling), not edge by edge
    order, starts = _cycles(nxt)
    xs = sx[order].astype(np.float64) - 1.0  # undo the padding
    ys = sy[order].astype(np.float64) - 1.0
    ring = np.repeat(np.arange(starts.size), np.diff(np.append(starts, n)))
    keep = _corner(xs, ys, starts)  # drop collinear points: a box comes back as 4 corners
    xs, ys, ring = xs[keep], ys[keep], ring[keep]
    starts = np.searchsorted(ring, np.arange(starts.size))
    nx, ny = _next_in_ring(xs, starts), _next_in_ring(ys, starts)
    area2 = np.add.reduceat(xs * ny - nx * ys, starts)
    flat = np.empty(xs.size * 2)
    flat[0::2], flat[1::2] = xs, ys
    rings = np.split(flat, 2 * starts[1:])
    outers = [r.tolist() for r, a in zip(rings, area2, strict=True) if a < 0]
    holes = [r.tolist() for r, a in zip(rings, area2, strict=True) if a >= 0]
    return (outers, holes) if with_holes else outers


def _cycles(nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cycles of permutation ``nxt``: element order (each cycle from its smallest element,
    cycles by that element) and where each cycle starts in that order."""
    n = nxt.size
    low, jump = np.arange(n), nxt.copy()
    span = 1
    while span < n:  # after k rounds low[e] = min of the 2**k elements from e on
        low = np.minimum(low, low[jump])
        jump = jump[jump]
        span *= 2
    # distance to the cycle's last element (the one whose successor is its smallest) by list ranking
    last = nxt == low
    succ = np.where(last, np.arange(n), nxt)
    dist = (~last).astype(np.int64)
    span = 1
    while span < n:
        dist = dist + dist[succ]
        succ = succ[succ]
        span *= 2
    order = np.lexsort((-dist, low))
    starts = np.flatnonzero(np.diff(low[order], prepend=-1))
    return order, starts


def _next_in_ring(v: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``v`` shifted by one within each ring (the last point's next is the ring's first)."""
    out = np.roll(v, -1)
    ends = np.append(starts[1:], v.size) - 1
    out[ends] = v[starts]
    return out


def _corner(xs: np.ndarray, ys: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Points where a ring turns (the cross product of the edges in and out is not zero)."""
    nx, ny = _next_in_ring(xs, starts), _next_in_ring(ys, starts)
    px, py = np.roll(xs, 1), np.roll(ys, 1)
    ends = np.append(starts[1:], xs.size) - 1
    px[starts], py[starts] = xs[ends], ys[ends]
    return (xs - px) * (ny - ys) - (ys - py) * (nx - xs) != 0
