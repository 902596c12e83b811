"""Rasterisation in pixel space: exact pixel counts, polygon areas, RLE and outlines."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from annowidgets.core import geometry, raster
from annowidgets.core.masks import coco_decode, coco_encode

SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(x=st.integers(-5, 40), y=st.integers(-5, 30), w=st.integers(0, 30), h=st.integers(0, 30))
def test_integer_box_covers_exactly_w_times_h_pixels(x, y, w, h):
    height, width = 40, 50
    m = raster.box_mask(x, y, w, h, 0.0, height, width)
    visible_w = max(0, min(x + w, width) - max(x, 0))
    visible_h = max(0, min(y + h, height) - max(y, 0))
    assert m.sum() == visible_w * visible_h
    if visible_w and visible_h:
        assert m[max(y, 0):y + h, max(x, 0):x + w].all()


@SETTINGS
@given(x=st.integers(0, 20), y=st.integers(0, 20), w=st.integers(1, 20), h=st.integers(1, 20))
def test_box_as_polygon_paints_the_same_pixels(x, y, w, h):
    corners = geometry.box_corners(x, y, w, h, 0.0).reshape(-1)
    assert np.array_equal(raster.polygon_mask(corners, 45, 45), raster.box_mask(x, y, w, h, 0.0, 45, 45))


@st.composite
def star_polygons(draw):
    """Simple polygons: vertices at increasing angles around a centre, random radii."""
    n = draw(st.integers(3, 12))
    cx, cy = draw(st.floats(20, 40)), draw(st.floats(20, 40))
    radii = draw(st.lists(st.floats(2, 18), min_size=n, max_size=n))
    jitter = draw(st.lists(st.floats(0.05, 0.95), min_size=n, max_size=n))
    angles = (np.arange(n) + np.asarray(jitter)) * 2 * np.pi / n
    xs = cx + np.asarray(radii) * np.cos(angles)
    ys = cy + np.asarray(radii) * np.sin(angles)
    pts = np.empty(2 * n)
    pts[0::2], pts[1::2] = xs, ys
    return pts


@SETTINGS
@given(star_polygons())
def test_polygon_pixels_within_a_pixel_border_of_its_area(pts):
    area = geometry.polygon_area([pts])[0]
    xy = pts.reshape(-1, 2)
    perimeter = np.hypot(*(np.roll(xy, -1, axis=0) - xy).T).sum()
    count = raster.polygon_mask(pts, 64, 64).sum()
    # every pixel whose membership differs from the exact region touches the boundary
    assert abs(count - area) <= perimeter + 4


@SETTINGS
@given(x=st.floats(2, 20), y=st.floats(2, 20), w=st.floats(2, 20), h=st.floats(2, 20), r=st.floats(-180, 180))
def test_rotated_box_area_and_extent(x, y, w, h, r):
    m = raster.box_mask(x, y, w, h, r, 50, 50)
    assert abs(m.sum() - w * h) <= 2 * (w + h) + 4
    ex, ey, ew, eh = geometry.enclosing_box(x, y, w, h, r)
    rows, cols = np.nonzero(m)
    if rows.size:  # painted pixel centres lie inside the enclosing box
        assert cols.min() + 0.5 >= ex - 1e-9 and cols.max() + 0.5 <= ex + ew + 1e-9
        assert rows.min() + 0.5 >= ey - 1e-9 and rows.max() + 0.5 <= ey + eh + 1e-9


@SETTINGS
@given(rx=st.floats(1, 15), ry=st.floats(1, 15), r=st.floats(0, 180))
def test_ellipse_area_close_to_pi_a_b(rx, ry, r):
    m = raster.ellipse_mask(25, 25, rx, ry, r, 50, 50)
    perimeter = 2 * np.pi * max(rx, ry)
    assert abs(m.sum() - np.pi * rx * ry) <= perimeter + 4


def test_ellipse_rotation_is_clockwise_about_the_centre():
    flat = raster.ellipse_mask(20, 20, 10, 2, 0, 40, 40)
    turned = raster.ellipse_mask(20, 20, 10, 2, 90, 40, 40)
    assert np.array_equal(turned, flat.T)


@SETTINGS
@given(st.lists(st.booleans(), min_size=1, max_size=120), st.integers(1, 12))
def test_rle_round_trip(bits, width):
    height = max(1, len(bits) // width)
    m = np.resize(np.asarray(bits, dtype=bool), (height, width))
    rle = coco_encode(m)
    assert isinstance(rle["counts"], str) and rle["size"] == [height, width]
    assert np.array_equal(coco_decode(rle), m)


def test_rle_with_runs_that_do_not_fit_is_refused():
    import pytest

    with pytest.raises(ValueError, match="sum to"):
        coco_decode({"size": [2, 2], "counts": [1, 5]})


@SETTINGS
@given(st.lists(st.booleans(), min_size=64, max_size=64))
def test_outlines_rasterise_back_to_the_same_pixels(bits):
    m = np.asarray(bits, dtype=bool).reshape(8, 8)
    outers, holes = raster.mask_to_polygons(m, with_holes=True)
    painted = np.zeros_like(m)
    for ring in outers:
        painted ^= raster.polygon_mask(ring, 8, 8)
    for ring in holes:
        painted ^= raster.polygon_mask(ring, 8, 8)
    assert np.array_equal(painted, m)
    # outer areas minus hole areas equals the pixel count
    area = geometry.polygon_area(outers).sum() - geometry.polygon_area(holes).sum() if outers else 0
    assert area == m.sum()


def test_box_outline_is_four_corners():
    m = np.zeros((10, 10), bool)
    m[2:5, 3:9] = True
    (ring,) = raster.mask_to_polygons(m)
    assert sorted(zip(ring[0::2], ring[1::2], strict=False)) == [(3, 2), (3, 5), (9, 2), (9, 5)]


def test_paint_respects_z_order():
    import pandas as pd

    rows = pd.DataFrame({"type": ["bbox", "bbox"], "x": [0.0, 2.0], "y": [0.0, 2.0], "w": [6.0, 6.0],
                         "h": [6.0, 6.0], "rotation": [0.0, 0.0], "points": [None, None], "mask": [None, None],
                         "z_order": [5, 1]})
    cls, inst = raster.paint(rows, 10, 10, [1, 2], [1, 2])
    assert cls[3, 3] == 1 and inst[3, 3] == 1  # higher z_order on top
    assert cls[7, 7] == 2 and cls[9, 9] == 0


def _even_odd_fill(rings, h, w):
    """Even-odd fill of closed rings sampled at pixel centres (independent of polygon_mask)."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    inside = np.zeros((h, w), dtype=bool)
    for flat in rings:
        xs, ys = np.asarray(flat[0::2]), np.asarray(flat[1::2])
        for x0, y0, x1, y1 in zip(xs, ys, np.roll(xs, -1), np.roll(ys, -1), strict=True):
            if y0 != y1:
                inside ^= ((y0 > yy) != (y1 > yy)) & (xx < x0 + (yy - y0) * (x1 - x0) / (y1 - y0))
    return inside


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 14), st.integers(1, 14))))
def test_outlines_of_any_shape_fill_back_to_the_mask(m):
    outers, holes = raster.mask_to_polygons(m, with_holes=True)
    assert np.array_equal(_even_odd_fill(outers + holes, *m.shape), m)
    assert all(len(p) >= 8 for p in outers + holes)  # at least 4 corners: collinear points dropped


def test_diagonal_neighbours_are_separate_rings():
    m = np.zeros((5, 6), bool)
    m[1:3, 1:4] = True
    m[3, 4] = True  # touches the rectangle only at a corner (4-connectivity: another part)
    outers, holes = raster.mask_to_polygons(m, with_holes=True)
    corners = sorted(sorted(zip(r[0::2], r[1::2], strict=True)) for r in outers)
    assert corners == [[(1, 1), (1, 3), (4, 1), (4, 3)], [(4, 3), (4, 4), (5, 3), (5, 4)]]
    assert holes == []


def test_large_noisy_mask_outlines_match_its_pixel_count():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:300, :300]
    m = ((xx - 150) ** 2 + (yy - 140) ** 2 < 100 ** 2) ^ (rng.random((300, 300)) < 0.01)
    outers, holes = raster.mask_to_polygons(m, with_holes=True)
    assert geometry.polygon_area(outers).sum() - geometry.polygon_area(holes).sum() == m.sum()
    assert len(outers) > 50 and len(holes) > 50
