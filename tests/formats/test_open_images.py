"""Open Images V6 1.0: Datumaro's samples, round trips, the loss report, detection, bad input, and
Datumaro reading our export."""
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

FMT = "Open Images V6 1.0"


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format=FMT, archive=False, name="out", **kw)


@pytest.mark.fixtures
def test_v6_sample_loads_tags_boxes_masks_with_attributes(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "open_images_dataset/v6"))
    assert ds.info["format"] == FMT
    items = ds.items.set_index("name")
    assert items["subset"].to_dict() == {"a.jpg": "train", "b.jpg": "train", "c.jpg": "test", "d.png": "validation"}
    assert (items.loc["b.jpg", "width"], items.loc["b.jpg", "height"]) == (8, 2)  # from images.meta ("b 2 8")
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    tags = a[a["type"] == "tag"]
    assert sorted(zip(tags["name"], tags["label"], tags["score"], strict=True)) == [
        ("a.jpg", "/m/0", 1.0), ("b.jpg", "/m/0", 0.0), ("c.jpg", "/m/1", 1.0), ("c.jpg", "/m/3", 1.0)]
    boxes = a[a["type"] == "bbox"].set_index("name")
    # b: XMin 0.2 XMax 1 YMin 0.3 YMax 0.5 on 8x2 -> x 1.6, w 6.4, y 0.6, h 0.4
    assert np.allclose(boxes.loc["b.jpg", ["x", "y", "w", "h"]].astype(float), [1.6, 0.6, 6.4, 0.4])
    assert boxes.loc["b.jpg", "attributes"] == {}  # every flag -1: unknown
    c = boxes.loc["c.jpg"]
    assert c["score"] == 0.7 and c["occluded"]
    assert c["attributes"] == {"occluded": True, "truncated": False, "is_group_of": True, "is_depiction": False,
                               "is_inside": False}
    mask = a[a["type"] == "mask"].iloc[0]
    assert mask["name"] == "b.jpg" and mask["label"] == "/m/0"
    assert mask["attributes"] == {"box_id": "01234567", "predicted_iou": 0.5}
    assert mask["group"] == boxes.loc["b.jpg", "group"]  # drawn in that box
    assert coco_decode(mask["mask"])[:, :2].all() and coco_decode(mask["mask"]).sum() == 4
    labels = ds.labels.set_index("name")
    assert list(labels.index) == ["/m/0", "/m/1", "/m/2", "/m/3"]
    assert labels.loc["/m/1", "extra"] == {"display_name": "Generic label #1", "open_images_parent": "/m/0"}


@pytest.mark.fixtures
def test_v5_sample_loads_items_and_labels(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "open_images_dataset/v5"))
    assert ds.info["format"] == FMT
    assert sorted(zip(ds.items["name"], ds.items["subset"], strict=True)) == [("aa.jpg", "train"), ("cc.jpg", "test")]
    assert ds.annotations.empty and ds.labels["name"].tolist() == ["/m/0", "/m/1"]


def _dataset(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    items = []
    for i, (subset, name, w, h) in enumerate([("train", "a.png", 20, 10), ("train", "b.png", 16, 12),
                                              ("test", "c.png", 8, 8)]):
        Image.new("RGB", (w, h), (10, 20, 30)).save(media / name)
        items.append(dict(item_id=i, name=name, subset=subset, media=str(media / name), width=w, height=h))
    m = np.zeros((12, 16), bool)
    m[2:6, 3:9] = True
    rows = [
        dict(item_id=0, type="tag", label="street", score=0.25),
        dict(item_id=0, type="bbox", label="car", x=1.5, y=2.25, w=5.0, h=4.0, score=0.9, occluded=True,
             attributes={"occluded": True, "truncated": False, "is_group_of": True}),
        dict(item_id=1, type="bbox", label="road", x=3.0, y=2.0, w=6.0, h=4.0, group=4, score=1.0,
             attributes={}),
        dict(item_id=1, type="mask", label="road", mask=coco_encode(m), x=3.0, y=2.0, w=6.0, h=4.0, group=4,
             attributes={"box_id": "0000abcd", "predicted_iou": 0.75}),
    ]
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", range(len(ann)))
    return aw.Dataset(items=items, annotations=ann, labels=[{"name": n} for n in ("car", "road", "street")]).validate()


def test_round_trip_keeps_tags_boxes_masks_and_their_link(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "oi", save_images=True)
    root = tmp_path / "oi/out"
    assert (root / "annotations/class-descriptions.csv").read_text().splitlines() == \
        ["car,car", "road,road", "street,street"]
    assert (root / "annotations/images.meta").read_text().splitlines()[0] == "a 10 20"
    assert (root / "masks/train/b_road_0000abcd.png").exists() and (root / "images/test/c.png").exists()
    back = aw.load(str(out))
    assert back.info["format"] == FMT
    assert sorted(back.items[["name", "subset", "width", "height"]].values.tolist()) == \
        ds.items[["name", "subset", "width", "height"]].values.tolist()
    cols = ["name", "type", "label", "x", "y", "w", "h", "score", "occluded"]
    got = back.annotations.merge(back.items[["item_id", "name"]], on="item_id")
    got = got.sort_values(["name", "type"]).reset_index(drop=True)
    want = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    want = want.sort_values(["name", "type"]).reset_index(drop=True)
    assert got["type"].tolist() == want["type"].tolist()
    for c in cols:
        g, w = got[c], want[c]
        if c in "xywh" or c == "score":
            assert np.allclose(g.astype(float), w.astype(float), equal_nan=True), c
        else:
            assert g.tolist() == w.tolist(), c
    assert got["attributes"].iloc[0] == {"occluded": True, "truncated": False, "is_group_of": True}
    assert got["attributes"].iloc[3] == {"box_id": "0000abcd", "predicted_iou": 0.75}
    assert (coco_decode(got["mask"].iloc[3]) == coco_decode(want["mask"].iloc[3])).all()
    assert got["group"].iloc[2] == got["group"].iloc[3] and got["group"].notna().sum() == 2
    assert not out.loss


def test_loss_report_names_what_open_images_cannot_carry(tmp_path):
    ds = _dataset(tmp_path)
    extra = pd.DataFrame([
        dict(ann_id=10, item_id=0, type="polyline", label="car", points=[1.0, 1.0, 3.0, 3.0], x=1.0, y=1.0, w=2.0,
             h=2.0),
        dict(ann_id=11, item_id=2, type="polygon", label="car", points=[1.0, 1.0, 5.0, 1.0, 5.0, 5.0], x=1.0, y=1.0,
             w=4.0, h=4.0),
        dict(ann_id=12, item_id=0, type="bbox", label="car", x=1.0, y=1.0, w=4.0, h=4.0,
             attributes={"color": "red"}),
    ])
    ds = aw.Dataset(items=ds.items, annotations=pd.concat([ds.annotations, extra], ignore_index=True),
                    labels=ds.labels)
    out = _export(ds, tmp_path / "k")
    rep = {r: e.reason for e in out.loss.entries for r in e.rows}
    assert "not polyline" in rep[10]
    assert "written as a mask" in rep[11]
    assert "no column" in rep[12]
    assert set(rep) == {10, 11, 12}
    back = aw.load(str(out))
    assert (back.annotations["type"] == "mask").sum() == 2  # the polygon, rasterised


def test_bad_tables_name_file_and_line(tmp_path):
    d = tmp_path / "ds" / "annotations"
    d.mkdir(parents=True)
    (d / "class-descriptions.csv").write_text("/m/0,zero\n")
    (d / "images.meta").write_text("x 4 4\n")
    (d / "train-annotations-bbox.csv").write_text(
        "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside\n"
        "x,xclick,/m/0,1,0.1,0.5,0.1,0.5,0,0,0,0,0\n"
        "x,xclick,/m/0,1,0.1,wide,0.1,0.5,0,0,0,0,0\n")
    with pytest.raises(aw.FormatError, match=r"train-annotations-bbox\.csv:3: column XMax is 'wide'"):
        aw.load(str(tmp_path / "ds"))
    (d / "train-annotations-bbox.csv").write_text("ImageID,Source,LabelName\nx,xclick,/m/0\n")
    with pytest.raises(aw.FormatError, match=r"train-annotations-bbox\.csv:1: missing column\(s\) Confidence|"
                                             r"train-annotations-bbox\.csv:1: missing column\(s\) XMin"):
        aw.load(str(tmp_path / "ds"), format=FMT)
    (d / "train-annotations-bbox.csv").unlink()
    (d / "images.meta").write_text("x four 4\n")
    (d / "train-annotations-human-imagelabels.csv").write_text("ImageID,Source,LabelName,Confidence\nx,v,/m/0,1\n")
    with pytest.raises(aw.FormatError, match=r"images\.meta:1: expected '<image id> <height> <width>'"):
        aw.load(str(tmp_path / "ds"))


def test_unknown_size_is_named_not_guessed(tmp_path):
    d = tmp_path / "ds" / "annotations"
    d.mkdir(parents=True)
    (d / "train-annotations-bbox.csv").write_text(
        "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside\n"
        "x,xclick,/m/0,1,0.1,0.5,0.1,0.5,0,0,0,0,0\n")
    ds = aw.load(str(tmp_path / "ds"))
    assert ds.annotations.empty and len(ds.items) == 1
    assert ds.loss.entries[0].rows == [0] and "image size unknown" in ds.loss.entries[0].reason


@pytest.mark.oracle
def test_datumaro_reads_our_open_images_export(tmp_path, oracle):
    ds = peers.make_dataset(tmp_path / "media")
    out = _export(ds, tmp_path / "oi", save_images=True)
    got = oracle(peers.DM_READ, str(out), "open_images")
    assert sorted(map(tuple, got["items"])) == sorted(zip(ds.items["subset"], ds.items["name"].str[:-4],
                                                          strict=True))
    theirs = peers.peer_boxes([{k: b[k] for k in ("image", "label", "x", "y", "w", "h")} for b in got["boxes"]])
    ours = peers.our_boxes(ds)
    assert theirs[["image", "label"]].values.tolist() == ours[["image", "label"]].values.tolist()
    assert np.abs(theirs[list("xywh")].to_numpy() - ours[list("xywh")].to_numpy()).max() <= 0.006
    back = aw.load(str(out))
    a = back.annotations[back.annotations["type"] == "mask"].merge(back.items[["item_id", "name"]], on="item_id")
    ours_px = {(n[:-4], lab): set(np.flatnonzero(coco_decode(m)).tolist())
               for n, lab, m in zip(a["name"], a["label"], a["mask"], strict=True)}
    theirs_px = {(m["image"], m["label"]): set(m["pixels"]) for m in got["masks"]}
    assert theirs_px == ours_px and len(ours_px) == 8
