"""Ultralytics YOLO: detection (+track), OBB, segmentation, pose, classification."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

import annowidgets as aw
from annowidgets.core import geometry
from annowidgets.core.dataset import Dataset
from annowidgets.core.errors import FormatError

from ._yolo_tables import assert_same_shapes, export, synthetic

DET = "Ultralytics YOLO Detection 1.0"
TRACK = "Ultralytics YOLO Detection Track 1.0"
OBB = "Ultralytics YOLO Oriented Bounding Boxes 1.0"
SEG = "Ultralytics YOLO Segmentation 1.0"
POSE = "Ultralytics YOLO Pose 1.0"
CLS = "Ultralytics YOLO Classification 1.0"


def test_detection_round_trip_and_layout(tmp_path):
    ds = synthetic(12, seed=5)
    out = export(ds, tmp_path, DET)
    assert not out.loss
    root = tmp_path / "out"
    doc = yaml.safe_load((root / "data.yaml").read_text())
    assert doc["names"] == {0: "car", 1: "person", 2: "bike"} and doc["train"] == "train.txt"
    assert (root / "labels/val/a/img.txt").exists() and (root / "labels/train/b/img.txt").exists()
    assert "images/train/b/img.jpg" in (root / "train.txt").read_text().split()
    back = aw.load(out)
    assert back.info["format"] == DET
    assert_same_shapes(ds, back)


def test_track_ids(tmp_path):
    ds = synthetic(6, seed=6)
    ds.annotations["track_id"] = pd.array([i if i % 2 else pd.NA for i in range(len(ds.annotations))], dtype="Int64")
    out = export(ds, tmp_path, TRACK)
    back = aw.load(out, format=DET)
    assert_same_shapes(ds, back, cols=("label", "type", "x", "y", "w", "h", "rotation", "track_id"))
    plain = export(ds, tmp_path, DET, name="plain")
    assert any("track ids not written" in e.reason for e in plain.loss.entries)
    assert aw.load(plain, format=DET).annotations["track_id"].isna().all()


def test_obb_of_a_30_degree_box_is_box_corners_in_pixels(tmp_path):
    ds = Dataset(items=pd.DataFrame({"item_id": [0], "name": ["r.jpg"], "subset": ["train"], "width": [120],
                                     "height": [80]}),
                 annotations=pd.DataFrame({"ann_id": [0], "item_id": [0], "label": ["car"], "x": [62.4], "y": [11.9],
                                           "w": [24.0], "h": [32.0], "rotation": [30.0]}))
    out = export(ds, tmp_path, OBB)
    vals = np.array((tmp_path / "out/labels/train/r.txt").read_text().split(), dtype=float)
    corners = geometry.box_corners(62.4, 11.9, 24.0, 32.0, 30.0).reshape(4, 2) / [120, 80]
    assert vals[0] == 0
    np.testing.assert_allclose(vals[1:].reshape(4, 2), corners, atol=1e-9)
    back = aw.load(out)
    assert back.info["format"] == OBB
    assert_same_shapes(ds, back)


def test_obb_round_trip_rotated(tmp_path):
    ds = synthetic(10, seed=7, rotated=True)
    back = aw.load(export(ds, tmp_path, OBB), format=OBB)
    assert_same_shapes(ds, back)


def test_segmentation_round_trip_and_ellipse(tmp_path):
    ds = synthetic(10, seed=8, polygons=True)
    back = aw.load(export(ds, tmp_path, SEG), format=SEG)
    assert_same_shapes(ds, back)
    a, b = ds.annotations.merge(ds.items, on="item_id"), back.annotations.merge(back.items, on="item_id")
    key = ["name", "x", "y"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    for p, q in zip(a["points"], b["points"], strict=True):
        np.testing.assert_allclose(q, p, rtol=1e-6, atol=1e-6)
    ell = Dataset(items=ds.items.head(1), annotations=pd.DataFrame({
        "ann_id": [0, 1], "item_id": [ds.items["item_id"].iloc[0]] * 2, "label": ["car", "car"],
        "type": ["ellipse", "mask"], "x": [10.0, 0.0], "y": [10.0, 0.0], "w": [20.0, 1.0], "h": [10.0, 1.0]}))
    out = export(ell, tmp_path, SEG, name="ell")
    reasons = {e.reason: e.rows for e in out.loss.entries}
    assert reasons["ellipse written as a 32-point polygon"] == [0]
    assert reasons["empty or unreadable mask not written"] == [1]
    poly = aw.load(out, format=SEG).annotations
    assert poly["type"].tolist() == ["polygon"] and len(poly["points"].iloc[0]) == 64
    np.testing.assert_allclose(poly[["x", "y", "w", "h"]].to_numpy(float)[0], [10, 10, 20, 10], atol=0.2)


def _pose_dataset():
    items = pd.DataFrame({"item_id": [0, 1], "name": ["a.jpg", "b.jpg"], "subset": ["train", "val"],
                          "width": [640, 320], "height": [480, 240]})
    ann = pd.DataFrame({
        "ann_id": [0, 1, 2, 3, 4, 5, 6], "item_id": [0, 0, 0, 0, 1, 1, 1],
        "label": ["person", "nose", "eye", "ear", "hand", "l", "r"],
        "type": ["skeleton", "points", "points", "points", "skeleton", "points", "points"],
        "x": [10.0, 20, 30, 40, 5, 6, 7], "y": [10.0, 20, 30, 40, 5, 6, 7], "w": [100.0, 0, 0, 0, 50, 0, 0],
        "h": [100.0, 0, 0, 0, 60, 0, 0],
        "points": [None, [20.0, 20.0], [30.0, 30.0], [40.0, 40.0], None, [6.0, 6.0], [7.0, 7.0]],
        "parent_id": [None, 0, 0, 0, None, 4, 4], "occluded": [False, True, False, False, False, False, False]})
    labels = pd.DataFrame({"name": ["person", "nose", "eye", "ear", "hand", "l", "r"],
                           "type": ["skeleton", "points", "points", "points", "skeleton", "points", "points"],
                           "parent": [None, "person", "person", "person", None, "hand", "hand"]})
    return Dataset(items=items, annotations=ann, labels=labels)


def test_pose_round_trip_with_padding(tmp_path):
    ds = _pose_dataset()
    out = export(ds, tmp_path, POSE)
    assert not out.loss
    doc = yaml.safe_load((tmp_path / "out/data.yaml").read_text())
    assert doc["kpt_shape"] == [3, 3] and doc["kpt_names"] == {0: ["nose", "eye", "ear"], 1: ["l", "r"]}
    line = (tmp_path / "out/labels/val/b.txt").read_text().split()
    assert len(line) == 5 + 9 and line[-3:] == ["0", "0", "0"]  # 2-point skeleton padded to 3
    back = aw.load(out)
    assert back.info["format"] == POSE
    back.validate()
    assert_same_shapes(ds, back)
    kids = back.annotations[back.annotations["parent_id"].notna()].merge(back.items[["item_id", "name"]])
    kids = kids.sort_values(["name", "x"])
    assert kids["label"].tolist() == ["nose", "eye", "ear", "l", "r"]
    assert kids["occluded"].tolist() == [True, False, False, False, False]
    np.testing.assert_allclose(np.vstack(kids["points"].tolist()), [[20, 20], [30, 30], [40, 40], [6, 6], [7, 7]],
                               atol=1e-6)
    parents = back.annotations.set_index("ann_id").loc[kids["parent_id"].astype(int), "label"].tolist()
    assert parents == ["person"] * 3 + ["hand"] * 2
    assert back.labels.loc[back.labels["parent"] == "hand", "name"].tolist() == ["l", "r"]


def test_pose_names_points_it_has_no_place_for(tmp_path):
    ds = _pose_dataset()
    a = ds.annotations
    a.at[2, "points"] = None  # "eye" without coordinates (and not outside)
    extra = a.iloc[[3]].assign(ann_id=7, x=44.0, y=44.0, points=[[44.0, 44.0]])  # a second "ear"
    ds.annotations = pd.concat([a, extra], ignore_index=True)
    out = export(ds, tmp_path, POSE)
    reasons = {e.reason.split(":")[0]: list(e.rows) for e in out.loss.entries}
    assert reasons == {"keypoint without coordinates": [2], "a second point in a slot its skeleton already fills": [3]}
    line = (tmp_path / "out/labels/train/a.txt").read_text().split()
    assert line[5 + 3:5 + 6] == ["0", "0", "0"]  # the eye slot stays empty
    assert [float(v) * s for v, s in zip(line[11:13], (640, 480), strict=True)] == pytest.approx([44, 44])


def test_pose_wrong_field_count(tmp_path):
    export(_pose_dataset(), tmp_path, POSE)
    (tmp_path / "out/labels/train/a.txt").write_text("0 0.5 0.5 0.2 0.2 0.1 0.1 2\n")
    with pytest.raises(FormatError, match="8 fields; expected 14") as e:
        aw.load(str(tmp_path / "out"), format=POSE)
    assert e.value.line == 1 and e.value.file.endswith("labels/train/a.txt")


def test_reversed_layout_and_names_list(tmp_path):
    root = tmp_path / "rf"
    for sub in ("train", "valid"):
        (root / sub / "labels").mkdir(parents=True)
        (root / sub / "images").mkdir()
        Image.new("RGB", (200, 100)).save(root / sub / "images" / "x.jpg")
        (root / sub / "labels" / "x.txt").write_text("1 0.5 0.5 0.5 0.5 3\n")
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 2\nnames: ['a', 'b']\n")
    ds = aw.load(str(root))
    assert ds.info["format"] == DET
    assert sorted(ds.items["subset"]) == ["train", "valid"]
    assert ds.annotations["label"].tolist() == ["b", "b"] and ds.annotations["track_id"].tolist() == [3, 3]
    np.testing.assert_allclose(ds.annotations[["x", "y", "w", "h"]].to_numpy(float)[0], [50, 25, 100, 50])


def test_detection_hostile(tmp_path):
    export(synthetic(3, seed=9), tmp_path, DET)
    f = next((tmp_path / "out/labels").rglob("*.txt"))
    f.write_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1 1 2\n")
    with pytest.raises(FormatError, match="7 fields; expected 5") as e:
        aw.load(str(tmp_path / "out"), format=DET)
    assert e.value.line == 2
    f.write_text("9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(FormatError, match="class id 9 out of range"):
        aw.load(str(tmp_path / "out"), format=DET)
    (tmp_path / "out/data.yaml").write_text("names: {0: a, 2: b}\n")
    with pytest.raises(FormatError, match="class ids must be 0..1"):
        aw.load(str(tmp_path / "out"), format=DET)


def test_classification_with_and_without_images(tmp_path):
    media = tmp_path / "m"
    media.mkdir()
    for n in ("a", "b", "c"):
        Image.new("RGB", (30, 20)).save(media / f"{n}.png")
    items = pd.DataFrame({"item_id": [0, 1, 2], "name": ["x/a.png", "b.png", "c.png"],
                          "media": [str(media / f"{n}.png") for n in "abc"], "subset": ["train", "val", "train"],
                          "width": [30] * 3, "height": [20] * 3})
    ann = pd.DataFrame({"ann_id": [0, 1, 2], "item_id": [0, 0, 1], "label": ["cat", "dog", "dog"], "type": "tag"})
    ds = Dataset(items=items, annotations=ann)
    out = export(ds, tmp_path, CLS, save_images=True, archive=True, name="c.zip")
    assert not out.loss
    back = aw.load(out)
    assert back.info["format"] == CLS
    tags = back.annotations.merge(back.items, on="item_id").sort_values(["name", "label"])
    assert list(zip(tags["name"], tags["label"], strict=True)) == [("b.png", "dog"), ("x/a.png", "cat"),
                                                                   ("x/a.png", "dog")]
    assert back.items.set_index("name").loc["c.png", "subset"] == "train"  # untagged item kept via labels.json
    no_img = export(ds, tmp_path, CLS, name="noimg")
    assert [e.rows for e in no_img.loss.entries] == [[0, 1]]
    assert len(aw.load(no_img, format=CLS).annotations) == 3


def test_segmentation_writes_masks_as_outlines(tmp_path):
    from pycocotools import mask as mask_utils

    m = np.zeros((20, 30), dtype=np.uint8, order="F")
    m[2:10, 3:12] = 1
    m[4:6, 5:7] = 0  # a hole
    m[15:18, 20:28] = 1  # a second part
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode("ascii")
    ds = Dataset(items=pd.DataFrame({"item_id": [0], "name": ["m.png"], "subset": ["train"], "width": [30],
                                     "height": [20]}),
                 annotations=pd.DataFrame({"ann_id": [0], "item_id": [0], "label": ["road"], "type": ["mask"],
                                           "mask": [rle], "x": [3.0], "y": [2.0], "w": [25.0], "h": [16.0]}))
    out = export(ds, tmp_path, SEG)
    reasons = " | ".join(e.reason for e in out.loss.entries)
    assert "one polygon line per part" in reasons and "holes" in reasons
    back = aw.load(out, format=SEG).annotations.sort_values("y")
    corners = [sorted(zip(np.round(p[0::2], 6), np.round(p[1::2], 6), strict=True)) for p in back["points"]]
    assert corners == [[(3, 2), (3, 10), (12, 2), (12, 10)], [(20, 15), (20, 18), (28, 15), (28, 18)]]


def _quads() -> Dataset:
    """One 4-point polygon: its segmentation line has 9 fields, like an OBB line."""
    items = pd.DataFrame({"item_id": [0], "name": ["q.jpg"], "subset": ["train"], "width": [100], "height": [80]})
    ann = pd.DataFrame({"ann_id": [0], "item_id": [0], "label": ["car"], "type": ["polygon"], "x": [10.0],
                        "y": [10.0], "w": [30.0], "h": [20.0], "points": [[10.0, 10.0, 40.0, 12.0, 38.0, 30.0, 11.0, 28.0]]})
    return Dataset(items=items, annotations=ann)


def _no_shapes() -> Dataset:
    return Dataset(items=_quads().items)


@pytest.mark.parametrize("fmt,task,make", [
    (DET, "detect", lambda: synthetic(8, seed=1)),
    (DET, "detect", _no_shapes),
    (OBB, "obb", lambda: synthetic(8, seed=1, rotated=True)),
    (OBB, "obb", _no_shapes),
    (SEG, "segment", lambda: synthetic(8, seed=1, polygons=True)),
    (SEG, "segment", _quads),
    (SEG, "segment", _no_shapes),
    (POSE, "pose", _pose_dataset),
], ids=["det", "det-empty", "obb", "obb-empty", "seg", "seg-quads", "seg-empty", "pose"])
def test_every_flavour_is_detected_back_from_its_export(tmp_path, fmt, task, make):
    out = export(make(), tmp_path, fmt)
    assert yaml.safe_load((tmp_path / "out/data.yaml").read_text())["task"] == task
    back = aw.load(out)
    assert back.info["format"] == fmt
    assert sorted(back.items["subset"].unique()) == sorted(make().items["subset"].unique())  # task is no subset


def _layout_without_task(tmp_path, lines: list[str]):
    export(_quads(), tmp_path, SEG)
    doc = yaml.safe_load((tmp_path / "out/data.yaml").read_text())
    del doc["task"]
    (tmp_path / "out/data.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "out/labels/train/q.txt").write_text("".join(f"{ln}\n" for ln in lines))
    return str(tmp_path / "out")


def test_without_task_key_the_label_lines_decide(tmp_path):
    quad = "0 0.1 0.1 0.4 0.1 0.4 0.4 0.1 0.4"
    tri = "0 0.1 0.1 0.4 0.1 0.4 0.4"
    assert aw.load(_layout_without_task(tmp_path, ["0 0.5 0.5 0.2 0.2"])).info["format"] == DET
    assert aw.load(_layout_without_task(tmp_path, [quad])).info["format"] == OBB  # 9 fields: corners
    assert aw.load(_layout_without_task(tmp_path, [tri])).info["format"] == SEG
    assert aw.load(_layout_without_task(tmp_path, [quad, tri])).info["format"] == SEG  # mixed counts
    assert aw.load(_layout_without_task(tmp_path, [quad, quad + " 0.2 0.2"])).info["format"] == SEG


def test_task_key_wins_over_the_lines(tmp_path):
    path = _layout_without_task(tmp_path, ["0 0.1 0.1 0.4 0.1 0.4 0.4 0.1 0.4"])
    doc = yaml.safe_load((tmp_path / "out/data.yaml").read_text())
    (tmp_path / "out/data.yaml").write_text(yaml.safe_dump({**doc, "task": "segment"}))
    back = aw.load(path)
    assert back.info["format"] == SEG and back.annotations["type"].tolist() == ["polygon"]


def _cls_tree(root, files):
    for rel in files:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".jpg"):
            Image.new("RGB", (8, 6)).save(p)
        else:
            p.write_text("x\n")
    return str(root)


def test_classification_folders_without_labels_json(tmp_path):
    imgs = ["train/cat/1.jpg", "train/dog/2.jpg", "valid/cat/3.jpg", "test/dog/4.jpg"]
    ds = aw.load(_cls_tree(tmp_path / "rf", [*imgs, "README.roboflow.txt"]))
    assert ds.info["format"] == CLS
    tags = ds.annotations.merge(ds.items, on="item_id")
    assert sorted(zip(tags["subset"], tags["name"], tags["label"], strict=True)) == [
        ("test", "4.jpg", "dog"), ("train", "1.jpg", "cat"), ("train", "2.jpg", "dog"), ("valid", "3.jpg", "cat")]
    # image folders beside annotation files, or not under split folders, are some other format
    for name, extra in (("txt", ["train/cat/1.txt"]), ("xml", ["train/ann.xml"]), ("gt", ["train/gt/gt.txt"]),
                        ("csv", ["labels.csv"])):
        path = _cls_tree(tmp_path / name, [*imgs, *extra])
        with pytest.raises(aw.UnknownFormatError, match="no reader recognises"):
            aw.load(path)
    with pytest.raises(aw.UnknownFormatError, match="no reader recognises"):
        aw.load(_cls_tree(tmp_path / "images", ["images/cat/1.jpg", "images/dog/2.jpg"]))


def test_classification_with_a_data_yaml_saying_classify(tmp_path):
    path = _cls_tree(tmp_path / "c", ["train/cat/1.jpg", "val/dog/2.jpg"])
    (tmp_path / "c/data.yaml").write_text("task: classify\nnames: {0: cat, 1: dog}\n")
    ds = aw.load(path)
    assert ds.info["format"] == CLS and sorted(ds.annotations["label"]) == ["cat", "dog"]
