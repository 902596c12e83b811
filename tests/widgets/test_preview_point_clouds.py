"""The preview shows point clouds from above: PCD/KITTI points read without a Python object per
point, 3D cuboids drawn and matched as their footprints."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import annowidgets as aw
from annowidgets.core import pcd, top_view
from annowidgets.core.errors import FormatError


def _pcd_binary(xyz: np.ndarray) -> bytes:
    n = len(xyz)
    head = (f"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 2\nTYPE F F F U\nCOUNT 1 1 1 1\n"
            f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary\n").encode()
    rec = np.zeros(n, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("i", "<u2")])
    rec["x"], rec["y"], rec["z"], rec["i"] = xyz[:, 0], xyz[:, 1], xyz[:, 2], 7
    return head + rec.tobytes()


def _pcd_ascii(xyz: np.ndarray) -> bytes:
    head = (f"VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH {len(xyz)}\nHEIGHT 1\n"
            f"POINTS {len(xyz)}\nDATA ascii\n").encode()
    return head + "".join(f"{x} {y} {z}\n" for x, y, z in xyz).encode()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(*[st.floats(-100, 100, width=32)] * 3), min_size=1, max_size=40))
def test_pcd_binary_ascii_and_kitti_bin_give_the_same_points(pts):
    xyz = np.asarray(pts, dtype=np.float32)
    assert np.array_equal(pcd.read_xyz(_pcd_binary(xyz)), xyz)
    assert np.allclose(pcd.read_xyz(_pcd_ascii(xyz)), xyz)
    kitti = np.concatenate([xyz, np.ones((len(xyz), 1), np.float32)], axis=1).tobytes()
    assert np.array_equal(pcd.read_xyz(kitti), xyz)


@pytest.mark.parametrize("data, message", [
    (b"VERSION .7\nFIELDS x y\nDATA ascii\n1 2\n", "expected x, y and z"),
    (b"VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nPOINTS 5\nDATA binary_compressed\n", "only ascii"),
    (b"VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nPOINTS 5\nDATA binary\n\0\0", "5 points need 60"),
    (b"\0" * 15, "neither a PCD header"),
])
def test_broken_point_clouds_are_named_errors(data, message):
    with pytest.raises(FormatError, match=message):
        pcd.read_xyz(data, "scan.pcd")


def _scene(tmp_path) -> aw.Dataset:
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-15, 15, (2000, 3)).astype(np.float32)
    (tmp_path / "scan.pcd").write_bytes(_pcd_binary(xyz))
    items = pd.DataFrame({"item_id": [0], "name": ["scan.pcd"], "media": [str(tmp_path / "scan.pcd")], "frame": [0],
                          "kind": "point_cloud"})
    gt = [5.0, 2.0, 0.0, 0.0, 0.0, np.pi / 2, 4.0, 2.0, 1.5]  # 4 m long along y after the quarter turn
    close = [5.2, 2.1, 0.0, 0.0, 0.0, np.pi / 2, 4.0, 2.0, 1.5]
    far = [-8.0, -8.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 1.5]
    ann = pd.DataFrame([
        dict(ann_id=0, item_id=0, label="car", type="cuboid_3d", points=gt),
        dict(ann_id=1, item_id=0, label="car", type="cuboid_3d", points=close, source="prediction", score=0.9),
        dict(ann_id=2, item_id=0, label="car", type="cuboid_3d", points=far, source="prediction", score=0.8)])
    return aw.Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": ["car"]})).validate()


def test_cuboids_become_footprints_in_one_frame(tmp_path):
    ds = _scene(tmp_path)
    top, frame = top_view.as_top_view(ds)
    assert frame.radius >= 20 and frame.size == 800
    gt = top.annotations.iloc[0]
    assert gt["type"] == "bbox" and gt["rotation"] == pytest.approx(-90.0)
    s = frame.scale
    assert (gt["w"], gt["h"]) == pytest.approx((4 * s, 2 * s))
    assert (gt["x"] + gt["w"] / 2, gt["y"] + gt["h"] / 2) == pytest.approx(((5 + frame.radius) * s,
                                                                           (frame.radius - 2) * s))
    assert ds.annotations["type"].eq("cuboid_3d").all()  # the caller's dataset is not changed
    assert top_view.as_top_view(aw.Dataset(items=pd.DataFrame({"item_id": [0], "name": ["a.png"]})))[1] is None


def test_preview_draws_the_cloud_and_matches_cuboids(tmp_path, comm):
    p = aw.Preview(_scene(tmp_path))
    comm(p)
    assert p.item["width"] == p.item["height"] == 800 and not p.item["image_error"]
    with Image.open(io.BytesIO(p.image)) as im:
        assert im.size == (800, 800) and np.asarray(im).max() > 0
    assert len(p.shapes["type"]) == 3
    (summary,) = p.summary.values()
    assert (summary["tp"], summary["fp"], summary["fn"]) == (1, 1, 0)
