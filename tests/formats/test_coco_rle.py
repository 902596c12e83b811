"""The COCO RLE checks against pycocotools, and ellipse rasterisation, as properties."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from annowidgets.core.masks import coco_decode, rle_area
from annowidgets.formats import coco_rle

masks = st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31 - 1)).map(
    lambda t: np.random.default_rng(t[2]).random((t[0], t[1])) < 0.4)


@settings(max_examples=40, deadline=None)
@given(masks)
def test_compressed_counts_decode_like_pycocotools(m):
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    runs = coco_rle.decode_counts(rle["counts"].decode())
    assert sum(runs) == m.size
    flat = m.flatten(order="F")
    rebuilt = np.repeat(np.arange(len(runs)) % 2, runs).astype(bool)
    assert np.array_equal(rebuilt, flat)
    norm = coco_rle.normalize_rle({"size": list(m.shape), "counts": rle["counts"]})
    assert np.array_equal(coco_decode(norm), m)


@settings(max_examples=40, deadline=None)
@given(masks)
def test_uncompressed_counts_compress_to_the_same_mask(m):
    flat = m.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0] + runs
    rle = coco_rle.normalize_rle({"size": list(m.shape), "counts": runs})
    assert np.array_equal(coco_decode(rle), m)
    assert rle_area([rle])[0] == m.sum()


@settings(max_examples=30, deadline=None)
@given(st.floats(3, 30), st.floats(3, 30), st.floats(-180, 180))
def test_ellipse_area_is_pi_a_b(rx, ry, rot):
    m = coco_rle.ellipse_mask(50 - rx, 50 - ry, 2 * rx, 2 * ry, rot, 100, 100)
    exact = np.pi * rx * ry
    assert abs(m.sum() - exact) <= 4 * (rx + ry) + 4  # the boundary pixels at most
    # symmetric about its centre
    assert np.array_equal(m, m[::-1, ::-1])


def test_ellipse_rotation_is_clockwise_in_pixels():
    # a wide ellipse rotated 90 degrees stands upright
    m = coco_rle.ellipse_mask(10, 40, 80, 20, 90, 100, 100)
    ys, xs = np.nonzero(m)
    assert np.ptp(ys) > 70 and np.ptp(xs) < 22
