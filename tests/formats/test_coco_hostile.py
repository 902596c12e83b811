"""Bad COCO input gets a FormatError that names the file, the place and the annotation."""
from __future__ import annotations

import json

import pytest

import annowidgets as aw
from annowidgets.core.errors import FormatError


def _doc(**over):
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 3}],
           "categories": [{"id": 1, "name": "cat"}],
           "annotations": [{"id": 17, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1,
                            "iscrowd": 0, "segmentation": []}]}
    doc.update(over)
    return doc


def _write(tmp_path, doc, name="instances_default.json"):
    d = tmp_path / "annotations"
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return tmp_path


def test_truncated_json_names_file_and_position(tmp_path):
    text = json.dumps(_doc())
    root = _write(tmp_path, text[: len(text) // 2])
    with pytest.raises(FormatError) as err:
        aw.load(root, format="COCO 1.0")
    assert "instances_default.json" in str(err.value) and "not valid JSON" in str(err.value)
    assert err.value.position is not None and err.value.line == 1


def test_not_an_object(tmp_path):
    with pytest.raises(FormatError, match="expected a JSON object"):
        aw.load(_write(tmp_path, "[1, 2]"), format="COCO 1.0")


@pytest.mark.parametrize("field,value,needle", [
    ("image_id", 99, "annotation id 17 points to image_id 99"),
    ("category_id", 5, "annotation id 17 points to category_id 5"),
])
def test_dangling_references_name_the_annotation(tmp_path, field, value, needle):
    doc = _doc()
    doc["annotations"][0][field] = value
    with pytest.raises(FormatError, match=needle) as err:
        aw.load(_write(tmp_path, doc), format="COCO 1.0")
    assert "instances_default.json" in err.value.file


@pytest.mark.parametrize("seg,needle", [
    ({"size": [3, 4], "counts": [0, 5, 3]}, "RLE runs cover 8 pixels but size 3x4 has 12"),
    ({"size": [3, 4], "counts": [0, -2, 14]}, "negative run"),
    ({"size": [3, 4], "counts": "0d0n0"}, "RLE runs cover"),
    ({"size": [3, 4], "counts": "0d0\x7f"}, "invalid character"),
    ({"size": [3], "counts": [12]}, "size"),
    ({"counts": [12]}, "size"),
])
def test_rle_that_does_not_fit_is_refused(tmp_path, seg, needle):
    doc = _doc()
    doc["annotations"][0].update(segmentation=seg, iscrowd=1)
    with pytest.raises(FormatError, match=needle) as err:
        aw.load(_write(tmp_path, doc), format="COCO 1.0")
    assert "annotation id 17" in str(err.value)


@pytest.mark.parametrize("ann,needle", [
    ({"bbox": [0, 0, 1]}, "bbox must be"),
    ({"bbox": None, "segmentation": []}, "no bbox, segmentation or keypoints"),
    ({"segmentation": [[0, 0, 1]]}, "polygon must be a flat list"),
    ({"keypoints": [1, 2]}, "triples"),
])
def test_malformed_geometry(tmp_path, ann, needle):
    doc = _doc()
    doc["annotations"][0].update(ann)
    with pytest.raises(FormatError, match=needle):
        aw.load(_write(tmp_path, doc), format="COCO 1.0")


def test_duplicate_image_ids_and_missing_ids(tmp_path):
    doc = _doc(images=[{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}])
    with pytest.raises(FormatError, match="image id 1 is listed twice"):
        aw.load(_write(tmp_path, doc), format="COCO 1.0")
    doc = _doc(images=[{"file_name": "a.jpg"}])
    with pytest.raises(FormatError, match="image #0 has no 'id'"):
        aw.load(_write(tmp_path / "second", doc), format="COCO 1.0")


def test_invalid_mask_in_tables_is_reported_not_written(tmp_path):
    ds = aw.Dataset(items={"item_id": [0], "name": ["a.png"], "width": [4], "height": [3]},
                    annotations={"ann_id": [0], "item_id": [0], "type": ["mask"], "label": ["m"],
                                 "mask": [{"size": [3, 4], "counts": [0, 5]}]})
    with pytest.warns(aw.LossWarning, match="not a valid COCO RLE"):
        out = ds.export(str(tmp_path), format="COCO 1.0", archive=False, name="o")
    doc = json.loads((tmp_path / "o" / "annotations" / "instances_default.json").read_text())
    assert doc["annotations"] == [] and out.loss.entries[0].rows == [0]


def test_failed_read_of_zip_leaves_nothing(tmp_path):
    import zipfile
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("annotations/instances_default.json", "{\"images\": [")
    with pytest.raises(FormatError, match=r"bad.zip!/annotations/instances_default.json"):
        aw.load(z)


def test_degenerate_polygons_and_hidden_track_frames_are_reported(tmp_path):
    ds = aw.Dataset(items={"item_id": [0], "name": ["a.png"], "width": [10], "height": [10]},
                    annotations={"ann_id": [0, 1, 2, 3, 4], "item_id": [0] * 5, "label": ["p", "p", "s", "k", "p"],
                                 "type": ["polygon", "polygon", "skeleton", "points", "bbox"],
                                 "points": [[0, 0, 1, 1], [0, 0, 4, 0, 4, 4], None, [1, 1], None],
                                 "x": [0, 0, 1, 1, 2], "y": [0, 0, 1, 1, 2], "w": [1, 4, 1, 0, 3], "h": [1, 4, 1, 0, 3],
                                 "outside": [False, False, True, False, True], "parent_id": [None, None, None, 2, None],
                                 "track_id": [None, None, 1, None, 2]})
    with pytest.warns(aw.LossWarning):
        out = ds.export(str(tmp_path), format="COCO Keypoints 1.0", archive=False, name="k")
    hidden = [e for e in out.loss.entries if "outside" in e.reason]
    assert sorted(hidden[0].rows) == [2, 3, 4]
    with pytest.warns(aw.LossWarning):
        out = ds.export(str(tmp_path), format="COCO 1.0", archive=False, name="c")
    few = [e for e in out.loss.entries if "fewer than 3 points" in e.reason]
    assert few[0].rows == [0]
    doc = json.loads((tmp_path / "c" / "annotations" / "instances_default.json").read_text())
    assert [a["segmentation"] for a in doc["annotations"]] == [[[0.0, 0.0, 4.0, 0.0, 4.0, 4.0]]]
