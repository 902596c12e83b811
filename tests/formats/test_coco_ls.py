"""Label Studio's COCO layouts: our writer against LS's reference output, and LS's outputs read back."""
from __future__ import annotations

import json
import posixpath
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core import geometry
from annowidgets.core.io import Source
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry

from .media_helpers import twins_dataset, zip_files


def ls_tasks_to_dataset(ls_dir: Path) -> aw.Dataset:
    """A test-only reading of LS tasks.json (rectangles and polygons) into our tables, in pixels."""
    tasks = json.loads((ls_dir / "input" / "image_det" / "tasks.json").read_text())
    upload = ls_dir / "input" / "media" / "upload"
    items, sets, rows = [], [], []
    for t in tasks:
        url = t["data"]["image"]
        with Image.open(upload / url.removeprefix("/data/upload/")) as im:
            w_img, h_img = im.size
        items.append({"item_id": t["id"], "name": posixpath.basename(url), "media": url, "width": w_img,
                      "height": h_img})
        for a in t.get("annotations", t.get("completions", [])):
            if a.get("was_cancelled"):
                continue
            who = a.get("completed_by")
            who = who.get("email") if isinstance(who, dict) else (None if who is None else str(who))
            sets.append({"set_id": a["id"], "item_id": t["id"], "annotator": who})
            for r in a["result"]:
                v = r.get("value", {})
                base = {"item_id": t["id"], "set_id": a["id"], "annotator": who, "region_id": r.get("id")}
                if r.get("type") == "rectanglelabels":
                    x, y = geometry.pct_to_px(v["x"], w_img), geometry.pct_to_px(v["y"], h_img)
                    w, h = geometry.pct_to_px(v["width"], w_img), geometry.pct_to_px(v["height"], h_img)
                    cx, cy = geometry.topleft_to_centre(x, y, w, h, v.get("rotation", 0))
                    rows.append({**base, "type": "bbox", "label": v["rectanglelabels"][0], "x": float(cx),
                                 "y": float(cy), "w": float(w), "h": float(h), "rotation": float(v.get("rotation", 0))})
                elif r.get("type") == "polygonlabels":
                    pts = [c for px, py in v["points"] for c in (px * w_img / 100, py * h_img / 100)]
                    bx, by, bw, bh = (float(c[0]) for c in geometry.points_bbox([pts]))
                    rows.append({**base, "type": "polygon", "label": v["polygonlabels"][0], "points": pts,
                                 "x": bx, "y": by, "w": bw, "h": bh})
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", range(len(ann)))
    return aw.Dataset(items=items, sets=sets, annotations=ann).validate()


def _key(doc: dict) -> set:
    names = {im["id"]: posixpath.basename(im["file_name"]) for im in doc["images"]}
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    return {(names[a["image_id"]], cats[a["category_id"]], tuple(np.round(a["bbox"], 4)),
             tuple(np.round(a["segmentation"][0], 4)) if a["segmentation"] else (), round(a["area"], 4))
            for a in doc["annotations"]}


def test_matches_label_studio_reference_except_its_rotation_bug(ls_dir, tmp_path):
    ds = ls_tasks_to_dataset(ls_dir)
    out = ds.export(str(tmp_path), format="COCO", archive=False, name="o")
    ours = json.loads((Path(out) / "result.json").read_text())
    ref = json.loads((ls_dir / "output" / "image_det" / "COCO" / "result.json").read_text())
    assert [c["id"] for c in ours["categories"]][0] == 0  # numbered from 0 as LS does
    assert ours["info"]["version"] == "1.0" and all(a["ignore"] == 0 for a in ours["annotations"])
    assert [posixpath.basename(i["file_name"]) for i in ours["images"]] == \
        [posixpath.basename(i["file_name"]) for i in ref["images"]]
    k_ours, k_ref = _key(ours), _key(ref)
    # LS encloses the 30-degree box in percent space: wrong on this 120x80 image
    ls_rot = {k for k in k_ref if k[1] == "Person" and k[2][0] == 48.0}
    assert len(ls_rot) == 1 and np.allclose(next(iter(ls_rot))[2], [48.0, 8.0, 44.7846, 35.7128])
    our_rot = {k for k in k_ours if k[1] == "Person" and k[0] == "a1b2c3d4-street.png"}
    assert len(our_rot) == 1
    assert np.allclose(next(iter(our_rot))[2], [56.0, 8.0, 36.7846, 39.7128], atol=1e-3)  # the true box, in px
    # every unrotated box and polygon is the same as LS's, ids aside
    assert k_ours - our_rot == k_ref - ls_rot
    # the rotation is not lost either
    rot = [a for a in ours["annotations"] if a.get("attributes", {}).get("rotation")]
    assert len(rot) == 1 and rot[0]["attributes"]["rotation"] == 30.0
    assert {a.get("annotator") for a in ours["annotations"]} == {"1", "ann@example.com", None}


def test_one_image_per_item_and_every_annotation_set(tmp_path):
    items = {"item_id": [7], "name": ["x.png"], "media": ["/data/upload/1/x.png"], "width": [100], "height": [50]}
    sets = {"set_id": [1, 2, 3], "item_id": [7, 7, 7], "source": ["annotation", "annotation", "prediction"]}
    ann = {"ann_id": [0, 1, 2], "item_id": [7, 7, 7], "set_id": [1, 2, 3], "label": ["a", "a", "a"],
           "type": ["bbox"] * 3, "x": [1.0, 2.0, 3.0], "y": [1.0] * 3, "w": [5.0] * 3, "h": [5.0] * 3,
           "annotator": ["u1", "u2", None], "source": ["annotation", "annotation", "prediction"],
           "score": [np.nan, np.nan, 0.5]}
    ds = aw.Dataset(items=items, sets=sets, annotations=ann)
    out = ds.export(str(tmp_path), format="COCO", archive=False, name="o")
    doc = json.loads((Path(out) / "result.json").read_text())
    assert len(doc["images"]) == 1 and doc["images"][0]["file_name"] == "/data/upload/1/x.png"
    assert [a.get("annotator") for a in doc["annotations"]] == ["u1", "u2", None]
    assert [a.get("score") for a in doc["annotations"]] == [None, None, 0.5]
    assert {a["image_id"] for a in doc["annotations"]} == {0}
    back = aw.load(out)
    assert back.annotations["annotator"].tolist()[:2] == ["u1", "u2"]
    assert back.annotations["source"].tolist() == ["annotation", "annotation", "prediction"]


def test_coco_with_images_points_file_name_at_the_copy(ls_dir, tmp_path):
    ds = ls_tasks_to_dataset(ls_dir)
    ds.items["media"] = [str(ls_dir / "input" / "media" / "upload" / m.removeprefix("/data/upload/"))
                         for m in ds.items["media"]]
    out = ds.export(str(tmp_path / "z.zip"), format="COCO_WITH_IMAGES")
    with zipfile.ZipFile(out) as z:
        doc = json.loads(z.read("result.json"))
        names = set(z.namelist())
    files = [i["file_name"] for i in doc["images"]]
    assert all(f.startswith("images/") for f in files)  # LS keeps the server path here (label-studio#7294)
    assert set(files) <= names
    back = aw.load(out)
    assert back.items["media"].str.startswith("zip://").all()



def test_coco_with_images_same_basename_in_two_folders(tmp_path):
    """LS lays images flat: a/img.jpg and b/img.jpg become img.jpg and img__1.jpg, never one file,
    and the suffix does not take the name of an image that already has it."""
    ds = twins_dataset(tmp_path / "media", absolute=True, subsets=False)
    (tmp_path / "media/d").mkdir()
    (tmp_path / "media/d/img__1.jpg").write_bytes((tmp_path / "media/c/img.jpg").read_bytes()[::-1])
    ds.items.loc[2, "media"] = str(tmp_path / "media/d/img__1.jpg")
    out = ds.export(str(tmp_path / "z.zip"), format="COCO_WITH_IMAGES")
    files = zip_files(out)
    doc = json.loads(files["result.json"])
    names = [i["file_name"] for i in doc["images"]]
    assert names == ["images/img.jpg", "images/img__1_2.jpg", "images/img__1.jpg"]
    for name, media in zip(names, ds.items["media"], strict=True):
        assert files[name] == Path(media).read_bytes()
    back = aw.load(out)
    assert len(back.items) == 3 and back.items["media"].nunique() == 3
    b = back.annotations.assign(name=back.annotations["item_id"].map(back.items.set_index("item_id")["name"]))
    assert sorted(zip(b["name"], b["label"], strict=True)) == [("images/img.jpg", "cat"), ("images/img__1.jpg", "cow"),
                                                  ("images/img__1_2.jpg", "dog")]


def test_label_studio_server_zip_loads(ls_dir):
    path = ls_dir / "output" / "server_1.23.2" / "easy_export_COCO.zip"
    with Source(path) as s:
        assert registry.detect(s).name == "COCO"
    ds = aw.load(path).validate()
    assert ds.info["format"] == "COCO"
    assert ds.items["media"].tolist() == ["/data/upload/1/a1b2c3d4-street.png", "/data/upload/1/e5f6a7b8-park.png",
                                          "/data/upload/1/0a1b2c3d-legacy.png"]
    assert ds.summary()["by_type"] == {"bbox": 4, "polygon": 2}
    assert ds.labels["name"].tolist() == ["Car", "Person", "Rainy", "Road", "Sky", "Sunny"]
    assert ds.annotations["extra"].map(lambda e: e.get("ignore")).tolist() == [0] * 6


def test_label_studio_keypoint_coco_reads_as_skeleton(ls_dir):
    ds = aw.load(ls_dir / "output" / "image" / "COCO", format="COCO").validate()
    a = ds.annotations
    sk = a[a["type"] == "skeleton"]
    assert sk["label"].tolist() == ["default"]
    pts = a[a["parent_id"] == sk["ann_id"].iloc[0]]
    assert pts["label"].tolist() == ["Head", "Foot"] and pts["points"].tolist() == [[84.0, 10.0], [82.0, 38.0]]


def test_brush_to_coco_reads(ls_dir):
    path = ls_dir / "output" / "image_det" / "BRUSH_TO_COCO"
    with Source(path) as s:
        assert registry.detect(s).name == "BRUSH_TO_COCO"
    ds = aw.load(path).validate()
    assert len(ds.items) == 3 and ds.items["media"].iloc[0] == "/data/upload/1/a1b2c3d4-street.png"
    assert ds.summary()["by_type"] == {"polygon": 4, "bbox": 4}
    assert ds.annotations["annotator"].tolist().count("ann@example.com") == 3
    assert ds.labels["name"].tolist() == ["Car", "Person", "Road", "Sky"]


def test_ls_coco_reports_what_it_cannot_carry(tmp_path):
    ds = aw.Dataset(items={"item_id": [0], "name": ["a.png"], "width": [4], "height": [4]},
                    annotations={"ann_id": [0], "item_id": [0], "type": ["tag"], "label": ["Sunny"]})
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = ds.export(str(tmp_path), format="COCO", archive=False, name="o")
    assert any(issubclass(x.category, LossWarning) for x in w)
    assert out.loss.entries[0].rows == [0]
    with pytest.raises(Exception, match="cannot be exported"):
        ds.export(str(tmp_path), format="BRUSH_TO_COCO")


def test_ls_duplicate_images_merge_into_one_item(tmp_path):
    """LS's converter lists a task's image once per annotation; reading gives one item, two sets."""
    doc = {"images": [{"id": 0, "file_name": "/data/upload/1/x.png", "width": 10, "height": 10},
                      {"id": 1, "file_name": "/data/upload/1/x.png", "width": 10, "height": 10},
                      {"id": 2, "file_name": "/data/upload/1/y.png", "width": 10, "height": 10}],
           "categories": [{"id": 0, "name": "Car"}],
           "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [1, 1, 2, 2], "segmentation": [],
                            "ignore": 0, "iscrowd": 0, "area": 4},
                           {"id": 1, "image_id": 1, "category_id": 0, "bbox": [2, 2, 2, 2], "segmentation": [],
                            "ignore": 0, "iscrowd": 0, "area": 4}],
           "info": {"contributor": "Label Studio"}}
    (tmp_path / "result.json").write_text(json.dumps(doc))
    ds = aw.load(tmp_path).validate()
    assert ds.items["name"].tolist() == ["/data/upload/1/x.png", "/data/upload/1/y.png"]
    assert ds.annotations["item_id"].tolist() == [0, 0] and ds.annotations["set_id"].tolist() == [0, 1]
    assert ds.sets["set_id"].tolist() == [0, 1, 2]
    kept = aw.load(tmp_path, merge_images=False)
    assert len(kept.items) == 3
