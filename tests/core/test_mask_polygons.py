"""``load(..., to_polygons=True)`` for formats without an option of their own (CVAT's "Convert
masks to polygons"): pixel-exact outlines, parts grouped, holes and dropped track parts reported."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import annowidgets as aw
from annowidgets.core import masks, raster
from annowidgets.core.loss import LossWarning
from annowidgets.core.mask_polygons import masks_to_polygons

H, W = 30, 40


def _mask_row(full: np.ndarray, **extra) -> dict:
    ys, xs = np.nonzero(full)
    box = dict(x=float(xs.min()), y=float(ys.min()), w=float(xs.max() + 1 - xs.min()), h=float(ys.max() + 1 - ys.min()))
    return dict(item_id=0, frame=0, label="blob", type="mask", mask=masks.coco_encode(full), **box, **extra)


def _dataset(rows) -> aw.Dataset:
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", range(len(ann)))
    items = [dict(item_id=0, name="img.png", width=W, height=H, frame=0)]
    return aw.Dataset(items=items, annotations=ann, labels=[{"name": "blob"}]).validate()


def _union(rings) -> np.ndarray:
    out = np.zeros((H, W), bool)
    for ring in rings:
        out |= raster.polygon_mask(ring, H, W)
    return out


def _two_parts_one_hole() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[2:12, 5:15] = True
    m[5:8, 8:11] = False  # a hole
    m[20:25, 30:38] = True  # a second part
    return m


def test_parts_become_grouped_polygons_and_holes_are_reported():
    m = _two_parts_one_hole()
    box = dict(item_id=0, frame=0, label="blob", type="bbox", x=1.0, y=1.0, w=3.0, h=3.0)
    ds = _dataset([box, _mask_row(m), box])
    out = masks_to_polygons(ds)
    a = out.annotations
    assert a["type"].tolist() == ["bbox", "polygon", "polygon", "bbox"]  # parts where the mask was
    assert a["ann_id"].tolist() == [0, 1, 3, 2]  # the first part keeps the mask's id
    parts = a[a["type"] == "polygon"]
    assert parts["group"].nunique() == 1 and parts["group"].notna().all()
    assert parts["mask"].isna().all()
    filled = m.copy()
    filled[5:8, 8:11] = True
    assert np.array_equal(_union(parts["points"]), filled)
    for _, r in parts.iterrows():  # the box column follows the polygon
        xy = np.asarray(r["points"]).reshape(-1, 2)
        assert (r["x"], r["y"], r["x"] + r["w"], r["y"] + r["h"]) == (*xy.min(0), *xy.max(0))
    (entry,) = out.loss.entries
    assert entry.rows == [1] and "holes" in entry.reason
    assert ds.annotations["type"].tolist() == ["bbox", "mask", "bbox"]  # the input is not changed


def test_a_mask_already_in_a_group_keeps_its_group():
    ds = _dataset([_mask_row(_two_parts_one_hole(), group=7)])
    assert masks_to_polygons(ds).annotations["group"].tolist() == [7, 7]


def test_tracked_mask_keeps_its_largest_part_and_says_so():
    ds = _dataset([_mask_row(_two_parts_one_hole(), track_id=4, keyframe=True)])
    out = masks_to_polygons(ds)
    (row,) = out.annotations.itertuples()
    assert row.type == "polygon" and row.track_id == 4 and (row.x, row.y, row.w, row.h) == (5, 2, 10, 10)
    assert any("largest part" in e.reason for e in out.loss.entries)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=48, max_size=48), st.integers(0, W - 8), st.integers(0, H - 6))
def test_outlines_paint_back_the_mask_with_holes_filled(bits, left, top):
    m = np.zeros((H, W), bool)
    m[top:top + 6, left:left + 8] = np.asarray(bits, bool).reshape(6, 8)
    if not m.any():
        return
    out = masks_to_polygons(_dataset([_mask_row(m)]))
    painted = _union(out.annotations["points"])
    holes = painted & ~m
    assert not (m & ~painted).any()  # every mask pixel is inside an outline
    assert holes.any() == bool(out.loss.entries)  # extra pixels only where a hole was filled


def test_load_to_polygons_through_cvat_xml(tmp_path):
    m = _two_parts_one_hole()
    ds = _dataset([_mask_row(m)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        path = ds.export(str(tmp_path), "CVAT for images 1.1", name="t.zip")
    assert aw.load(path).annotations["type"].tolist() == ["mask"]
    got = aw.load(path, to_polygons=True)
    assert got.annotations["type"].tolist() == ["polygon", "polygon"]
    assert got.info["format"] == "CVAT for images 1.1"
    assert any("holes" in e.reason for e in got.loss.entries)


@pytest.mark.fixtures
def test_coco_rle_mask_sample_as_polygon(datumaro_dir):
    src = str(datumaro_dir / "coco_dataset/coco_instances")
    rle = aw.load(src).annotations
    got = aw.load(src, to_polygons=True).annotations
    assert got["type"].tolist() == ["bbox", "polygon", "polygon"]
    mask = masks.coco_decode(rle["mask"].iloc[2])
    assert np.array_equal(raster.polygon_mask(got["points"].iloc[2], *mask.shape), mask)
