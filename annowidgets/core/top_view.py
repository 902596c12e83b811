"""A bird's-eye view of point-cloud items, so the 2D preview can show 3D cuboids.

One metric frame for the whole dataset (x right, y up, the sensor at the centre; its radius
fits every cuboid), so a point-cloud item becomes an image of fixed size and each ``cuboid_3d``
row a rotated box in it: predictions are then matched to annotations by their footprint IoU
with the same code as 2D boxes. Heights (z) are not shown.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dataset import Dataset


@dataclass(frozen=True)
class TopFrame:
    radius: float  # metres (cloud units) from the sensor to the image border
    size: int  # image side in pixels

    @property
    def scale(self) -> float:
        return self.size / (2 * self.radius)

    @classmethod
    def fit(cls, cuboids: np.ndarray, size: int = 800, least: float = 20.0) -> TopFrame:
        """The frame that holds every cuboid's footprint (``(N, 9)`` cuboid_3d points), at least ``least`` wide."""
        if len(cuboids):
            reach = np.abs(cuboids[:, :2]).max(axis=1) + np.hypot(cuboids[:, 6], cuboids[:, 7]) / 2
            least = max(least, float(np.nanmax(reach)) * 1.1)
        return cls(radius=float(np.ceil(least)), size=size)

    def pixels(self, xy: np.ndarray) -> np.ndarray:
        """World x, y -> image column, row (y up becomes row down)."""
        return np.stack([(xy[:, 0] + self.radius) * self.scale, (self.radius - xy[:, 1]) * self.scale], axis=1)


def _cuboids(points) -> np.ndarray:
    return np.array([p if isinstance(p, (list, tuple, np.ndarray)) and len(p) == 9 else [np.nan] * 9
                     for p in points], dtype=np.float64).reshape(-1, 9)


def as_top_view(ds: Dataset, size: int = 800) -> tuple[Dataset, TopFrame | None]:
    """A copy of ``ds`` with point-cloud items sized as the top view and their cuboids as rotated
    boxes in it (same ``ann_id``); ``(ds, None)`` when it has no point clouds."""
    items = ds.items
    cloud = items["kind"].eq("point_cloud").to_numpy()
    if not cloud.any():
        return ds, None
    a = ds.annotations
    is_cub = a["type"].eq("cuboid_3d").to_numpy()
    cub = _cuboids(a.loc[is_cub, "points"].tolist())
    frame = TopFrame.fit(cub[~np.isnan(cub).any(axis=1)], size)
    out = ds.copy()
    it = out.items
    it.loc[cloud, "width"] = frame.size
    it.loc[cloud, "height"] = frame.size
    if is_cub.any():
        centre = frame.pixels(cub[:, :2])
        w, h = cub[:, 6] * frame.scale, cub[:, 7] * frame.scale
        ann = out.annotations
        rows = np.flatnonzero(is_cub)
        ann.loc[rows, "x"] = centre[:, 0] - w / 2
        ann.loc[rows, "y"] = centre[:, 1] - h / 2
        ann.loc[rows, "w"], ann.loc[rows, "h"] = w, h
        # counter-clockwise in the world is counter-clockwise on screen too (y flips, and so does
        # the sense of turning): the schema's rotation is clockwise, hence the minus
        ann.loc[rows, "rotation"] = -np.degrees(cub[:, 5])
        ann.loc[rows, "type"] = "bbox"
        ann.loc[rows, "points"] = pd.Series([None] * len(rows), index=rows, dtype=object)
    return out, frame


def render(xyz: np.ndarray, frame: TopFrame) -> bytes:
    """PNG of the points seen from above: brighter where more points fall in a pixel."""
    from io import BytesIO

    from PIL import Image

    px = frame.pixels(xyz[:, :2].astype(np.float64))
    ok = np.isfinite(px).all(axis=1) & (px >= 0).all(axis=1) & (px < frame.size).all(axis=1)
    c, r = px[ok, 0].astype(np.int64), px[ok, 1].astype(np.int64)
    counts = np.bincount(r * frame.size + c, minlength=frame.size * frame.size).reshape(frame.size, frame.size)
    img = np.zeros((frame.size, frame.size), dtype=np.uint8)
    hit = counts > 0
    img[hit] = (90 + 165 * np.log1p(counts[hit]) / np.log1p(counts.max(initial=1))).astype(np.uint8)
    buf = BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="PNG")
    return buf.getvalue()
