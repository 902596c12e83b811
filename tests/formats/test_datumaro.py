"""CVAT's "Datumaro 1.0": the real samples load, tables -> Datumaro -> tables keeps what it carries,
the loss report names the rest, detection by content, and broken files name themselves."""
from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core.errors import FormatError
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode, coco_encode

from ..conftest import DATUMARO

LEGACY = DATUMARO / "datumaro_dataset" / "legacy"


def _export(ds, folder, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(folder), format="Datumaro 1.0", archive=False, name="out", **kw)


# -- the real samples ------------------------------------------------------------------------------
def test_legacy_sample_matches_its_json():
    ds = aw.load(str(LEGACY))
    assert ds.info["format"] == "Datumaro 1.0"  # detected by content
    docs = {p.stem: json.loads(p.read_text()) for p in (LEGACY / "annotations").glob("*.json")}
    want_items = sorted((s, it["id"], it["image"]["path"]) for s, d in docs.items() for it in d["items"])
    got = sorted(zip(ds.items["subset"], ds.items["extra"].map(lambda e: e["id"]), ds.items["name"], strict=True))
    assert got == want_items
    names = [lab["name"] for lab in docs["train"]["categories"]["label"]["labels"]]
    assert ds.labels["name"].tolist() == names
    want = sorted((s, it["id"], names[a["label_id"]], json.dumps(a.get("attributes") or None))
                  for s, d in docs.items() for it in d["items"] for a in it["annotations"])
    a = ds.annotations.merge(ds.items[["item_id", "subset", "extra"]], on="item_id", suffixes=("", "_item"))
    got = sorted(zip(a["subset"], a["extra_item"].map(lambda e: e["id"]), a["label"],
                     a["attributes"].map(lambda v: json.dumps(v)), strict=True))
    assert got == want
    assert set(ds.annotations["type"]) == {"tag"}
    # the images sit at images/<path>, Datumaro's fallback for paths that hold the subset
    for media, name in zip(ds.items["media"], ds.items["name"], strict=True):
        assert Path(media) == LEGACY / "images" / name and Path(media).is_file()
    assert ds.info["datumaro_label_groups"][0]["name"] == "manmade"


def test_legacy_sample_round_trips(tmp_path):
    ds = aw.load(str(LEGACY))
    out = _export(ds, tmp_path, save_images=True)
    assert not out.loss
    back = aw.load(str(out))
    cols = ["item_id", "label", "type", "attributes", "group", "region_id"]
    pd.testing.assert_frame_equal(back.annotations[cols], ds.annotations[cols])
    assert back.items[["name", "subset", "extra"]].equals(ds.items[["name", "subset", "extra"]])
    assert (Path(out) / "images" / "train" / "train" / "a.jpg").is_file()
    doc = json.loads((Path(out) / "annotations" / "test.json").read_text())
    assert doc["categories"]["label"]["label_groups"][0]["labels"] == ["car", "bicycle"]


# -- our round trip ------------------------------------------------------------------------------
def _mask(h, w):
    m = np.zeros((h, w), bool)
    m[5:15, 20:34] = True
    m[8:10, 24:26] = False  # a hole
    return m


def sample() -> aw.Dataset:
    items = [dict(item_id=0, name="img0.png", subset="train", frame=0, width=48, height=32),
             dict(item_id=1, name="img1.png", subset="train", frame=1, width=48, height=32),
             dict(item_id=2, name="img2.png", subset="val", frame=2, width=40, height=30)]
    m = _mask(32, 48)
    ys, xs = np.nonzero(m)
    rows = [
        dict(item_id=0, type="bbox", label="car", x=2.5, y=3.25, w=10.0, h=6.5, rotation=30.0, group=1, z_order=2,
             attributes={"color": "red", "parked": True}, occluded=True),
        dict(item_id=0, type="polygon", label="car", points=[1.0, 1.0, 9.5, 1.0, 5.0, 7.25], group=1),
        dict(item_id=0, type="polyline", label="lane", points=[0.0, 30.0, 47.0, 20.5]),
        dict(item_id=0, type="points", label="person", points=[10.0, 11.0, 12.5, 13.0]),
        dict(item_id=0, type="ellipse", label="person", x=30.0, y=20.0, w=8.0, h=4.0, rotation=-15.0, z_order=-1),
        dict(item_id=0, type="mask", label="road", mask=coco_encode(m), x=float(xs.min()), y=float(ys.min()),
             w=float(xs.max() + 1 - xs.min()), h=float(ys.max() + 1 - ys.min())),
        dict(item_id=0, type="tag", label="day", attributes={"weather": "sunny"}),
        # a track over frames 0 and 1: a keyframe and an interpolated frame
        dict(item_id=0, type="bbox", label="car", x=20.0, y=2.0, w=5.0, h=5.0, track_id=3, keyframe=True),
        dict(item_id=1, type="skeleton", label="body", x=5.0, y=6.0, w=4.0, h=3.0, z_order=1),
        dict(item_id=1, type="points", label="head", points=[5.0, 6.0], x=5.0, y=6.0, w=0.0, h=0.0, parent=8),
        dict(item_id=1, type="points", label="tail", points=[9.0, 9.0], x=9.0, y=9.0, w=0.0, h=0.0, parent=8,
             occluded=True),
        dict(item_id=1, type="points", label="paw", points=[1.0, 2.0], x=1.0, y=2.0, w=0.0, h=0.0, parent=8,
             outside=True),
        dict(item_id=1, type="bbox", label="car", x=22.0, y=2.0, w=5.0, h=5.0, track_id=3, keyframe=False),
        dict(item_id=2, type="bbox", label="person", x=0.5, y=0.5, w=3.0, h=4.0),
    ]
    for i, r in enumerate(rows):
        r["ann_id"] = i
        r["parent_id"] = r.pop("parent", pd.NA)
        r["frame"] = items[r["item_id"]]["frame"]
        if r["type"] in ("polygon", "polyline", "points") and "x" not in r:
            p = np.asarray(r["points"]).reshape(-1, 2)
            r.update(x=p[:, 0].min(), y=p[:, 1].min(), w=np.ptp(p[:, 0]), h=np.ptp(p[:, 1]))
    labels = [{"name": "car", "type": "rectangle", "color": "#ff0000", "attributes": [{"name": "color"}]},
              {"name": "person", "color": "#00ff00"}, {"name": "lane"}, {"name": "road", "type": "mask"},
              {"name": "day", "type": "tag"}, {"name": "body", "type": "skeleton"},
              {"name": "head", "parent": "body", "type": "points"}, {"name": "tail", "parent": "body", "type": "points"},
              {"name": "paw", "parent": "body", "type": "points"}]
    return aw.Dataset(items=items, annotations=pd.DataFrame(rows), labels=labels).validate()


CARRIED = ["ann_id", "item_id", "frame", "label", "type", "x", "y", "w", "h", "rotation", "points", "mask", "z_order",
           "group", "attributes", "occluded", "outside", "keyframe", "track_id", "parent_id"]


def test_round_trip_keeps_what_datumaro_carries(tmp_path):
    src = sample()
    out = _export(src, tmp_path)
    assert not out.loss, out.loss.summary()
    assert sorted(p.name for p in (Path(out) / "annotations").iterdir()) == ["train.json", "val.json"]
    back = aw.load(str(out))  # detected
    assert back.info["format"] == "Datumaro 1.0"
    assert back.items[["name", "subset", "frame", "width", "height"]].equals(
        src.items[["name", "subset", "frame", "width", "height"]])
    pd.testing.assert_frame_equal(back.annotations[CARRIED], src.annotations[CARRIED], check_dtype=False)
    assert back.labels.set_index("name").loc["car", "color"] == "#ff0000"
    assert back.labels.set_index("name").loc["tail", "parent"] == "body"
    assert coco_decode(back.annotations.loc[5, "mask"]).tolist() == _mask(32, 48).tolist()


def test_written_json_is_cvats_layout(tmp_path):
    out = _export(sample(), tmp_path)
    doc = json.loads((Path(out) / "annotations" / "train.json").read_text())
    assert set(doc) == {"info", "categories", "items"}
    labels = doc["categories"]["label"]["labels"]
    names = [(lab["name"], lab["parent"]) for lab in labels]
    assert names[:3] == [("car", ""), ("person", ""), ("lane", "")] and ("tail", "body") in names
    assert doc["categories"]["points"]["items"][0]["labels"] == ["head", "tail", "paw"]
    it0 = doc["items"][0]
    assert it0["id"] == "img0" and it0["image"] == {"path": "img0.png", "size": [32, 48]} and it0["attr"] == {"frame": 0}
    box = it0["annotations"][0]
    assert box["type"] == "bbox" and box["bbox"] == [2.5, 3.25, 10.0, 6.5] and box["group"] == 1
    assert box["attributes"] == {"color": "red", "parked": True, "occluded": True, "rotation": 30.0}
    assert labels[box["label_id"]]["name"] == "car"
    ell = next(a for a in it0["annotations"] if a["type"] == "ellipse")
    assert ell["points"] == [30.0, 20.0, 38.0, 24.0]
    track = [a for it in doc["items"] for a in it["annotations"] if "track_id" in a["attributes"]]
    assert [(a["attributes"]["track_id"], a["attributes"]["keyframe"]) for a in track] == [(3, True), (3, False)]
    skel = next(a for a in doc["items"][1]["annotations"] if a["type"] == "skeleton")
    assert [(labels[e["label_id"]]["name"], e["visibility"]) for e in skel["elements"]] == \
        [("head", [2]), ("tail", [1]), ("paw", [0])]


def test_loss_report_names_what_datumaro_cannot_carry(tmp_path):
    src = sample()
    a = src.annotations
    extra = pd.DataFrame([
        dict(ann_id=100, item_id=0, type="cuboid", label="car", points=[float(v) for v in range(16)]),
        dict(ann_id=101, item_id=0, type="span", label="car", start=0.0, end=3.0),
        dict(ann_id=102, item_id=0, type="bbox", label="car", x=1.0, y=1.0, w=2.0, h=2.0, track_id=3, outside=True),
        dict(ann_id=103, item_id=0, type="bbox", label="car", x=1.0, y=1.0, w=2.0, h=2.0, source="prediction",
             score=0.5),
    ])
    ds = aw.Dataset(items=src.items, annotations=pd.concat([a, extra], ignore_index=True), labels=src.labels)
    with pytest.warns(LossWarning, match="Datumaro 1.0 could not carry"):
        out = ds.export(str(tmp_path), format="datumaro", archive=False, name="out")
    by_row = {r: e.reason for e in out.loss.entries for r in e.rows}
    assert "2D cuboids" in by_row[100]
    assert "Label Studio only" in by_row[101]
    assert "outside" in by_row[102]
    assert "prediction" in by_row[103]
    assert set(by_row) == {100, 101, 102, 103}
    back = aw.load(str(out))
    assert len(back.annotations) == len(a) + 1  # the prediction is written, as a shape


def test_single_file_and_zip(tmp_path):
    out = sample().export(str(tmp_path / "d.zip"), format="Datumaro 1.0")
    with zipfile.ZipFile(out) as z:
        assert {"annotations/train.json", "annotations/val.json", "images/"} <= set(z.namelist())
    assert len(aw.load(str(out)).annotations) == len(sample().annotations)
    one = tmp_path / "one"
    one.mkdir()
    (one / "val.json").write_bytes(zipfile.ZipFile(out).read("annotations/val.json"))
    ds = aw.load(str(one / "val.json"))  # a lone file: detected by content, subset from its name
    assert ds.info["format"] == "Datumaro 1.0" and ds.items["subset"].tolist() == ["val"]


def test_save_images_copies_media(tmp_path):
    from PIL import Image

    src = sample()
    for i in range(3):
        Image.new("RGB", (48, 32)).save(tmp_path / f"img{i}.png")
    src.items["media"] = [str(tmp_path / f"img{i}.png") for i in range(3)]
    out = _export(src, tmp_path / "o", save_images=True)
    assert (Path(out) / "images" / "train" / "img1.png").is_file()
    assert (Path(out) / "images" / "val" / "img2.png").is_file()
    back = aw.load(str(out))
    assert Path(back.items["media"].iloc[2]) == Path(out) / "images" / "val" / "img2.png"


# -- bad input ------------------------------------------------------------------------------------
def test_truncated_json_names_the_file(tmp_path):
    out = _export(sample(), tmp_path)
    f = Path(out) / "annotations" / "val.json"
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(FormatError, match=r"val\.json.*not valid Datumaro JSON"):
        aw.load(str(out), format="Datumaro 1.0")


@pytest.mark.parametrize("bad, msg", [
    ({"categories": {}, "items": {}}, "'items' \\(a list\\)"),
    ({"categories": {"label": {"labels": [{"name": "a", "parent": ""}]}},
      "items": [{"id": "x", "annotations": [{"type": "bbox", "label_id": 4, "bbox": [0, 0, 1, 1]}]}]},
     "label_id 4 is not an index"),
    ({"categories": {}, "items": [{"id": "x", "annotations": [{"id": 7, "type": "bbox", "bbox": [0, 1]}]}]},
     "annotation id 7: 'bbox' must be 4 numbers"),
    ({"categories": {}, "items": [{"id": "x", "annotations": [{"type": "mask", "rle": {"counts": "", "size": [2, 2]}}]}]},
     "RLE runs cover 0 pixels"),
    ({"categories": {}, "items": [{"annotations": []}]}, "not an object with an 'id'"),
])
def test_bad_files_raise_naming_the_file(tmp_path, bad, msg):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "default.json").write_text(json.dumps(bad))
    with pytest.raises(FormatError, match=r"default\.json: .*" + msg):
        aw.load(str(tmp_path), format="Datumaro 1.0")


def test_unknown_annotation_types_are_reported_not_dropped_silently(tmp_path):
    doc = {"categories": {"label": {"labels": [{"name": "a", "parent": ""}]}},
           "items": [{"id": "x", "annotations": [
               {"id": 1, "type": "hash_key", "hash_key": [0, 1]},  # (cuboid_3d is read since Datumaro 3D)
               {"id": 2, "type": "bbox", "label_id": 0, "bbox": [0, 0, 1, 1]}]}]}
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "default.json").write_text(json.dumps(doc))
    ds = aw.load(str(tmp_path))
    assert ds.annotations["type"].tolist() == ["bbox"]
    assert ds.loss.entries[0].rows == [1] and "hash_key" in ds.loss.entries[0].reason


def test_coco_is_not_taken_for_datumaro(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = sample().export(str(tmp_path), format="COCO 1.0", archive=False, name="c")
    assert aw.load(str(out)).info["format"] == "COCO 1.0"


def test_detection_is_by_content_not_by_folder_name(tmp_path):
    from annowidgets.formats.datumaro import looks_like_datumaro

    coco = {"licenses": [], "info": {}, "categories": [{"id": 1, "name": "items"}], "images": [], "annotations": []}
    assert not looks_like_datumaro(json.dumps(coco).encode())
    big = {"categories": {"label": {"labels": [{"name": f"l{i}" * 20, "parent": ""} for i in range(3000)]}},
           "items": []}
    head = json.dumps(big).encode()[:65536]  # the items key lies beyond what detection reads
    assert b'"items"' not in head and not looks_like_datumaro(head)
    (tmp_path / "big" / "annotations").mkdir(parents=True)
    (tmp_path / "big" / "annotations" / "default.json").write_text(json.dumps(big))
    assert aw.load(str(tmp_path / "big")).info["format"] == "Datumaro 1.0"  # detection reads on
    assert looks_like_datumaro(b'{"dm_format_version": "1.0", "media_type": 2, "infos": {}, "categories": {')
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_default.json").write_text(json.dumps(coco))
    assert aw.load(str(tmp_path)).info["format"] == "COCO 1.0"


def test_label_studio_sets_and_annotators_are_reported(tmp_path):
    src = sample()
    sets = pd.DataFrame([{"set_id": 1, "item_id": 0, "annotator": "ann@x.org"}])
    a = src.annotations.assign(set_id=pd.array([1] * len(src.annotations), dtype="Int64"), annotator="ann@x.org")
    ds = aw.Dataset(items=src.items, annotations=a, labels=src.labels, sets=sets)
    out = _export(ds, tmp_path)
    reasons = {e.table: e for e in out.loss.entries}
    assert reasons["sets"].rows == [1] and "no place in Datumaro" in reasons["sets"].reason
    assert len(reasons["annotations"].rows) == len(a) and "annotator" in reasons["annotations"].reason


def test_fields_without_a_column_survive_a_datumaro_round_trip_only(tmp_path):
    doc = {"dm_format_version": "1.0", "media_type": 2, "infos": {"author": "me"},
           "categories": {"label": {"labels": [{"name": "a", "parent": "", "attributes": []}], "attributes": []}},
           "items": [{"id": "x", "custom": 1, "image": {"path": "x.jpg", "size": [4, 5]},
                      "annotations": [{"id": 3, "type": "bbox", "label_id": 0, "bbox": [0, 0, 1, 1], "object_id": 4,
                                       "attributes": {}, "group": 0, "z_order": 0}]}]}
    (tmp_path / "in" / "annotations").mkdir(parents=True)
    (tmp_path / "in" / "annotations" / "default.json").write_text(json.dumps(doc))
    ds = aw.load(str(tmp_path / "in"))
    assert ds.items.loc[0, "extra"] == {"custom": 1} and ds.annotations.loc[0, "extra"] == {"object_id": 4}
    out = _export(ds, tmp_path / "out")
    back = json.loads((Path(out) / "annotations" / "default.json").read_text())
    assert back["info"] == {"author": "me"}
    assert back["items"][0]["custom"] == 1 and back["items"][0]["annotations"][0]["object_id"] == 4
    # another format's extras (COCO's image ids, iscrowd) are not Datumaro fields: not written
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        coco = sample().export(str(tmp_path / "c"), format="COCO 1.0", archive=False, name="c")
    dm = _export(aw.load(str(coco)), tmp_path / "dm")
    text = (Path(dm) / "annotations" / "train.json").read_text()
    assert "coco_id" not in text and "iscrowd" not in text


def test_same_stem_items_get_distinct_ids(tmp_path):
    items = [dict(item_id=0, name="a.jpg", width=4, height=4), dict(item_id=1, name="a.png", width=4, height=4),
             dict(item_id=2, name="b.png", width=4, height=4)]
    ann = [dict(ann_id=i, item_id=i, type="bbox", label="x", x=0.0, y=0.0, w=1.0, h=1.0 + i) for i in range(3)]
    ds = aw.Dataset(items=items, annotations=ann)
    out = _export(ds, tmp_path)
    doc = json.loads((Path(out) / "annotations" / "default.json").read_text())
    assert [it["id"] for it in doc["items"]] == ["a.jpg", "a.png", "b"]
    back = aw.load(str(out))
    assert back.items["name"].tolist() == ["a.jpg", "a.png", "b.png"]
    assert back.annotations["h"].tolist() == [1.0, 2.0, 3.0]
    again = json.loads((Path(_export(back, tmp_path / "again")) / "annotations" / "default.json").read_text())
    assert [it["id"] for it in again["items"]] == ["a.jpg", "a.png", "b"]


def test_points_visibility_is_kept(tmp_path):
    doc = {"categories": {"label": {"labels": [{"name": "a", "parent": ""}]}},
           "items": [{"id": "x", "annotations": [
               {"id": 1, "type": "points", "label_id": 0, "points": [1, 2, 3, 4], "visibility": [2, 0]},
               {"id": 2, "type": "points", "label_id": 0, "points": [1, 2], "visibility": [2]}]}]}
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "default.json").write_text(json.dumps(doc))
    ds = aw.load(str(tmp_path))
    assert ds.annotations["extra"].tolist() == [{"visibility": [2, 0]}, None]
    out = json.loads((Path(_export(ds, tmp_path / "o")) / "annotations" / "default.json").read_text())
    assert [a["visibility"] for a in out["items"][0]["annotations"]] == [[2, 0], [2]]


def test_cvat_style_document_reads_into_columns(tmp_path):
    """As CVAT writes it: CVAT attributes on each shape, a skeleton's points as elements, frame in attr."""
    doc = {"info": {}, "categories": {
        "label": {"labels": [{"name": "car", "parent": "", "attributes": ["model"]},
                             {"name": "body", "parent": "", "attributes": []},
                             {"name": "head", "parent": "body", "attributes": []},
                             {"name": "tail", "parent": "body", "attributes": []}], "attributes": ["occluded"]},
        "points": {"items": [{"label_id": 1, "labels": ["head", "tail"], "joints": [[1, 2]]}]}},
        "items": [{"id": "sub/frame_000007", "annotations": [
            {"id": 0, "type": "bbox", "attributes": {"model": "a4", "occluded": True, "rotation": 12.5, "track_id": 2,
                                                     "keyframe": True}, "group": 4, "label_id": 0, "z_order": 3,
             "bbox": [1.0, 2.0, 3.0, 4.0]},
            {"id": 1, "type": "skeleton", "attributes": {"occluded": False}, "group": 0, "label_id": 1, "z_order": 0,
             "elements": [
                 {"id": 0, "type": "points", "attributes": {"occluded": False}, "group": 0, "label_id": 2,
                  "z_order": 0, "points": [5.0, 6.0], "visibility": [2]},
                 {"id": 0, "type": "points", "attributes": {"outside": True}, "group": 0, "label_id": 3,
                  "z_order": 0, "points": [7.0, 8.0], "visibility": [2]}]}],
            "attr": {"frame": 7}, "image": {"path": "sub/frame_000007.png", "size": [20, 30]}}]}
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "default.json").write_text(json.dumps(doc))
    ds = aw.load(str(tmp_path))
    it = ds.items.iloc[0]
    assert (it["name"], it["frame"], it["width"], it["height"], it["extra"]) == ("sub/frame_000007.png", 7, 30, 20, None)
    a = ds.annotations
    assert a["type"].tolist() == ["bbox", "skeleton", "points", "points"]
    assert a["frame"].tolist() == [7] * 4
    box = a.iloc[0]
    assert (box["rotation"], box["track_id"], box["keyframe"], box["occluded"], box["group"], box["z_order"]) == \
        (12.5, 2, True, True, 4, 3)
    assert box["attributes"] == {"model": "a4"}
    assert a["parent_id"].tolist()[2:] == [1, 1] and a["label"].tolist()[2:] == ["head", "tail"]
    assert a["outside"].tolist() == [False, False, False, True]
    assert [a.iloc[1][k] for k in "xywh"] == [5.0, 6.0, 0.0, 0.0]  # the box of its visible points
    lab = ds.labels.set_index("name")
    assert lab.loc["body", "type"] == "skeleton" and lab.loc["body", "extra"]["skeleton"] == [[1, 2]]
    assert lab.loc["car", "attributes"] == [{"name": "model"}]
