"""LabelMe 3.0: Datumaro's sample, round trips through our tables (boxes, rotated boxes, polygons,
masks, attributes with escapes, groups), what LabelMe cannot carry, bad XML, detection beside VOC,
and Datumaro reading our export."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.errors import FormatError
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode, coco_encode

from ..interop import peers


def _export(ds, tmp_path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(tmp_path), format="LabelMe 3.0", archive=False, name="out", **kw)


# -- Datumaro's sample ------------------------------------------------------------------------
def test_datumaro_sample_loads_detected(datumaro_dir):
    root = datumaro_dir / "labelme_dataset"
    ds = aw.load(str(root))
    assert ds.info["format"] == "LabelMe 3.0"
    it = ds.items.iloc[0]
    assert (it["name"], it["subset"], it["width"], it["height"]) == ("img1.png", "subset1", 102, 77)
    assert it["media"].endswith("Images/subset1/img1.png")
    a = ds.annotations.set_index("label")
    assert list(a.index) == ["window", "license plate", "o1", "q1", "b1", "m1", "hg"]
    assert a["type"].tolist() == ["polygon", "mask", "polygon", "polygon", "bbox", "mask", "polygon"]
    assert a.loc["window", "points"] == [43, 34, 45, 34, 45, 37, 43, 37]
    assert a.loc["b1", ["x", "y", "w", "h"]].tolist() == [13, 19, 10, 11]  # a bounding_box polygon
    assert a.loc["o1", "points"][:4] == [30, 12, 42, 21] and len(a.loc["o1", "points"]) == 14
    # masks: every non-transparent pixel of the PNG, over the whole image
    for label, png in (("license plate", "img1_mask_1.png"), ("m1", "img1_mask_5.png")):
        want = np.asarray(Image.open(root / "Masks" / "subset1" / png)).any(axis=2)
        got = coco_decode(a.loc[label, "mask"])
        assert got.shape == (77, 102) and (got == want).all()
        ys, xs = np.nonzero(want)
        assert a.loc[label, ["x", "y"]].tolist() == [xs.min(), ys.min()]
    # occluded yes/no, attribute lists (a bare name is True), parts -> groups
    assert a["occluded"].tolist() == [False, False, True, False, True, False, False]
    assert a.loc["o1", "attributes"] == {"a1": True} and a.loc["hg", "attributes"] == {"gfd lkj lkj hi": True}
    assert a.loc["window", "attributes"] is None
    g = a["group"]
    assert g.loc["o1"] == g.loc["q1"] == g.loc["b1"] and g.loc["m1"] == g.loc["hg"] != g.loc["o1"]
    assert pd.isna(g.loc["window"]) and pd.isna(g.loc["license plate"])
    assert a.loc["window", "extra"] == {"date": "25-May-2012 00:09:48", "username": "admin"}
    assert not ds.loss


def test_masks_as_polygons_on_request(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "labelme_dataset"), format="label_me", to_polygons=True)
    a = ds.annotations
    assert (a["type"] != "mask").all() and len(a) == 7
    lp = a[a["label"] == "license plate"].iloc[0]
    assert lp["type"] == "polygon" and [lp["x"], lp["y"], lp["w"], lp["h"]] == [58, 67, 5, 2]


def test_voc_is_not_labelme(datumaro_dir):
    assert aw.load(str(datumaro_dir / "voc_dataset" / "voc_dataset1")).info["format"] == "PASCAL VOC 1.1"


# -- attributes -------------------------------------------------------------------------------
def test_attribute_text_round_trips_with_escapes():
    # imported here: importing a format module at collection would register it ahead of the others
    # and reorder aw.formats() (the README table is checked against that order)
    from annowidgets.formats.labelme import format_attributes, parse_attributes

    attrs = {"n": 5, "f": 1.5, "whole": 2.0, "b": True, "no": False, "num_text": "5", "bool_text": "true",
             "quoted": '"x"', "comma": "a,b=c\\d", "empty": "", "k=,": "v", "words": "big red car"}
    text = format_attributes(attrs)
    assert parse_attributes(text) == attrs
    assert parse_attributes('x=1, y="5", z=a\\,b, flag') == {"x": 1, "y": "5", "z": "a,b", "flag": True}


# -- round trip -------------------------------------------------------------------------------
def _dataset(tmp_path) -> aw.Dataset:
    ds = peers.make_dataset(tmp_path / "media")
    a = ds.annotations.copy()
    a["attributes"] = [{"color": "red", "n": 3, "ok": True} if t == "bbox" else None for t in a["type"]]
    a.loc[a["type"] == "polygon", "occluded"] = True
    first_box = a.index[a["type"] == "bbox"][0]
    a.loc[first_box, "rotation"] = 30.0
    same_item = a["item_id"] == a.loc[first_box, "item_id"]
    a.loc[same_item & a["type"].isin(["bbox", "polygon"]), "group"] = 1
    return aw.Dataset(items=ds.items, annotations=a, labels=ds.labels).validate()


def test_round_trip_equal_on_what_labelme_carries(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path, save_images=True)
    assert out.loss.summary().endswith("nothing lost")
    back = aw.load(str(out))
    assert back.info["format"] == "LabelMe 3.0"
    key = ["subset", "name", "width", "height"]
    pd.testing.assert_frame_equal(back.items.sort_values("name")[key].reset_index(drop=True),
                                  ds.items.sort_values("name")[key].reset_index(drop=True), check_dtype=False)
    # item ids differ (files are read in name order): compare by image name
    back.annotations["item_id"] = back.annotations["item_id"].map(
        back.items.set_index("item_id")["name"].map(ds.items.set_index("name")["item_id"]))
    assert (tmp_path / "out" / "Images" / "train" / "street_01.png").exists()
    cols = ["item_id", "label", "type", "x", "y", "w", "h", "rotation", "occluded", "attributes"]
    want = ds.annotations.sort_values(["item_id", "ann_id"])[cols].reset_index(drop=True)
    got = back.annotations.sort_values(["item_id", "ann_id"])[cols].reset_index(drop=True)
    # within an item, LabelMe keeps the order: rows line up
    got = got.sort_values(["item_id", "type", "label"], kind="stable").reset_index(drop=True)
    want = want.sort_values(["item_id", "type", "label"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    for t, col in (("polygon", "points"), ("mask", "mask")):
        w = ds.annotations.loc[ds.annotations["type"] == t, col].tolist()
        g = back.annotations.loc[back.annotations["type"] == t, col].tolist()
        if t == "mask":
            w, g = [coco_decode(m).tolist() for m in w], [coco_decode(m).tolist() for m in g]
        assert g == w
    grouped = back.annotations[back.annotations["group"].notna()]
    assert len(grouped) == 3 and grouped["group"].nunique() == 1  # the two boxes and the polygon


def test_loss_report_names_what_labelme_cannot_carry(tmp_path):
    ds = peers.make_dataset(tmp_path / "media")
    more = pd.DataFrame([
        dict(ann_id=100, item_id=0, label="car", type="polyline", points=[0, 0, 5, 5], x=0, y=0, w=5, h=5),
        dict(ann_id=101, item_id=0, label="car", type="tag"),
        dict(ann_id=102, item_id=0, label="car", type="bbox", x=1, y=1, w=2, h=2, track_id=4, frame=0,
             keyframe=True),
        dict(ann_id=103, item_id=0, label="car", type="bbox", x=1, y=1, w=2, h=2, score=0.5,
             source="annotation"),
    ])
    ds = aw.Dataset(items=ds.items, annotations=pd.concat([ds.annotations, more], ignore_index=True),
                    labels=ds.labels)
    loss = _export(ds, tmp_path).loss.to_frame()
    by_reason = dict(zip(loss["reason"], loss["rows"], strict=True))
    assert next(v for k, v in by_reason.items() if "only boxes, polygons and masks" in k) == [100, 101]
    assert next(v for k, v in by_reason.items() if "no tracks" in k) == [102]
    assert next(v for k, v in by_reason.items() if "score" in k) == [103]


# -- bad input --------------------------------------------------------------------------------
def test_malformed_xml_names_file_and_line(tmp_path, datumaro_dir):
    src = (datumaro_dir / "labelme_dataset" / "Annotations" / "subset1" / "img1.xml").read_text()
    d = tmp_path / "Annotations" / "s"
    d.mkdir(parents=True)
    bad = src.replace("<object>", "<object>\n", 1).replace("</name>", "\n</nam>", 1)
    (d / "img1.xml").write_text(bad)
    with pytest.raises(FormatError) as info:
        aw.load(str(tmp_path), format="LabelMe 3.0")
    assert info.value.file.endswith("Annotations/s/img1.xml") and info.value.line == 3
    (d / "img1.xml").write_text(src.replace("<x>43</x>", "<x>left</x>", 1))
    with pytest.raises(FormatError, match="numeric <x> and <y>") as info:
        aw.load(str(tmp_path), format="LabelMe 3.0")
    assert info.value.line == 1 and info.value.element == "pt"
    (d / "img1.xml").write_text(src)  # its masks are not beside it
    with pytest.raises(FormatError, match="mask file 'Masks/subset1/img1_mask_1.png' not found"):
        aw.load(str(tmp_path), format="LabelMe 3.0")


# -- Datumaro reads ours ----------------------------------------------------------------------
@pytest.mark.oracle
def test_datumaro_reads_our_labelme(tmp_path, oracle):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path, save_images=True)
    got = peers.datumaro_read(oracle, out, "label_me")
    assert sorted(map(tuple, got["items"])) == sorted(zip(ds.items["subset"], ds.items["name"].str.removesuffix(".png"),
                                                          strict=True))
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    a["image"] = a["name"].str.removesuffix(".png")
    theirs = peers.peer_boxes([{k: b[k] for k in ("image", "label", "x", "y", "w", "h")} for b in got["boxes"]])
    ours = peers.our_boxes(ds)  # the rotated one as CVAT writes it: unrotated, rotation as an attribute
    assert theirs[["image", "label"]].values.tolist() == ours[["image", "label"]].values.tolist()
    assert np.abs(theirs[list("xywh")].to_numpy() - ours[list("xywh")].to_numpy()).max() <= 0.01
    polys = a[a["type"] == "polygon"].sort_values("image")
    theirs_p = sorted(got["polygons"], key=lambda p: p["image"])
    assert [(p["image"], p["label"]) for p in theirs_p] == list(zip(polys["image"], polys["label"], strict=True))
    for p, pts in zip(theirs_p, polys["points"], strict=True):
        assert np.abs(np.asarray(p["points"]) - np.asarray(pts)).max() <= 0.01
    masks = a[a["type"] == "mask"].set_index("image")
    assert sorted(m["image"] for m in got["masks"]) == sorted(masks.index)
    for m in got["masks"]:
        src = coco_decode(masks.loc[m["image"], "mask"])
        assert m["label"] == "road" and m["pixels"] == np.flatnonzero(src).tolist()


def test_names_keep_their_folder_and_subsets_do_not_clash(tmp_path):
    m = np.zeros((10, 12), bool)
    m[2:5, 3:9] = True
    items = pd.DataFrame({"item_id": [0, 1, 2], "name": ["cams/a/x.jpg", "x.jpg", "x.jpg"],
                          "subset": ["train", "train", "val"], "width": 12, "height": 10})
    ann = pd.DataFrame([dict(ann_id=0, item_id=0, label="car", type="mask", mask=coco_encode(m), x=3, y=2, w=6,
                             h=3),
                        dict(ann_id=1, item_id=2, label="car", type="bbox", x=1, y=1, w=2, h=2)])
    out = _export(aw.Dataset(items=items, annotations=ann), tmp_path)
    assert out.loss.summary().endswith("nothing lost")  # x.jpg in train and in val: two folders, no rename
    assert (tmp_path / "out" / "Annotations" / "train" / "cams" / "a" / "x.xml").exists()
    assert (tmp_path / "out" / "Masks" / "train" / "cams" / "a" / "x_mask_0.png").exists()
    back = aw.load(str(out))
    assert sorted(zip(back.items["subset"], back.items["name"], strict=True)) == [
        ("train", "cams/a/x.jpg"), ("train", "x.jpg"), ("val", "x.jpg")]
    got = back.annotations.merge(back.items[["item_id", "name", "subset"]], on="item_id")
    assert sorted(zip(got["subset"], got["name"], got["type"], strict=True)) == [
        ("train", "cams/a/x.jpg", "mask"), ("val", "x.jpg", "bbox")]
    assert (coco_decode(got.loc[got["type"] == "mask", "mask"].iloc[0]) == m).all()


def test_voc_given_as_labelme_is_refused(datumaro_dir, tmp_path):
    with pytest.raises(FormatError, match="expected <polygon> or <segm> in a LabelMe <object>, found <bndbox>") as e:
        aw.load(str(datumaro_dir / "voc_dataset" / "voc_dataset1"), format="LabelMe 3.0")
    assert e.value.file.endswith(".xml") and e.value.line is not None
    with pytest.raises(FormatError, match="no LabelMe annotations here"):
        aw.load(str(tmp_path), format="label_me")


DM_WRITE_LABELME = """
import json, sys
import numpy as np
from datumaro.components.annotation import Bbox, Mask, Polygon
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import Image
m = np.zeros((20, 30), np.uint8)
m[5:12, 8:20] = 1
anns = [Bbox(1.25, 2.5, 6.0, 4.0, label=0, group=1, attributes={"occluded": True, "color": "red", "n": 2}),
        Polygon([10.5, 1.0, 20.0, 2.0, 15.0, 9.0], label=1, group=1), Mask(m, label=1)]
items = [DatasetItem(id="a", subset="train", media=Image.from_numpy(np.zeros((20, 30, 3), np.uint8)),
                     annotations=anns),
         DatasetItem(id="b", subset="val", media=Image.from_numpy(np.zeros((20, 30, 3), np.uint8)))]
Dataset.from_iterable(items, categories=["car", "road"]).export(sys.argv[1], "label_me", save_media=True)
print(json.dumps({"mask": np.flatnonzero(m).tolist()}))
"""


@pytest.mark.oracle
def test_we_read_datumaros_labelme(tmp_path, oracle):
    got = oracle(DM_WRITE_LABELME, str(tmp_path / "dm"))
    ds = aw.load(str(tmp_path / "dm"))
    assert ds.info["format"] == "LabelMe 3.0"
    assert sorted(zip(ds.items["subset"], ds.items["name"], ds.items["width"], strict=True)) == [
        ("train", "a.jpg", 30), ("val", "b.jpg", 30)]
    a = ds.annotations.set_index("type")
    assert a.loc["bbox", ["label", "x", "y", "w", "h"]].tolist() == ["car", 1.25, 2.5, 6.0, 4.0]
    assert a.loc["bbox", "occluded"] and a.loc["bbox", "attributes"] == {"color": "red", "n": 2}
    assert a.loc["polygon", "points"] == [10.5, 1.0, 20.0, 2.0, 15.0, 9.0]
    assert a.loc["bbox", "group"] == a.loc["polygon", "group"] and pd.isna(a.loc["mask", "group"])
    assert np.flatnonzero(coco_decode(a.loc["mask", "mask"])).tolist() == got["mask"]
