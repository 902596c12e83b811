"""Binary masks to polygons along pixel edges (no OpenCV needed), for polygon-only formats.

Every foreground pixel contributes its four sides as edges running clockwise on screen; a
side shared by two foreground pixels appears once in each direction and cancels. What is
left are closed loops along the pixel corners: outer boundaries (clockwise, positive area
with y down) and holes (counter-clockwise). At a corner where two loops touch diagonally we
turn right, which keeps diagonal neighbours apart (4-connectivity). Collinear corners are
dropped, so a rectangle of pixels becomes 4 points. The polygons are exact: rasterising
an outer loop and removing its holes gives the mask back.
"""
from __future__ import annotations

import numpy as np

# clockwise on screen (y down): direction index -> (dx, dy)
_DIRS = ((1, 0), (0, 1), (-1, 0), (0, -1))


def _edges(m: np.ndarray) -> list[tuple[int, int, int]]:
    """(x, y, direction) start corners of the boundary edges of mask ``m``."""
    p = np.pad(m.astype(bool), 1)
    core = p[1:-1, 1:-1]
    out = []
    r, c = np.nonzero(core & ~p[:-2, 1:-1])   # top side: (c, r) -> (c+1, r), right
    out.append(np.stack([c, r, np.zeros_like(r)], 1))
    r, c = np.nonzero(core & ~p[1:-1, 2:])    # right side: (c+1, r) -> (c+1, r+1), down
    out.append(np.stack([c + 1, r, np.ones_like(r)], 1))
    r, c = np.nonzero(core & ~p[2:, 1:-1])    # bottom side: (c+1, r+1) -> (c, r+1), left
    out.append(np.stack([c + 1, r + 1, np.full_like(r, 2)], 1))
    r, c = np.nonzero(core & ~p[1:-1, :-2])   # left side: (c, r+1) -> (c, r), up
    out.append(np.stack([c, r + 1, np.full_like(r, 3)], 1))
    return np.concatenate(out).tolist()


def mask_loops(m: np.ndarray) -> tuple[list[list[float]], list[list[float]]]:
    """(outer boundaries, holes) of a binary mask as flat ``[x0, y0, x1, y1, …]`` lists."""
    edges = _edges(m)
    if not edges:
        return [], []
    out: dict[tuple[int, int], list[int]] = {}
    for x, y, d in edges:
        out.setdefault((x, y), []).append(d)
    outer, holes = [], []
    while out:
        start = next(iter(out))
        x, y = start
        d = out[start][0]
        pts = []
        while True:
            ds = out.get((x, y))
            if not ds:
                break
            if len(ds) > 1:  # two loops meet here: turn right of the way we came
                pref = [(d + 1) % 4, d, (d + 3) % 4, (d + 2) % 4]
                d = min(ds, key=pref.index)
            else:
                d = ds[0]
            ds.remove(d)
            if not ds:
                del out[(x, y)]
            pts.append((x, y, d))
            x, y = x + _DIRS[d][0], y + _DIRS[d][1]
        # keep corners only (where the direction changes)
        dirs = [p[2] for p in pts]
        keep = [p for i, p in enumerate(pts) if dirs[i] != dirs[i - 1]]
        flat = [float(v) for p in keep for v in p[:2]]
        xs, ys = np.asarray(flat[0::2]), np.asarray(flat[1::2])
        area = 0.5 * float(np.sum(xs * np.roll(ys, -1) - np.roll(xs, -1) * ys))
        (outer if area > 0 else holes).append(flat)
    return outer, holes


def rle_loops(rle: dict) -> tuple[list[list[float]], list[list[float]]]:
    """:func:`mask_loops` of a COCO RLE dict."""
    from pycocotools import mask as mask_utils

    r = dict(rle)
    if isinstance(r.get("counts"), str):
        r["counts"] = r["counts"].encode("ascii")
    return mask_loops(mask_utils.decode(r))
