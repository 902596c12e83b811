"""IoU matching: the vectorised pair walk equals plain per-group greedy matching (property test)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from annowidgets.core import matching as m
from annowidgets.core import schema


def _reference(ann: pd.DataFrame, iou_thr: float, score_thr: float) -> dict[str, np.ndarray]:
    """Per layer, per (item, label): sort predictions by score and call greedy_match."""
    layer = m.layer_keys(ann)
    boxes, usable = m.match_boxes(ann)
    scores = ann["score"].to_numpy(np.float64, na_value=np.nan)
    usable &= ~((layer != "annotation") & (scores < score_thr))
    out = {}
    for key in sorted(set(layer) - {"annotation"}):
        status = np.zeros(len(ann), dtype=np.uint8)
        for _, g in ann.groupby(["item_id", "label"]):
            idx = g.index.to_numpy()
            gt = idx[(layer[idx] == "annotation") & usable[idx]]
            pr = idx[(layer[idx] == key) & usable[idx]]
            hit = m.greedy_match(boxes[gt], boxes[pr], scores[pr], iou_thr)
            status[pr] = np.where(hit >= 0, m.TP, m.FP)
        out[key] = status
    return out


box = st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 30), st.integers(1, 30))
row = st.tuples(st.integers(0, 2), st.sampled_from(["a", "b"]), st.sampled_from([None, "v1", "v2"]),
                st.one_of(st.none(), st.floats(0, 1)), box)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(row, max_size=30), iou_thr=st.sampled_from([0.1, 0.3, 0.5, 0.7]),
       score_thr=st.sampled_from([0.0, 0.5]))
def test_vectorised_equals_reference(rows, iou_thr, score_thr):
    ann = schema.conform("annotations", {
        "ann_id": list(range(len(rows))), "item_id": [r[0] for r in rows], "label": [r[1] for r in rows],
        "source": ["annotation" if r[2] is None else "prediction" for r in rows],
        "model_version": [r[2] for r in rows], "score": [np.nan if r[3] is None else r[3] for r in rows],
        "x": [r[4][0] for r in rows], "y": [r[4][1] for r in rows], "w": [r[4][2] for r in rows],
        "h": [r[4][3] for r in rows]})
    got = m.match(ann, iou_thr, score_thr)
    want = _reference(ann, iou_thr, score_thr)
    for key, status in want.items():
        mask = got.layer == key
        np.testing.assert_array_equal(got.status[mask], status[mask])
        # every matched pair really overlaps enough and shares item and label
        pairs = np.flatnonzero(mask & (got.status == m.TP))
        for p in pairs:
            g = got.partner[p]
            assert ann.at[g, "label"] == ann.at[p, "label"] and ann.at[g, "item_id"] == ann.at[p, "item_id"]
            b = ann.loc[[p, g], ["x", "y", "w", "h"]].to_numpy(float)
            assert m.geometry.iou_matrix(b[:1], b[1:])[0, 0] >= iou_thr
        # each annotation is matched at most once per layer
        partners = got.partner[pairs]
        assert len(partners) == len(set(partners.tolist())) == int(got.gt_matched[key].sum())


def test_rotated_boxes_match_on_their_enclosing_box():
    ann = schema.conform("annotations", {
        "ann_id": [0, 1], "item_id": [0, 0], "label": ["a", "a"], "source": ["annotation", "prediction"],
        "model_version": [None, "v"], "score": [np.nan, 0.9],
        "x": [0, 0], "y": [0, 0], "w": [10, 10], "h": [10, 10], "rotation": [0, 45]})
    # the 45 degree square's enclosing box is 14.14 wide, centred: IoU = 100 / 200 = 0.5
    assert m.match(ann, 0.49).status[1] == m.TP
    assert m.match(ann, 0.51).status[1] == m.FP


def test_tags_and_points_never_match():
    ann = schema.conform("annotations", {
        "ann_id": [0, 1, 2, 3], "item_id": [0] * 4, "label": ["a"] * 4, "type": ["tag", "tag", "points", "points"],
        "source": ["annotation", "prediction"] * 2, "model_version": [None, "v"] * 2, "score": [np.nan, 1.0] * 2,
        "x": [np.nan, np.nan, 5, 5], "y": [np.nan, np.nan, 5, 5], "w": [np.nan, np.nan, 0, 0],
        "h": [np.nan, np.nan, 0, 0]})
    r = m.match(ann)
    assert r.status.tolist() == [0, 0, 0, 0] and not r.usable.any()
