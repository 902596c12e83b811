"""KITTI 1.0: Datumaro's samples, round trips, the loss report, detection, bad input, and Datumaro
reading our export."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode, coco_encode
from tests.interop import peers

KITTI = "kitti_dataset"


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format="KITTI 1.0", archive=False, name="out", **kw)


@pytest.mark.fixtures
def test_detection_sample_loads_boxes_with_attributes_and_3d_fields(datumaro_dir):
    ds = aw.load(str(datumaro_dir / KITTI / "kitti_detection"))
    assert ds.info["format"] == "KITTI 1.0"
    assert ds.items["name"].tolist() == ["000030_10.png", "000030_11.png"]
    assert set(ds.items["subset"]) == {"training"} and ds.items["width"].tolist() == [10, 10]
    a = ds.annotations
    assert a["label"].tolist() == ["Truck", "Van", "Van", "Van", "Van"]
    assert (a["type"] == "bbox").all()
    # "Van 0.0 1 -1 6 6 7 9 ...": x1 y1 x2 y2 -> x y w h
    assert a[["x", "y", "w", "h"]].iloc[4].tolist() == [6.0, 6.0, 1.0, 3.0]
    assert a["occluded"].tolist() == [False, False, True, False, True]
    assert [d["truncated"] for d in a["attributes"]] == [True, False, True, False, False]
    assert a["extra"].iloc[2]["kitti"] == {"truncated": 1.0, "occluded": 1, "alpha": -1.0, "height": -1.0,
                                           "width": -1.0, "length": -1.0, "x": -1.0, "y": -1.0, "z": -1.0,
                                           "rotation_y": -1.0}
    assert a["score"].isna().all()
    assert ds.labels["name"].tolist() == ["Truck", "Van"]


@pytest.mark.fixtures
def test_segmentation_sample_loads_instances_with_kitti_classes(datumaro_dir):
    ds = aw.load(str(datumaro_dir / KITTI / "kitti_segmentation"))
    assert ds.info["format"] == "KITTI 1.0"
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    # 000030_10.png instance row: [768 768 6913 6914 6914] = (3<<8|0) x2, 27<<8|1, (27<<8|2) x2
    first = a[a["name"] == "000030_10.png"]
    assert first["label"].tolist() == ["outofroi", "truck", "truck"]
    assert [d["is_crowd"] for d in first["attributes"]] == [True, False, False]
    pixels = [np.flatnonzero(coco_decode(m)).tolist() for m in first["mask"]]
    assert pixels == [[0, 1], [2], [3, 4]]
    second = a[a["name"] == "000030_11.png"]
    assert sorted(second["label"]) == ["outofroi", "train", "wall"]
    assert (ds.items["width"] == 5).all() and (ds.items["height"] == 1).all()


def _dataset(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    items = []
    for i, (subset, name, w, h) in enumerate([("train", "a.png", 20, 10), ("train", "b.png", 16, 12),
                                              ("val", "c.png", 8, 8)]):
        Image.new("RGB", (w, h), (10, 20, 30)).save(media / name)
        items.append(dict(item_id=i, name=name, subset=subset, media=str(media / name), width=w, height=h))
    m = np.zeros((12, 16), bool)
    m[2:6, 3:9] = True
    rows = [
        dict(item_id=0, type="bbox", label="car", x=1.5, y=2.25, w=5.0, h=4.0, occluded=True,
             attributes={"truncated": True},
             extra={"kitti": {"truncated": 0.37, "occluded": 2, "alpha": -1.57, "height": 1.5, "width": 1.6,
                              "length": 3.9, "x": 2.1, "y": 1.7, "z": 25.3, "rotation_y": -1.52}}),
        dict(item_id=0, type="bbox", label="person", x=10.0, y=0.0, w=3.0, h=8.5, score=0.75,
             attributes={"truncated": False}),
        dict(item_id=1, type="mask", label="road", mask=coco_encode(m), x=3.0, y=2.0, w=6.0, h=4.0,
             attributes={"is_crowd": False}),
        dict(item_id=1, type="polygon", label="car", points=[10.0, 6.0, 15.0, 6.0, 15.0, 11.0, 10.0, 11.0],
             x=10.0, y=6.0, w=5.0, h=5.0, attributes={"is_crowd": True}),
    ]
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", range(len(ann)))
    return aw.Dataset(items=items, annotations=ann, labels=[{"name": n} for n in ("car", "person", "road")]).validate()


def test_round_trip_keeps_boxes_3d_fields_scores_and_masks(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "kitti", save_images=True)
    lines = (tmp_path / "kitti/out/train/label_2/a.txt").read_text().splitlines()
    assert lines[0] == "car 0.37 2 -1.57 1.5 2.25 6.5 6.25 1.5 1.6 3.9 2.1 1.7 25.3 -1.52"
    assert lines[1] == "person 0 0 -1 10 0 13 8.5 -1 -1 -1 -1 -1 -1 -1 0.75"
    assert (tmp_path / "kitti/out/val/label_2/c.txt").read_text() == ""  # the empty image is kept
    assert (tmp_path / "kitti/out/label_colors.txt").read_text().splitlines()[0] == "0 0 0 background"
    for d in ("instance", "semantic", "semantic_rgb", "image_2"):
        assert (tmp_path / f"kitti/out/train/{d}/b.png").exists()
    back = aw.load(str(out))
    assert back.info["format"] == "KITTI 1.0"
    assert back.items[["name", "subset", "width", "height"]].values.tolist() == \
        ds.items[["name", "subset", "width", "height"]].values.tolist()
    b = back.annotations
    boxes = b[b["type"] == "bbox"]
    src = ds.annotations
    assert boxes[["label", "x", "y", "w", "h", "occluded"]].values.tolist() == \
        src.loc[:1, ["label", "x", "y", "w", "h", "occluded"]].values.tolist()
    assert boxes["extra"].iloc[0] == src["extra"].iloc[0]
    assert boxes["attributes"].tolist() == src["attributes"].iloc[:2].tolist()
    assert np.isnan(boxes["score"].iloc[0]) and boxes["score"].iloc[1] == 0.75
    masks = b[b["type"] == "mask"].sort_values("label")
    assert masks["label"].tolist() == ["car", "road"]
    assert [d["is_crowd"] for d in masks["attributes"]] == [True, False]
    road = coco_decode(masks["mask"].iloc[1])
    assert (road == coco_decode(src["mask"].iloc[2])).all()
    car = coco_decode(masks["mask"].iloc[0])
    assert car.sum() == 25 and car[6:11, 10:15].all()  # the polygon, painted
    assert not out.loss  # everything here is carried


def test_loss_report_names_what_kitti_cannot_carry(tmp_path):
    ds = _dataset(tmp_path)
    extra = pd.DataFrame([
        dict(ann_id=10, item_id=0, type="points", label="car", points=[1.0, 1.0], x=1.0, y=1.0, w=0.0, h=0.0),
        dict(ann_id=11, item_id=0, type="bbox", label="car", x=1.0, y=1.0, w=4.0, h=4.0, rotation=30.0),
        dict(ann_id=12, item_id=0, type="bbox", label="car", x=1.0, y=1.0, w=4.0, h=4.0,
             attributes={"color": "red"}),
        dict(ann_id=13, item_id=2, type="mask", label="road", mask=coco_encode(np.ones((8, 8), bool)), x=0.0,
             y=0.0, w=8.0, h=8.0, score=0.5),
    ])
    ds = aw.Dataset(items=ds.items, annotations=pd.concat([ds.annotations, extra], ignore_index=True),
                    labels=ds.labels)
    out = _export(ds, tmp_path / "k")
    rep = {r: e.reason for e in out.loss.entries for r in e.rows}
    assert "not points" in rep[10]
    assert "rotated box written as a mask" in rep[11]
    assert "other attributes not written" in rep[12]
    assert "no score" in rep[13]
    assert set(rep) == {10, 11, 12, 13}


def test_detection_and_malformed_line(tmp_path):
    d = tmp_path / "ds" / "train" / "label_2"
    d.mkdir(parents=True)
    (d / "x.txt").write_text("Car 0 0 -1 1 2 3 4 -1 -1 -1 -1 -1 -1 -1\n")
    assert aw.load(str(tmp_path / "ds")).info["format"] == "KITTI 1.0"
    (d / "y.txt").write_text("Car 0 0 -1 1 2 3 4 -1 -1 -1 -1 -1 -1 -1\nCar 0 0 -1 1 2 3\n")
    with pytest.raises(aw.FormatError, match=r"y\.txt:2: expected 15 or 16"):
        aw.load(str(tmp_path / "ds"), format="KITTI 1.0")
    (d / "y.txt").write_text("Car 0 zero -1 1 2 3 4 -1 -1 -1 -1 -1 -1 -1\n")
    with pytest.raises(aw.FormatError, match=r"y\.txt:1: field 3 is 'zero', expected a number"):
        aw.load(str(tmp_path / "ds"), format="KITTI 1.0")
    (d / "y.txt").write_text("Car 0 0 -1 5 2 3 4 -1 -1 -1 -1 -1 -1 -1\n")
    with pytest.raises(aw.FormatError, match=r"y\.txt:1: box corners"):
        aw.load(str(tmp_path / "ds"), format="KITTI 1.0")
    (tmp_path / "ds" / "label_colors.txt").write_text("0 0 0 background\n1 2 car\n")
    (d / "y.txt").unlink()
    with pytest.raises(aw.FormatError, match=r"label_colors\.txt:2: expected 'r g b name'"):
        aw.load(str(tmp_path / "ds"), format="KITTI 1.0")


def test_instance_class_beyond_the_label_map_is_an_error(tmp_path):
    d = tmp_path / "ds" / "train" / "instance"
    d.mkdir(parents=True)
    (tmp_path / "ds" / "label_colors.txt").write_text("0 0 0 background\n10 20 30 car\n")
    Image.fromarray(np.array([[0, 1 << 8 | 1, 5 << 8 | 1]], dtype=np.uint16)).save(d / "x.png")
    with pytest.raises(aw.FormatError, match=r"x\.png: pixel value 1281 has class index 5.*has 2 labels"):
        aw.load(str(tmp_path / "ds"))



@pytest.mark.oracle
def test_datumaro_reads_our_kitti_export(tmp_path, oracle):
    ds = peers.make_dataset(tmp_path / "media")
    out = _export(ds, tmp_path / "kitti")
    det = oracle(peers.DM_READ, str(out), "kitti_detection")
    seg = oracle(peers.DM_READ, str(out), "kitti_segmentation")
    theirs = peers.peer_boxes([{k: b[k] for k in ("image", "label", "x", "y", "w", "h")} for b in det["boxes"]])
    ours = peers.our_boxes(ds)
    assert theirs[["image", "label"]].values.tolist() == ours[["image", "label"]].values.tolist()
    assert np.abs(theirs[list("xywh")].to_numpy() - ours[list("xywh")].to_numpy()).max() <= 0.006
    assert sorted(map(tuple, det["items"])) == sorted(zip(ds.items["subset"], ds.items["name"].str[:-4],
                                                          strict=True))
    back = aw.load(str(out))
    a = back.annotations[back.annotations["type"] == "mask"].merge(back.items[["item_id", "name"]], on="item_id")
    ours_px = {(n[:-4], lab): set(np.flatnonzero(coco_decode(m)).tolist())
               for n, lab, m in zip(a["name"], a["label"], a["mask"], strict=True)}
    theirs_px = {(m["image"], m["label"]): set(m["pixels"]) for m in seg["masks"] if m["label"] != "background"}
    assert theirs_px == ours_px and len(ours_px) == 8  # a tree and a road on each of four images
