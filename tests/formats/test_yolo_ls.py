"""Label Studio YOLO layouts against the SDK's reference outputs, minus the SDK's bugs.

The tables come from the LS samples (``ls_tables``). Where the reference is wrong, the test
says so and checks the right value instead:
- rotated rectangle in plain YOLO: the SDK drops the rotation (``1 0.7 0.3 0.2 0.4``); we
  write the enclosing box computed in pixels and report it;
- polygons in YOLO_OBB: the SDK writes polygon lines into OBB files (not OBB); we report them;
- YOLO_OBB with a KeyPointLabels config: the SDK writes pose lines; we write OBB corners.
"""
from __future__ import annotations

import shutil

import numpy as np
import orjson
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core import geometry
from annowidgets.core.dataset import Dataset
from annowidgets.core.errors import FormatError

from ._yolo_tables import assert_same_shapes, export, ls_tables, synthetic

FILES = ("a1b2c3d4-street.txt", "e5f6a7b8-park.txt", "c9d0e1f2-empty.txt", "0a1b2c3d-legacy.txt")


def _lines(path) -> list[list[float]]:
    return [[float(v) for v in ln.split()] for ln in path.read_text().splitlines() if ln.strip()]


def _same(ours, ref):
    assert len(ours) == len(ref), (ours, ref)
    for a, b in zip(ours, ref, strict=True):
        assert len(a) == len(b), (a, b)
        np.testing.assert_allclose(a, b, atol=1e-6)


def _enclosing_line(cls, x, y, w, h, rot, W=120, H=80):
    ex, ey, ew, eh = (float(np.ravel(v)[0]) for v in geometry.enclosing_box(x, y, w, h, rot))
    return [cls, (ex + ew / 2) / W, (ey + eh / 2) / H, ew / W, eh / H]


# the 30° person box of the sample: LS x=60% y=10% w=20% h=40% rotated about its top-left corner
_PX = 72.0, 8.0, 24.0, 32.0
_CX, _CY = (float(v) for v in geometry.topleft_to_centre(*_PX, 30))


@pytest.fixture(scope="module")
def det(ls_dir):
    return ls_tables(ls_dir / "input" / "image_det")


@pytest.fixture(scope="module")
def kp(ls_dir):
    return ls_tables(ls_dir / "input" / "image")


def test_yolo_matches_reference(det, ls_dir, tmp_path):
    out = export(det, tmp_path, "YOLO")
    ref = ls_dir / "output" / "image_det" / "YOLO"
    assert (tmp_path / "out/classes.txt").read_text().split() == (ref / "classes.txt").read_text().split()
    notes = orjson.loads((tmp_path / "out/notes.json").read_bytes())
    assert notes["categories"] == orjson.loads((ref / "notes.json").read_bytes())["categories"]
    for f in FILES:
        ours, theirs = _lines(tmp_path / "out/labels" / f), _lines(ref / "labels" / f)
        if f.startswith("a1b2"):
            # reference bug: rotation dropped. Right value: the enclosing box, in pixels.
            assert theirs[1] == [1, 0.7, 0.3, 0.2, 0.4]
            theirs[1] = _enclosing_line(1, _CX, _CY, 24, 32, 30)
        _same(ours, theirs)
    reasons = [e.reason for e in out.loss.entries]
    assert any("rotation approximated" in r for r in reasons)
    assert any("predictions are not written" in r for r in reasons)


def test_yolo_obb_matches_reference(det, ls_dir, tmp_path):
    out = export(det, tmp_path, "YOLO_OBB")
    ref = ls_dir / "output" / "image_det" / "YOLO_OBB"
    dropped = {"a1b2c3d4-street.txt": [2], "e5f6a7b8-park.txt": [0]}  # reference bug: polygon lines in OBB
    for f in FILES:
        theirs = [ln for i, ln in enumerate(_lines(ref / "labels" / f)) if i not in dropped.get(f, [])]
        _same(_lines(tmp_path / "out/labels" / f), theirs)
    assert any("carries only bbox" in e.reason and len(e.rows) >= 2 for e in out.loss.entries)
    # the rotated box's corners are box_corners in pixels, normalised
    street = _lines(tmp_path / "out/labels/a1b2c3d4-street.txt")
    corners = geometry.box_corners(_CX, _CY, 24, 32, 30).reshape(4, 2) / [120, 80]
    np.testing.assert_allclose(np.reshape(street[1][1:], (4, 2)), corners, atol=1e-9)


def test_yolo_keypoint_mode_matches_reference(kp, ls_dir, tmp_path):
    export(kp, tmp_path, "YOLO")
    ref = ls_dir / "output" / "image" / "YOLO"
    assert (tmp_path / "out/classes.txt").read_text().split() == ["Car", "Person"]
    notes = orjson.loads((tmp_path / "out/notes.json").read_bytes())
    assert notes["categories"] == orjson.loads((ref / "notes.json").read_bytes())["categories"]
    for f in FILES:
        ours, theirs = _lines(tmp_path / "out/labels" / f), _lines(ref / "labels" / f)
        if f.startswith("a1b2"):
            assert theirs[1][:5] == [1, 0.7, 0.30000000000000004, 0.2, 0.4]  # rotation dropped (SDK bug)
            theirs[1][:5] = _enclosing_line(1, _CX, _CY, 24, 32, 30)
        _same(ours, theirs)


def test_yolo_obb_with_keypoint_config(kp, ls_dir, tmp_path):
    """The SDK writes pose lines into YOLO_OBB here; we write corners (same as the image_det run)."""
    out = export(kp, tmp_path, "YOLO_OBB")
    assert (tmp_path / "out/classes.txt").read_text().split() == ["Car", "Person"]
    ref = ls_dir / "output" / "image_det" / "YOLO_OBB" / "labels" / "a1b2c3d4-street.txt"
    assert len(_lines(ls_dir / "output/image/YOLO_OBB/labels/a1b2c3d4-street.txt")[0]) == 11  # SDK: pose, not OBB
    _same(_lines(tmp_path / "out/labels/a1b2c3d4-street.txt"), _lines(ref)[:2])
    assert any("keypoints are not carried" in e.reason for e in out.loss.entries)


def test_reads_reference_polygons_as_polygons(ls_dir, det):
    ds = aw.load(str(ls_dir / "output/image_det/YOLO"), format="YOLO", image_size=(120, 80))
    ds.validate()
    street = ds.annotations[ds.annotations["item_id"] == ds.items.index[ds.items["name"] == "a1b2c3d4-street"][0]]
    assert street["type"].tolist() == ["bbox", "bbox", "polygon"]
    want = det.annotations.loc[det.annotations["region_id"] == "p_road", "points"].iloc[0]
    np.testing.assert_allclose(street["points"].iloc[2], want, atol=1e-9)


def test_reads_reference_obb_with_rotation(ls_dir):
    ds = aw.load(str(ls_dir / "output/image_det/YOLO_OBB"), format="YOLO_OBB", image_size=(120, 80))
    box = ds.annotations[(ds.annotations["label"] == "Person") & (ds.annotations["rotation"] != 0)]
    np.testing.assert_allclose(box[["x", "y", "w", "h", "rotation"]].to_numpy(float)[0], [_CX, _CY, 24, 32, 30],
                               atol=1e-6)
    # the SDK's 11-field polygon line reads as a polygon; its 4-point one (9 fields) is an OBB line by
    # definition in this format, and reads as the box with those corners
    assert (ds.annotations["type"] == "polygon").sum() == 1


def test_reads_keypoints_and_sizes_from_images(ls_dir):
    ds = aw.load(str(ls_dir / "output/image/YOLO_WITH_IMAGES"), format="YOLO_WITH_IMAGES")
    ds.validate()
    assert (ds.items["width"] == 120).all() and (ds.items["height"] == 80).all()
    kids = ds.annotations[ds.annotations["parent_id"].notna()]
    assert kids["label"].tolist() == ["Head", "Foot"]
    np.testing.assert_allclose(np.vstack(kids["points"].tolist()), [[84, 10], [81.6, 38]], atol=1e-9)
    parent = ds.annotations.set_index("ann_id").loc[int(kids["parent_id"].iloc[0])]
    assert parent["label"] == "Person" and parent["type"] == "bbox"


def test_no_size_is_an_error_naming_the_file(ls_dir):
    with pytest.raises(FormatError, match="image size unknown") as e:
        aw.load(str(ls_dir / "output/image_det/YOLO"), format="YOLO")
    assert e.value.file.endswith(".txt")


def test_all_annotation_sets_are_kept(det, tmp_path):
    ds = det.copy()
    a = ds.annotations
    extra = a[(a["set_id"] == 5001) & (a["type"] == "bbox")].copy()
    extra["set_id"] = 7777
    extra["ann_id"] = np.arange(len(a), len(a) + len(extra))
    extra["x"] += 1.0
    ds = Dataset(items=ds.items, annotations=pd.concat([a, extra], ignore_index=True), labels=ds.labels,
                 sets=pd.concat([ds.sets, pd.DataFrame({"set_id": [7777], "item_id": [101]})], ignore_index=True))
    export(ds, tmp_path, "YOLO")
    assert len(_lines(tmp_path / "out/labels/a1b2c3d4-street.txt")) == 3 + len(extra)
    export(ds, tmp_path, "YOLO", name="pred", include_predictions=True)
    assert len(_lines(tmp_path / "pred/labels/a1b2c3d4-street.txt")) == 3 + len(extra) + 2


@pytest.mark.parametrize("fmt,kw", [("YOLO", {"polygons": True}), ("YOLO", {}), ("YOLO_OBB", {"rotated": True})])
def test_round_trip_and_equal_basenames(tmp_path, fmt, kw):
    ds = synthetic(10, seed=11, **kw)
    ds.items["subset"] = "default"
    out = export(ds, tmp_path, fmt)
    assert not out.loss
    assert (tmp_path / "out/labels/a/img.txt").exists() and (tmp_path / "out/labels/b/img.txt").exists()
    back = aw.load(out, format=fmt)
    assert_same_shapes(ds, back)


def test_with_images_copies_media(tmp_path):
    media = tmp_path / "m"
    media.mkdir()
    Image.new("RGB", (40, 30)).save(media / "p.png")
    ds = Dataset(items=pd.DataFrame({"item_id": [0], "name": ["p.png"], "media": [str(media / "p.png")]}),
                 annotations=pd.DataFrame({"ann_id": [0], "item_id": [0], "label": ["car"], "x": [4.0], "y": [3.0],
                                           "w": [8.0], "h": [6.0]}))
    export(ds, tmp_path, "YOLO_OBB_WITH_IMAGES", image_info=False)
    assert (tmp_path / "out/images/p.png").exists()
    shutil.rmtree(media)
    back = aw.load(str(tmp_path / "out"))
    assert back.info["format"] == "YOLO_OBB" and back.items["width"].tolist() == [40]
    np.testing.assert_allclose(back.annotations[["x", "y", "w", "h", "rotation"]].to_numpy(float),
                               [[4, 3, 8, 6, 0]], atol=1e-9)


def test_keypoint_mode_names_the_keypoints_it_cannot_write(tmp_path):
    """A keypoint whose label has no slot, or that is absent (written 0 0 0), is reported, not lost unnamed."""
    rows = [dict(type="bbox", label="person", x=2.0, y=3.0, w=20.0, h=20.0)]
    for lab, p, out in (("head", [5.0, 4.0], False), ("hand", [10.0, 12.0], True), ("foot", [20.0, 22.0], False)):
        rows.append(dict(type="points", label=lab, points=p, x=p[0], y=p[1], w=0.0, h=0.0, parent_id=0, outside=out))
    a = pd.DataFrame(rows)
    a.insert(0, "ann_id", range(len(rows)))
    a["item_id"] = 0
    ds = Dataset(items=[dict(item_id=0, name="a.png", width=64, height=48)], annotations=a,
                 labels={"name": ["person", "head", "hand"], "type": ["rectangle", "points", "points"]}).validate()
    with pytest.warns(aw.LossWarning):
        out = ds.export(str(tmp_path), format="YOLO", archive=False, name="out")
    assert sorted(r for e in out.loss.entries for r in e.rows) == [2, 3]  # absent hand, foot without a slot
    back = aw.load(str(out), format="YOLO").annotations
    assert back["label"].tolist() == ["person", "head"]


def test_obb_layout_is_detected_as_yolo_obb(ls_dir, tmp_path):
    # the SDK's OBB output holds one polygon line besides the 9-field corner lines
    ref = aw.load(str(ls_dir / "output/image_det/YOLO_OBB"), image_size=(120, 80))
    assert ref.info["format"] == "YOLO_OBB"
    assert aw.load(str(ls_dir / "output/image_det/YOLO"), image_size=(120, 80)).info["format"] == "YOLO"
    out = export(synthetic(8, seed=3, rotated=True), tmp_path, "YOLO_OBB")
    assert aw.load(out).info["format"] == "YOLO_OBB"
    # plain YOLO with boxes and some 4-point polygons (9 fields) stays YOLO
    ds = synthetic(8, seed=3)
    a = ds.annotations.iloc[:2].copy()
    a["type"] = "polygon"
    a["points"] = [[float(x), float(y), float(x + w), float(y), float(x + w), float(y + h), float(x), float(y + h)]
                   for x, y, w, h in a[["x", "y", "w", "h"]].itertuples(index=False)]
    ds.annotations = pd.concat([a, ds.annotations.iloc[2:]], ignore_index=True)
    out = export(ds, tmp_path, "YOLO", name="plain")
    assert aw.load(out).info["format"] == "YOLO"
