"""CVAT's segment maths: sizes, defaults and caps, and the invariants every split keeps."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from annowidgets.workspace.segments import effective, segments


def test_cvat_example():
    assert segments(10, 5, 2) == [(0, 4), (3, 7), (6, 9)]


def test_no_or_large_segment_size_gives_one_job():
    assert segments(10, None, 0) == [(0, 9)]
    assert segments(10, 0, 0) == [(0, 9)]
    assert segments(10, 50, 0) == [(0, 9)]


def test_default_overlap_by_mode_and_cap():
    assert effective(100, 20, None, "interpolation") == (20, 5)
    assert effective(100, 20, None, "annotation") == (20, 0)
    assert effective(100, 6, None, "interpolation") == (6, 3)  # capped at segment_size // 2
    assert effective(100, 4, 9, "annotation") == (4, 2)
    assert segments(12, 6, None, "interpolation") == [(0, 5), (3, 8), (6, 11)]


def test_empty_and_single_frame():
    assert segments(0, 5, 0) == []
    assert segments(1, 5, 2) == [(0, 0)]
    assert segments(7, 1, 3) == [(i, i) for i in range(7)]


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 400), seg=st.integers(0, 120), ov=st.one_of(st.none(), st.integers(0, 80)),
       mode=st.sampled_from(["annotation", "interpolation"]))
def test_segments_cover_every_frame_with_the_stated_overlap(size, seg, ov, mode):
    segs = segments(size, seg, ov, mode)
    s, o = effective(size, seg, ov, mode)
    assert segs[0][0] == 0 and segs[-1][1] == size - 1
    covered = set()
    for a, b in segs:
        assert 0 <= a <= b < size and b - a + 1 <= s
        covered.update(range(a, b + 1))
    assert covered == set(range(size))
    for (a0, b0), (a1, _b1) in zip(segs, segs[1:], strict=False):
        assert a1 - a0 == s - o  # CVAT's step
        assert b0 - a1 + 1 == o  # consecutive jobs share exactly `overlap` frames
