"""Masks to polygons for any dataset: CVAT's "Convert masks to polygons" import option.

``aw.load(path, to_polygons=True)`` applies it to every format whose reader has no option of
its own. Each mask row becomes one polygon per connected part (pixel-edge outlines, so a
rectangle comes back as its four corners); parts of one mask share a ``group``. What a polygon
cannot hold is reported in ``ds.loss``: holes (filled), and for a tracked mask every part but
the largest (one track has one shape per frame).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import masks, raster
from .dataset import Dataset


def _rings(rle: dict, box) -> tuple[list[list[float]], int]:
    """Outer rings (image coordinates) of a COCO RLE mask and how many holes were dropped."""
    full = masks.coco_decode(rle)
    x, y, w, h = box
    if all(v == v for v in box):  # crop to the row's box (+1 for pixels cut by float edges)
        x0, y0 = max(int(np.floor(x)) - 1, 0), max(int(np.floor(y)) - 1, 0)
        x1, y1 = min(int(np.ceil(x + w)) + 1, full.shape[1]), min(int(np.ceil(y + h)) + 1, full.shape[0])
        if full[:y0].any() or full[y1:].any() or full[:, :x0].any() or full[:, x1:].any():
            x0, y0 = 0, 0  # the box does not hold the mask: trace the whole image
            x1, y1 = full.shape[1], full.shape[0]
    else:
        x0, y0, x1, y1 = 0, 0, full.shape[1], full.shape[0]
    outers, holes = raster.mask_to_polygons(full[y0:y1, x0:x1], with_holes=True)
    shift = np.array([x0, y0], dtype=float)
    rings = [(np.asarray(r, dtype=float).reshape(-1, 2) + shift).ravel().tolist() for r in outers]
    return rings, len(holes)


def masks_to_polygons(ds: Dataset) -> Dataset:
    """A copy of ``ds`` with every mask row replaced by its outline polygon(s)."""
    a = ds.annotations.reset_index(drop=True)  # row positions double as the order key below
    is_mask = (a["type"] == "mask").to_numpy() & a["mask"].notna().to_numpy()
    if not is_mask.any():
        return ds
    out = ds.copy()
    next_id = int(a["ann_id"].max()) + 1
    groups = pd.to_numeric(a["group"], errors="coerce")
    next_group = int(groups.max()) + 1 if groups.notna().any() else 1
    src, rings_out, ids, group_of, with_holes, extra_parts = [], [], [], [], [], []
    sel = np.flatnonzero(is_mask)
    m = a.iloc[sel]  # the mask rows' columns once, not a pandas row per mask
    cols = zip(sel.tolist(), m["mask"].tolist(), m[["x", "y", "w", "h"]].to_numpy(float).tolist(),
               m["ann_id"].tolist(), m["track_id"].isna().tolist(), m["group"].tolist(), strict=True)
    for pos, rle, box, ann_id, untracked, group in cols:
        rings, n_holes = _rings(rle, box)
        if n_holes:
            with_holes.append(ann_id)
        if not rings:
            continue
        if not untracked and len(rings) > 1:  # one shape per track and frame
            rings = [max(rings, key=_area)]
            extra_parts.append(ann_id)
        if len(rings) > 1 and pd.isna(group):
            group, next_group = next_group, next_group + 1
        for k, ring in enumerate(rings):
            src.append(pos)
            rings_out.append(ring)
            group_of.append(group)
            if k:
                ids.append(next_id)
                next_id += 1
            else:
                ids.append(ann_id)
    poly = a.iloc[src].copy()  # the mask rows' other columns, dtypes kept
    xy = [np.asarray(r).reshape(-1, 2) for r in rings_out]
    lo = np.array([p.min(axis=0) for p in xy]).reshape(-1, 2)
    hi = np.array([p.max(axis=0) for p in xy]).reshape(-1, 2)
    poly["ann_id"] = pd.array(ids, dtype=a["ann_id"].dtype)
    poly["type"] = "polygon"
    poly["points"] = pd.Series(rings_out, index=poly.index, dtype=object)
    poly["mask"] = None
    poly["x"], poly["y"] = lo[:, 0], lo[:, 1]
    poly["w"], poly["h"] = hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]
    poly["rotation"] = 0.0
    poly["group"] = pd.array(group_of, dtype=a["group"].dtype)
    merged = pd.concat([a[~is_mask], poly])
    # keep the source's row order: each part lands where its mask was
    merged = merged.iloc[np.argsort(merged.index.to_numpy(), kind="stable")]
    out.annotations = merged.reset_index(drop=True)
    out.validate()
    if with_holes:
        out.loss.add("annotations", with_holes, "mask holes cannot be polygons; holes filled (to_polygons=True)")
    if extra_parts:
        out.loss.add("annotations", extra_parts, "tracked mask in several parts: only the largest part kept as "
                                                 "the track's polygon (to_polygons=True)")
    return out


def _area(ring: list[float]) -> float:
    xy = np.asarray(ring, dtype=float).reshape(-1, 2)
    return abs(float(np.dot(xy[:, 0], np.roll(xy[:, 1], 1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))) / 2
