"""COCO 1.0 / Keypoints 1.0 on Datumaro's real sample trees (every COCO task variant)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import annowidgets as aw
from annowidgets.core.errors import FormatError
from annowidgets.core.io import Source
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode
from annowidgets.formats import registry


def _coco(datumaro_dir, name):
    return datumaro_dir / "coco_dataset" / name


@pytest.mark.parametrize("name", ["coco_instances", "coco_roboflow", "mmdet_coco"])
def test_instances_layouts_load(datumaro_dir, name):
    path = _coco(datumaro_dir, name)
    with Source(path) as s:
        assert registry.detect(s).name == "COCO 1.0"
    ds = aw.load(path).validate()
    assert ds.summary()["subsets"] == {"train": 1, "val": 1}
    a = ds.annotations.set_index("type")
    assert sorted(ds.annotations["type"]) == ["bbox", "mask", "polygon"]
    assert ds.labels["name"].tolist() == ["a", "b", "c"]
    assert ds.labels["extra"].map(lambda e: e["coco_id"]).tolist() == [1, 2, 4]  # the gap in ids survives
    box = a.loc["bbox"]
    assert (box["label"], box["x"], box["y"], box["w"], box["h"]) == ("b", 2.0, 2.0, 3.0, 1.0)
    poly = a.loc["polygon"]
    assert poly["points"] == [0.0, 0.0, 1.0, 0.0, 1.0, 2.0, 0.0, 2.0]
    assert poly["attributes"] == {"x": 1, "y": "hello"}
    mask = a.loc["mask"]
    # uncompressed counts [0, 20, 30] on a 10x5 image: the first 20 pixels column-major = two columns
    m = coco_decode(mask["mask"])
    assert m.shape == (10, 5) and m[:, :2].all() and not m[:, 2:].any()
    assert mask["source"] == "annotation" and ds.items.set_index("subset").loc["val", "name"] == "b.jpg"
    # media found in the layout's own images folder
    assert all(m_.endswith(("a.jpg", "b.jpg")) and "/" in m_ for m_ in ds.items["media"])


def test_person_keypoints(datumaro_dir):
    path = _coco(datumaro_dir, "coco_person_keypoints")
    with Source(path) as s:
        assert registry.detect(s).name == "COCO Keypoints 1.0"
    ds = aw.load(path).validate()
    a = ds.annotations
    sk = a[a["type"] == "skeleton"]
    pts = a[a["type"] == "points"]
    assert len(sk) == 3 and len(pts) == 9
    assert set(pts["parent_id"]) == set(sk["ann_id"])
    # train: keypoints [0,0,0, 0,2,1, 4,1,2] -> absent, occluded, visible
    train_sk = sk[sk["item_id"] == 5].iloc[0]
    kids = pts[pts["parent_id"] == train_sk["ann_id"]]
    assert kids["outside"].tolist() == [True, False, False]
    assert kids["occluded"].tolist() == [False, True, False]
    assert kids["points"].tolist() == [[0.0, 0.0], [0.0, 2.0], [4.0, 1.0]]
    # the instance box stays, in the skeleton's group
    box = a[(a["type"] == "bbox") & (a["group"] == train_sk["group"])]
    assert len(box) == 1 and box.iloc[0]["w"] == 3.0
    lab = ds.labels
    assert lab.loc[lab["parent"].isna(), "type"].tolist() == ["skeleton", "skeleton"]
    assert lab.loc[lab["parent"] == "a", "name"].tolist() == ["1", "2", "3"]
    # the sample's 0-based edges [[0,1],[1,2]] become COCO's 1-based [[1,2],[2,3]]
    a_extra = lab.loc[(lab["name"] == "a") & lab["parent"].isna(), "extra"].iloc[0]
    assert a_extra["skeleton"] == [[1, 2], [2, 3]]
    assert 'data-node-from="1" data-node-to="2"' in lab.loc[lab["name"] == "a", "svg"].iloc[0]


def test_labels_captions_image_info_stuff(datumaro_dir):
    labels = aw.load(_coco(datumaro_dir, "coco_labels")).validate()
    assert labels.annotations["type"].tolist() == ["tag"] * 3
    assert sorted(labels.annotations["label"]) == ["a", "b", "b"]
    caps = aw.load(_coco(datumaro_dir, "coco_captions")).validate()
    assert caps.annotations["type"].unique().tolist() == ["text"]
    assert sorted(caps.annotations["text"]) == ["hello", "text", "world"]
    info = aw.load(_coco(datumaro_dir, "coco_image_info")).validate()
    assert len(info.items) == 2 and len(info.annotations) == 0
    assert info.items["width"].tolist() == [10, 5]
    stuff = aw.load(_coco(datumaro_dir, "coco_stuff")).validate()
    assert stuff.annotations["type"].tolist() == ["mask", "mask"]
    m = coco_decode(stuff.annotations.iloc[0]["mask"])
    assert m.shape == (5, 10) and m.sum() == 20


def test_all_tasks_in_one_tree(datumaro_dir):
    ds = aw.load(_coco(datumaro_dir, "coco")).validate()
    assert len(ds.items) == 2  # the same images listed by every task file are one item each
    by_type = ds.summary()["by_type"]
    assert by_type == {"points": 9, "mask": 4, "text": 3, "tag": 3, "skeleton": 3, "bbox": 2, "polygon": 2}
    # panoptic files are skipped, and the skip is said
    assert any("panoptic" in e.reason for e in ds.loss.entries)


def test_panoptic_alone_is_a_clear_error(datumaro_dir):
    with pytest.raises(FormatError, match="panoptic"):
        aw.load(_coco(datumaro_dir, "coco_panoptic"), format="COCO 1.0")


def test_single_json_file(datumaro_dir):
    f = _coco(datumaro_dir, "coco_instances") / "annotations" / "instances_val.json"
    ds = aw.load(f).validate()
    assert ds.info["format"] == "COCO 1.0"
    assert ds.items["subset"].tolist() == ["val"]
    assert np.isclose(ds.annotations["w"].sum(), 1.0 + 2.0)


def _objects(a):
    """(label, type, box) of each row, as a sorted list: what an export -> load must give back."""
    return sorted(zip(a["label"], a["type"], *(a[k].astype(float).round(6) for k in "xywh"), strict=True))


@pytest.mark.parametrize("fmt", ["COCO", "COCO_WITH_IMAGES", "COCO Keypoints 1.0"])
def test_person_keypoints_written_once(datumaro_dir, tmp_path, fmt):
    """A skeleton's box, polygon or mask is its keypoint annotation's bbox/segmentation, not one more object."""
    src = aw.load(_coco(datumaro_dir, "coco_person_keypoints")).validate()
    out = src.export(str(tmp_path), format=fmt, archive=False, name="out")
    assert not out.loss, out.loss.summary()
    doc_files = list(tmp_path.joinpath("out").rglob("*.json"))
    written = sum(len(json.loads(f.read_text())["annotations"]) for f in doc_files)
    assert written == 3  # one COCO annotation per keypoint instance, as the sample has
    back = aw.load(str(out), format=fmt).validate()
    assert len(back.annotations) == len(src.annotations) == 15
    assert _objects(back.annotations) == _objects(src.annotations)
    # the mask instance keeps its pixels (iscrowd RLE segmentation of the keypoint annotation)
    m_src = src.annotations[src.annotations["type"] == "mask"].iloc[0]["mask"]
    m_back = back.annotations[back.annotations["type"] == "mask"].iloc[0]["mask"]
    assert np.array_equal(coco_decode(m_src), coco_decode(m_back))


def test_person_keypoints_to_coco_instances_reports_the_skeletons(datumaro_dir, tmp_path):
    src = aw.load(_coco(datumaro_dir, "coco_person_keypoints")).validate()
    a = src.annotations
    with pytest.warns(LossWarning):
        out = src.export(str(tmp_path), format="COCO 1.0", archive=False, name="out")
    reported = {r for e in out.loss.entries for r in e.rows}
    assert reported == set(a.loc[a["type"].isin(["skeleton", "points"]), "ann_id"])
    back = aw.load(str(out), format="COCO 1.0").validate()
    assert _objects(back.annotations) == _objects(a[~a["ann_id"].isin(reported)])
