"""Tables -> COCO -> tables, and pycocotools as the oracle for what we write."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

import annowidgets as aw
from annowidgets.core import geometry
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode

from .coco_helpers import sample_dataset
from .media_helpers import TWINS, media_bytes, twins_dataset, zip_files


def _export(ds, tmp_path, fmt, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(tmp_path), format=fmt, archive=False, name="out", **kw)


def _by(ds, item, typ, label=None):
    a = ds.annotations
    sel = a[(a["type"] == typ) & (a["item_id"].isin(ds.items.loc[ds.items["name"] == item, "item_id"]))]
    return sel if label is None else sel[sel["label"] == label]


def test_roundtrip_coco_instances(tmp_path):
    src = sample_dataset()
    out = _export(src, tmp_path, "COCO 1.0")
    assert {e.reason for e in out.loss.entries} == {"skeletons are not carried by COCO 1.0 (use COCO Keypoints 1.0)"}
    assert sorted(out.loss.entries[0].rows) == [8, 10, 11, 12]
    files = sorted(p.name for p in (Path(out) / "annotations").iterdir())
    assert files == ["instances_train.json", "instances_val.json"]
    back = aw.load(out).validate()
    assert back.items["name"].tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    assert back.items["subset"].tolist() == ["train", "train", "val"]
    # boxes: exact, attributes and occluded back in their columns
    car = _by(back, "a.jpg", "bbox", "car").iloc[0]
    assert (car["x"], car["y"], car["w"], car["h"]) == (12.0, 16.0, 36.0, 40.0)
    assert car["attributes"] == {"color": "red"} and car["occluded"]
    # the rotated box comes back rotated, exactly
    pers = _by(back, "a.jpg", "bbox", "person").iloc[0]
    want = src.annotations.iloc[1]
    assert np.allclose([pers[k] for k in "xywh"], [want[k] for k in "xywh"]) and pers["rotation"] == 30.0
    # two-part polygon: one COCO instance, two rows again sharing region and group
    road = _by(back, "a.jpg", "polygon", "road")
    assert road["points"].tolist() == src.annotations.loc[[2, 3], "points"].tolist()
    assert road["region_id"].nunique() == 1 and road["group"].nunique() == 1
    # mask with a hole: same pixels
    sky = _by(back, "b.jpg", "mask", "sky").iloc[0]
    assert np.array_equal(coco_decode(sky["mask"]), coco_decode(src.annotations.loc[4, "mask"]))
    assert coco_decode(sky["mask"])[6, 15] == 0
    # prediction and annotator
    pred = back.annotations[back.annotations["source"] == "prediction"]
    assert len(pred) == 1 and pred.iloc[0]["score"] == 0.75 and pred.iloc[0]["x"] == 1.5
    assert back.annotations["annotator"].dropna().tolist() == ["ann@x.org"]
    # grouped objects stay separate objects with their own labels (Datumaro/CVAT merge them)
    g5 = back.annotations[back.annotations["group"] == 5]
    assert sorted(g5["label"]) == ["car", "person"] and sorted(g5["type"]) == ["bbox", "polygon"]


def test_roundtrip_keypoints(tmp_path):
    src = sample_dataset()
    out = _export(src, tmp_path, "COCO Keypoints 1.0")
    doc = json.loads((Path(out) / "annotations" / "person_keypoints_val.json").read_text())
    assert doc["categories"] == [{"id": 1, "name": "pose", "supercategory": "", "keypoints": ["head", "hand", "foot"],
                                  "skeleton": [[1, 2], [2, 3]]}]
    (ann,) = doc["annotations"]
    assert ann["keypoints"] == [5.0, 4.0, 2, 10.0, 12.0, 1, 0.0, 0.0, 0]
    assert ann["num_keypoints"] == 2
    assert ann["bbox"] == [1.0, 1.0, 25.0, 25.0]  # the box grouped with the skeleton
    back = aw.load(out).validate()
    a = back.annotations
    pts = a[a["type"] == "points"].sort_values("ann_id")
    assert pts["label"].tolist() == ["head", "hand", "foot"]
    assert pts["points"].tolist()[:2] == [[5.0, 4.0], [10.0, 12.0]]
    assert pts["occluded"].tolist() == [False, True, False] and pts["outside"].tolist() == [False, False, True]
    sk = a[a["type"] == "skeleton"].iloc[0]
    assert set(pts["parent_id"]) == {sk["ann_id"]}
    box = a[(a["type"] == "bbox") & (a["group"] == sk["group"])].iloc[0]
    assert [box[k] for k in "xywh"] == [1.0, 1.0, 25.0, 25.0]
    lab = back.labels
    assert lab.loc[lab["parent"] == "pose", "name"].tolist() == ["head", "hand", "foot"]


def test_pycocotools_loads_our_export(tmp_path):
    src = sample_dataset()
    el = dict(item_id=11, label="sky", type="ellipse", x=40.0, y=10.0, w=20.0, h=10.0, rotation=30.0)
    a = src.annotations
    ds = aw.Dataset(items=src.items, annotations=pd.concat([a, pd.DataFrame([dict(el, ann_id=99)])], ignore_index=True),
                    labels=src.labels)
    out = _export(ds, tmp_path, "COCO 1.0")
    assert any("ellipse written as an RLE mask" in e.reason for e in out.loss.entries)
    coco = COCO(str(Path(out) / "annotations" / "instances_train.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 8  # 2 boxes + 1 two-part polygon on a.jpg; mask, ellipse, 2 boxes, polygon on b.jpg
    by_cat = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    for ann in anns:
        rle = coco.annToRLE(ann) if ann["segmentation"] else None
        if isinstance(ann["segmentation"], dict):
            assert ann["iscrowd"] == 1
            assert ann["area"] == float(mask_utils.area(rle))
            assert ann["bbox"] == mask_utils.toBbox(rle).tolist()
        elif ann["segmentation"]:
            shoelace = float(geometry.polygon_area(ann["segmentation"]).sum())
            assert ann["area"] == pytest.approx(shoelace)
            # pycocotools rasterises polygons; its pixel count is close to the exact area
            assert abs(float(mask_utils.area(rle)) - shoelace) <= 0.15 * shoelace + 20
        else:
            assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3])
    sky = [x for x in anns if by_cat[x["category_id"]] == "sky" and x["attributes"]["rotation"] == 0][0]
    assert np.array_equal(coco.annToMask(sky).astype(bool), coco_decode(src.annotations.loc[4, "mask"]))
    ell = [x for x in anns if by_cat[x["category_id"]] == "sky" and x["attributes"]["rotation"] == 30.0][0]
    m = coco.annToMask(ell)
    assert abs(m.sum() - np.pi * 10 * 5) < 20  # the ellipse's area, rasterised in pixels
    # the rotated box: enclosing box in pixels, rotation and exact box kept
    rot = [x for x in anns if "unrotated_bbox" in x][0]
    want = src.annotations.iloc[1]
    ex = geometry.enclosing_box(want["x"], want["y"], want["w"], want["h"], 30.0)
    assert np.allclose(rot["bbox"], [float(v) for v in ex]) and rot["attributes"]["rotation"] == 30.0
    # predictions load as results too
    preds = [x for x in anns if "score" in x]
    res = coco.loadRes(preds)
    assert len(res.getAnnIds()) == 1


def test_rotated_boxes_cvat_mode_writes_the_unrotated_box(tmp_path):
    src = sample_dataset()
    out = _export(src, tmp_path, "COCO 1.0", rotated_boxes="cvat")
    doc = json.loads((Path(out) / "annotations" / "instances_train.json").read_text())
    rot = [x for x in doc["annotations"] if x["attributes"]["rotation"] == 30.0][0]
    want = src.annotations.iloc[1]
    assert rot["bbox"] == [want["x"], want["y"], want["w"], want["h"]] and "unrotated_bbox" not in rot
    back = aw.load(out)
    p = back.annotations[back.annotations["rotation"] == 30.0].iloc[0]
    assert [p[k] for k in "xywh"] == rot["bbox"]  # CVAT's reading: bbox is the unrotated box


def test_save_images_layout(tmp_path):
    img = tmp_path / "media"
    img.mkdir()
    for n in ("a.jpg", "b.jpg", "c.jpg"):
        (img / n).write_bytes(b"\xff\xd8" + n.encode())
    ds = sample_dataset()
    ds.media_root = str(img)
    out = _export(ds, tmp_path / "o", "COCO 1.0", save_images=True)
    assert (Path(out) / "images" / "train" / "a.jpg").read_bytes() == b"\xff\xd8a.jpg"
    assert (Path(out) / "images" / "val" / "c.jpg").exists()
    back = aw.load(out)
    assert back.items["media"].str.endswith("images/train/a.jpg").iloc[0]


def test_unwritable_types_are_reported(tmp_path):
    items = {"item_id": [0], "name": ["x.png"], "width": [10], "height": [10]}
    ann = {"ann_id": [0, 1, 2, 3], "item_id": [0] * 4, "label": ["l"] * 4,
           "type": ["polyline", "points", "tag", "cuboid"], "points": [[0, 0, 1, 1], [1, 1], None, [0] * 16]}
    ds = aw.Dataset(items=items, annotations=ann)
    with pytest.warns(LossWarning, match="polyline rows have no COCO representation"):
        out = ds.export(str(tmp_path), format="COCO 1.0", archive=False, name="o")
    assert sorted(r for e in out.loss.entries for r in e.rows) == [0, 1, 2, 3]
    doc = json.loads((Path(out) / "annotations" / "instances_default.json").read_text())
    assert doc["annotations"] == [] and doc["categories"] == []


@pytest.mark.parametrize("absolute", [False, True])
def test_same_basename_in_two_folders_keeps_both_images(tmp_path, absolute):
    """Two unnamed items with media a/img.jpg and b/img.jpg: two files, two images, two items back."""
    ds = twins_dataset(tmp_path / "media", absolute=absolute)
    out = ds.export(str(tmp_path / "o.zip"), format="COCO 1.0", save_images=True)
    files = zip_files(out)
    src = {f: (tmp_path / "media" / f / "img.jpg").read_bytes() for f in ("a", "b", "c")}
    # each subset has its own folder: the lone c/img.jpg of val keeps its base name
    assert files["images/train/a/img.jpg"] == src["a"] and files["images/train/b/img.jpg"] == src["b"]
    assert files["images/val/img.jpg"] == src["c"]
    assert not any(n.startswith("images/train/img") for n in files)
    train = json.loads(files["annotations/instances_train.json"])
    assert [im["file_name"] for im in train["images"]] == ["a/img.jpg", "b/img.jpg"]
    for im in train["images"]:  # every file_name is a file of the export
        assert f"images/train/{im['file_name']}" in files
    back = aw.load(out)
    b = back.items.set_index("item_id")
    assert back.items["name"].tolist() == ["a/img.jpg", "b/img.jpg", "img.jpg"]
    for (folder, *_), media in zip(TWINS, back.items["media"], strict=True):
        assert media_bytes(media) == src[folder]
    labels = back.annotations.assign(name=back.annotations["item_id"].map(b["name"]))
    assert sorted(zip(labels["name"], labels["label"], strict=True)) == [("a/img.jpg", "cat"), ("b/img.jpg", "dog"),
                                                            ("img.jpg", "cow")]


def test_same_given_name_twice_is_renamed_only_when_images_are_saved(tmp_path):
    ds = twins_dataset(tmp_path / "media", subsets=False)
    ds.items["name"] = ["img.jpg", "img.jpg", "other.jpg"]
    plain = ds.export(str(tmp_path / "plain.zip"), format="COCO 1.0")
    doc = json.loads(zip_files(plain)["annotations/instances_default.json"])
    assert [im["file_name"] for im in doc["images"]] == ["img.jpg", "img.jpg", "other.jpg"]
    with pytest.warns(LossWarning, match="collides"):
        out = ds.export(str(tmp_path / "o.zip"), format="COCO 1.0", save_images=True)
    assert [e.rows for e in out.loss.entries if "collides" in e.reason] == [[1]]
    files = zip_files(out)
    doc = json.loads(files["annotations/instances_default.json"])
    assert [im["file_name"] for im in doc["images"]] == ["img.jpg", "img__1.jpg", "other.jpg"]
    assert files["images/default/img.jpg"] == (tmp_path / "media/a/img.jpg").read_bytes()
    assert files["images/default/img__1.jpg"] == (tmp_path / "media/b/img.jpg").read_bytes()
