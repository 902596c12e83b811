"""CVAT tight-box RLE <-> COCO RLE: worked example, property round trips, hostile runs."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from annowidgets.core import masks
from annowidgets.core.errors import FormatError

EXAMPLE = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 0]], dtype=bool)


def test_worked_example_from_the_notes():
    runs = masks.encode_cvat_rle(EXAMPLE)
    assert masks.format_cvat_rle(runs) == "1, 2, 1, 4, 1, 2, 1"
    back = masks.decode_cvat_rle(masks.parse_cvat_rle("1, 2, 1, 4, 1, 2, 1"), 4, 3)
    np.testing.assert_array_equal(back, EXAMPLE)


def test_first_pixel_set_starts_with_zero_run():
    m = np.array([[1, 0], [0, 1]], dtype=bool)
    assert masks.encode_cvat_rle(m).tolist() == [0, 1, 2, 1]


def test_placed_in_image_and_back():
    coco = masks.cvat_to_coco([1, 2, 1, 4, 1, 2, 1], 10, 20, 4, 3, 64, 48)
    assert coco["size"] == [48, 64]
    full = masks.coco_decode(coco)
    np.testing.assert_array_equal(full[20:23, 10:14], EXAMPLE)
    assert full.sum() == EXAMPLE.sum()
    runs, left, top, w, h = masks.coco_to_cvat(coco, (10, 20, 4, 3))
    assert (masks.format_cvat_rle(runs), left, top, w, h) == ("1, 2, 1, 4, 1, 2, 1", 10, 20, 4, 3)
    np.testing.assert_array_equal(masks.rle_bbox([coco])[0], [10, 20, 4, 3])
    assert masks.rle_area([coco])[0] == 8


masks_st = st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
    lambda hw: st.one_of(
        arrays(bool, hw),
        st.just(np.zeros(hw, dtype=bool)),
        st.just(np.ones(hw, dtype=bool)),
        arrays(bool, hw).map(lambda a: _with_first(a)),
    ))


def _with_first(a):
    a = a.copy()
    a.flat[0] = True
    return a


@settings(max_examples=60, deadline=None)
@given(masks_st)
def test_cvat_rle_round_trip(m):
    runs = masks.encode_cvat_rle(m)
    assert runs.sum() == m.size
    assert (runs[1:] > 0).all()
    np.testing.assert_array_equal(masks.decode_cvat_rle(runs, m.shape[1], m.shape[0]), m)


@settings(max_examples=40, deadline=None)
@given(masks_st, st.integers(0, 5), st.integers(0, 5))
def test_cvat_to_coco_round_trip(m, left, top):
    h, w = m.shape
    runs = masks.encode_cvat_rle(m)
    coco = masks.cvat_to_coco(runs, left, top, w, h, w + left + 3, h + top + 2)
    runs2, l2, t2, w2, h2 = masks.coco_to_cvat(coco, (left, top, w, h))
    assert (l2, t2, w2, h2) == (left, top, w, h)
    np.testing.assert_array_equal(runs2, runs)
    assert masks.rle_area([coco])[0] == m.sum()


@pytest.mark.parametrize("runs, msg", [([1, 2, 1], "sum to 4"), ([13, -1], "negative")])
def test_bad_runs_are_refused(runs, msg):
    with pytest.raises(FormatError, match=msg) as err:
        masks.cvat_to_coco(runs, 0, 0, 4, 3, 10, 10, file="a.xml", line=7)
    assert err.value.line == 7 and err.value.element == "mask"


def test_box_outside_image_is_refused():
    with pytest.raises(FormatError, match="outside"):
        masks.cvat_to_coco([12], 8, 0, 4, 3, 10, 10)


def test_junk_rle_text():
    with pytest.raises(FormatError, match="integers"):
        masks.parse_cvat_rle("1, x, 2")
