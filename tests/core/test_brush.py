"""Label Studio brush RLE: the worked example, the real fixture masks, round trips, bad streams."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from annowidgets.core import brush
from annowidgets.core.errors import FormatError

WORKED = [0, 0, 0, 16, 57, 27, 252, 96, 22, 255, 192]


def test_worked_example_both_ways():
    m = np.array([[0, 255], [255, 255]], np.uint8)
    assert brush.encode(m) == WORKED
    assert np.array_equal(brush.decode(WORKED, 2, 2), m)


def _fixture_brushes(ls_dir):
    tasks = json.loads((ls_dir / "input/image/tasks.json").read_text())
    for task in tasks:
        for ann in task.get("annotations", []):
            for r in ann["result"]:
                if r["type"] == "brushlabels":
                    yield task["id"], r


@pytest.mark.fixtures
def test_fixture_masks_match_reference_numpy(ls_dir):
    seen = 0
    for task_id, r in _fixture_brushes(ls_dir):
        label = r["value"]["brushlabels"][0]
        ref_path = next((ls_dir / "output/image/BRUSH_TO_NUMPY").glob(f"task-{task_id}-*-{label}-0.npy"))
        ref = np.load(ref_path)
        m = brush.decode(r["value"]["rle"], r["original_height"], r["original_width"])
        assert m.shape == (80, 120) and m.dtype == np.uint8
        assert np.array_equal(m, ref)
        # the frontend-style encoder reproduces Label Studio's bytes exactly
        assert brush.encode(m) == r["value"]["rle"]
        seen += 1
    assert seen == 2


@pytest.mark.fixtures
def test_sky_mask_values(ls_dir):
    r = next(r for _, r in _fixture_brushes(ls_dir) if r["id"] == "b_sky")
    m = brush.decode(r["value"]["rle"], 80, 120)
    assert set(np.unique(m).tolist()) == {0, 255}
    assert int((m > 0).sum()) > 0


masks = hnp.arrays(np.uint8, st.tuples(st.integers(1, 24), st.integers(1, 24)),
                   elements=st.sampled_from([0, 0, 0, 255, 255, 128, 17]))


@settings(max_examples=60, deadline=None)
@given(masks)
def test_round_trip_random_masks(m):
    assert np.array_equal(brush.decode(brush.encode(m), *m.shape), m)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=1, max_size=300))
def test_round_trip_literal_heavy_words(words):
    w = np.array(words, np.uint8)
    assert np.array_equal(brush.decode_words(brush.encode_words(w)), w)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(1, 40000))
def test_round_trip_runs_longer_than_65536(a, b, cut):
    m = np.full((200, 300), a, np.uint8)  # 240000 words of one value: split into pieces
    m.flat[cut:] = b
    m.flat[cut // 2] = (a + 1) % 256
    assert np.array_equal(brush.decode(brush.encode(m), 200, 300), m)


def test_long_literal_chunk_is_split():
    w = (np.arange(70000) % 2).astype(np.uint8)  # 70000 distinct neighbours: two literal chunks
    assert np.array_equal(brush.decode_words(brush.encode_words(w)), w)


def test_wrong_size_is_format_error():
    with pytest.raises(FormatError, match="H\\*W\\*4"):
        brush.decode(WORKED, 3, 2)


def test_truncated_stream_is_format_error():
    with pytest.raises(FormatError, match="truncated"):
        brush.decode(WORKED[:8], 2, 2)


def test_runs_overrunning_n_is_format_error():
    # N says 8 words, but the records produce 4 + 12
    bad = [0, 0, 0, 8] + WORKED[4:]
    with pytest.raises(FormatError, match="overruns"):
        brush.decode_words(bad)


def test_coco_bridge_threshold():
    m = np.array([[0, 128], [255, 1]], np.uint8)
    assert brush.from_coco(brush.to_coco(m)).tolist() == [[0, 1], [1, 1]]
    assert brush.from_coco(brush.to_coco(m, threshold=128)).tolist() == [[0, 1], [1, 0]]
    assert brush.coco_bbox(brush.to_coco(m, threshold=200)) == (0.0, 1.0, 1.0, 1.0)
