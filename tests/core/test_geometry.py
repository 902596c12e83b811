"""Property tests for the geometry conversions every format relies on."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from annowidgets.core import geometry as g

coord = st.floats(-1e4, 1e4, allow_nan=False)
size = st.floats(0.01, 1e4, allow_nan=False)
angle = st.floats(-720, 720, allow_nan=False)
box = st.tuples(coord, coord, size, size, angle)


@given(box)
def test_topleft_and_centre_rotation_are_inverse(b):
    x, y, w, h, r = b
    cx, cy = g.topleft_to_centre(x, y, w, h, r)
    x2, y2 = g.centre_to_topleft(cx, cy, w, h, r)
    assert np.allclose([x2, y2], [x, y], atol=1e-6 * (1 + abs(x) + abs(y) + w + h))


@given(box)
def test_label_studio_corner_stays_put(b):
    """LS rotates about (x, y): that corner of the rotated box must be where LS put it."""
    x, y, w, h, r = b
    cx, cy = g.topleft_to_centre(x, y, w, h, r)
    corners = g.box_corners(cx, cy, w, h, r)
    assert np.allclose(corners[0], [x, y], atol=1e-6 * (1 + abs(x) + abs(y) + w + h))


@given(box)
def test_corners_round_trip(b):
    x, y, w, h, r = b
    c = g.box_corners(x, y, w, h, r)
    x2, y2, w2, h2, r2 = (v[0] for v in g.corners_to_box(c))
    tol = 1e-6 * (1 + abs(x) + abs(y) + w + h)
    assert np.allclose([x2, y2, w2, h2], [x, y, w, h], atol=tol)
    assert np.allclose(g.box_corners(x2, y2, w2, h2, r2), c, atol=tol)


@given(box)
def test_enclosing_box_holds_every_corner(b):
    x, y, w, h, r = b
    ex, ey, ew, eh = (np.asarray(v).item() for v in g.enclosing_box(x, y, w, h, r))
    c = g.box_corners(x, y, w, h, r)
    tol = 1e-6 * (1 + abs(x) + abs(y) + w + h)
    assert (c[:, 0] >= ex - tol).all() and (c[:, 0] <= ex + ew + tol).all()
    assert (c[:, 1] >= ey - tol).all() and (c[:, 1] <= ey + eh + tol).all()
    assert ew * eh >= w * h * (1 - 1e-9) - tol


def test_label_studio_rotated_box_enclosure_in_pixels():
    """The 30° box on the 120×80 sample image: the true box, not LS's percent-space one."""
    x, y = g.pct_to_px(60, 120), g.pct_to_px(10, 80)
    w, h = g.pct_to_px(20, 120), g.pct_to_px(40, 80)
    cx, cy = g.topleft_to_centre(x, y, w, h, 30)
    ex, ey, ew, eh = (np.asarray(v).item() for v in g.enclosing_box(cx, cy, w, h, 30))
    assert np.allclose([ex, ey, ew, eh], [56.0, 8.0, 36.785, 39.713], atol=1e-3)


polys = st.lists(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=0, max_size=20).map(
    lambda v: v[: len(v) // 2 * 2]), min_size=1, max_size=8)


@given(polys)
def test_polygon_area_and_bbox_match_a_plain_loop(ps):
    areas = g.polygon_area(ps)
    bx, by, bw, bh = g.points_bbox(ps)
    for i, p in enumerate(ps):
        xs, ys = np.array(p[0::2]), np.array(p[1::2])
        expect = 0.0
        if len(xs) >= 3:
            expect = 0.5 * abs(sum(xs[k] * ys[(k + 1) % len(xs)] - xs[(k + 1) % len(xs)] * ys[k]
                                   for k in range(len(xs))))
        assert np.isclose(areas[i], expect, rtol=1e-9, atol=1e-6)
        if len(xs):
            assert np.allclose([bx[i], by[i], bw[i], bh[i]], [xs.min(), ys.min(), np.ptp(xs), np.ptp(ys)])
        else:
            assert np.isnan(bx[i])


boxes = st.lists(st.tuples(coord, coord, size, size), min_size=1, max_size=6)


@settings(max_examples=50)
@given(boxes, boxes)
def test_iou_is_symmetric_bounded_and_one_on_itself(a, b):
    m = g.iou_matrix(a, b)
    assert m.shape == (len(a), len(b))
    assert ((m >= 0) & (m <= 1 + 1e-9)).all()
    assert np.allclose(m, g.iou_matrix(b, a).T)
    assert np.allclose(np.diag(g.iou_matrix(a, a)), 1.0)
