"""Track interpolation as CVAT exports it, with hand-computed expectations."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annowidgets.core import schema, tracks


def _ann(rows):
    return schema.conform("annotations", pd.DataFrame(rows))


def _box(ann_id, frame, x, y, w, h, **kw):
    row = dict(ann_id=ann_id, item_id=0, frame=frame, track_id=kw.pop("track_id", 0), label="car", type="bbox",
               x=x, y=y, w=w, h=h, keyframe=True, attributes=kw.pop("attributes", {}))
    row.update(kw)
    return row


def test_box_linear_between_keyframes():
    ann = _ann([_box(0, 0, 0, 0, 10, 10), _box(1, 4, 4, 0, 10, 10, outside=True)])
    out = tracks.interpolate(ann, stop=9)
    assert out["frame"].tolist() == [0, 1, 2, 3, 4]
    f2 = out[out["frame"] == 2].iloc[0]
    assert (f2.x, f2.y, f2.x + f2.w, f2.y + f2.h) == (2, 0, 12, 10)
    assert out["keyframe"].tolist() == [True, False, False, False, True]
    assert out["outside"].tolist() == [False] * 4 + [True]
    vis = tracks.interpolate(ann, stop=9, visible_only=True)
    assert vis["frame"].tolist() == [0, 1, 2, 3]
    assert out["ann_id"].is_unique


def test_last_visible_keyframe_repeats_to_the_end_and_steps():
    ann = _ann([_box(0, 10, 0, 0, 4, 4), _box(1, 16, 6, 0, 4, 4)])
    out = tracks.interpolate(ann, start=10, step=3, stop=22)
    assert out["frame"].tolist() == [10, 13, 16, 19, 22]
    assert out["x"].tolist() == [0, 3, 6, 6, 6]
    assert out["keyframe"].tolist() == [True, False, True, False, False]


def test_outside_gap_then_reappears():
    ann = _ann([_box(0, 0, 0, 0, 2, 2), _box(1, 2, 2, 0, 2, 2, outside=True), _box(2, 5, 5, 5, 2, 2, outside=True)])
    out = tracks.interpolate(ann, stop=7)
    assert out["frame"].tolist() == [0, 1, 2, 5]


def test_rotation_shortest_arc_and_attributes_carry_over():
    ann = _ann([_box(0, 0, 0, 0, 2, 2, rotation=350.0, attributes={"speed": "1", "model": "a"}),
                _box(1, 2, 0, 0, 2, 2, rotation=10.0, attributes={"speed": "2"})])
    out = tracks.interpolate(ann, stop=2)
    assert out["rotation"].tolist() == [350.0, 0.0, 10.0]
    assert out["attributes"].tolist()[2] == {"speed": "2", "model": "a"}
    assert out["attributes"].tolist()[1] == {"speed": "1", "model": "a"}


def test_angle_diff_cvat_quirk_at_180():
    assert tracks.angle_diff(180.0, 0.0) == 1.0
    assert tracks.angle_diff(90.0, 0.0) == 90.0
    assert tracks.angle_diff(0.0, 270.0) == 90.0


def test_points_single_linear_several_copied():
    one = [dict(ann_id=0, frame=0, track_id=0, type="points", points=[0.0, 0.0], keyframe=True),
           dict(ann_id=1, frame=2, track_id=0, type="points", points=[4.0, 2.0], keyframe=True, outside=True)]
    many = [dict(ann_id=2, frame=0, track_id=1, type="points", points=[0.0, 0.0, 1.0, 1.0], keyframe=True),
            dict(ann_id=3, frame=2, track_id=1, type="points", points=[4.0, 2.0, 5, 5], keyframe=True,
                 outside=True)]
    out = tracks.interpolate(_ann(one + many), stop=5)
    mid = out[out["frame"] == 1].set_index("track_id")["points"]
    assert mid[0] == [2.0, 1.0]
    assert mid[1] == [0.0, 0.0, 1.0, 1.0]


def test_polyline_same_vertices_blends_linearly():
    a, b = [0.0, 0.0, 10.0, 0.0, 20.0, 0.0], [0.0, 10.0, 10.0, 10.0, 20.0, 10.0]
    assert tracks.blend_curves(a, b, 0.5) == [0.0, 5.0, 10.0, 5.0, 20.0, 5.0]


def test_polygon_extra_vertex_is_matched_and_thinned():
    sq = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]
    sq5 = [0.0, 0.0, 5.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]
    mid = tracks.blend_curves(sq, sq5, 0.5, closed=True)
    # the extra vertex lies on the edge, so the blend stays the same square outline
    pts = np.asarray(mid).reshape(-1, 2)
    assert pts[:, 0].min() == 0 and pts[:, 0].max() == 10 and pts[:, 1].max() == 10
    assert tracks.blend_curves(sq, sq, 0.3, closed=True) == sq


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 50), st.integers(-50, 50)), min_size=2, max_size=6, unique=True))
def test_blend_endpoints(points):
    flat = [float(c) for p in points for c in p]
    assert tracks.blend_curves(flat, flat, 0.0) == pytest.approx(flat)


def test_keyframes_only_inverse():
    ann = _ann([_box(0, 0, 0, 0, 10, 10), _box(1, 4, 4, 0, 10, 10)])
    out = tracks.interpolate(ann, stop=6)
    back = tracks.keyframes_only(out)
    assert back["ann_id"].tolist() == [0, 1]
    no_kf = _ann([_box(0, 0, 0, 0, 1, 1, keyframe=False), _box(1, 1, 0, 0, 1, 1, keyframe=False)])
    assert tracks.keyframes_only(no_kf)["keyframe"].all()


def test_skeleton_points_follow_their_track():
    rows = [dict(ann_id=0, frame=0, track_id=0, type="skeleton", label="body", keyframe=True),
            dict(ann_id=1, frame=0, parent_id=0, type="points", label="head", points=[0.0, 0.0], keyframe=True),
            dict(ann_id=2, frame=2, track_id=0, type="skeleton", label="body", keyframe=True),
            dict(ann_id=3, frame=2, parent_id=2, type="points", label="head", points=[2.0, 4.0], keyframe=True)]
    out = tracks.interpolate(_ann(rows), stop=3)
    kids = out[out["parent_id"].notna()].sort_values("frame")
    assert kids["points"].tolist() == [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [2.0, 4.0]]
    par = out.set_index("ann_id")["frame"]
    assert (par.loc[kids["parent_id"].astype(int)].to_numpy() == kids["frame"].to_numpy()).all()


def test_cuboid_3d_moves_linearly_and_turns_the_short_way():
    a = [0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 2.0, 1.5]
    b = [4.0, 2.0, 1.0, 0.0, 0.0, -3.0, 6.0, 2.0, 1.5]  # 3 rad -> -3 rad: 0.28 rad through pi, not 6 back
    ann = _ann([dict(ann_id=0, item_id=0, frame=0, track_id=1, label="car", type="cuboid_3d", points=a,
                     keyframe=True),
                dict(ann_id=1, item_id=0, frame=4, track_id=1, label="car", type="cuboid_3d", points=b,
                     keyframe=True)])
    out = tracks.interpolate(ann, stop=4)
    mid = np.asarray(out.loc[out["frame"] == 2, "points"].iloc[0])
    assert mid[:3] == pytest.approx([2.0, 1.0, 0.5]) and mid[6:] == pytest.approx([5.0, 2.0, 1.5])
    assert np.cos(mid[5]) == pytest.approx(-1.0, abs=1e-9)  # half way along the short arc is pi
    assert out["x"].isna().all()  # no image-plane box for a 3D cuboid
