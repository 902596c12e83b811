"""Mask -> polygon outlines: filling the loops (even-odd at pixel centres) gives the mask back."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from annowidgets.formats._mask_poly import mask_loops


def _fill(loops, h, w):
    """Even-odd fill of closed loops sampled at pixel centres."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    inside = np.zeros((h, w), dtype=bool)
    for flat in loops:
        xs, ys = np.asarray(flat[0::2]), np.asarray(flat[1::2])
        x2, y2 = np.roll(xs, -1), np.roll(ys, -1)
        for x0, y0, x1, y1 in zip(xs, ys, x2, y2, strict=True):
            if y0 == y1:
                continue
            cross = ((y0 > yy) != (y1 > yy)) & (xx < x0 + (yy - y0) * (x1 - x0) / (y1 - y0))
            inside ^= cross
    return inside


@settings(max_examples=30, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_outlines_fill_back_to_the_mask(m):
    outer, holes = mask_loops(m)
    assert np.array_equal(_fill(outer + holes, *m.shape), m)
    assert all(len(p) >= 8 for p in outer + holes)


def test_rectangle_is_four_corners_and_diagonals_stay_apart():
    m = np.zeros((5, 6), bool)
    m[1:3, 1:4] = True
    m[3, 4] = True  # touches the rectangle only at a corner
    outer, holes = mask_loops(m)
    assert outer == [[1.0, 1.0, 4.0, 1.0, 4.0, 3.0, 1.0, 3.0], [4.0, 3.0, 5.0, 3.0, 5.0, 4.0, 4.0, 4.0]]
    assert holes == []
