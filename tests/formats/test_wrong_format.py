"""An explicit but wrong format is an error naming the file and what was expected, never an empty
(or junk) dataset; an empty export of the format itself still loads empty."""
from __future__ import annotations

import warnings

import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core.dataset import Dataset
from annowidgets.formats import registry

pytestmark = pytest.mark.fixtures

COCO_FILE = "coco_dataset/coco_instances/annotations/instances_train.json"


@pytest.fixture()
def inputs(datumaro_dir, ls_dir, tmp_path):
    (tmp_path / "other.json").write_text('{"a": 1}')
    (tmp_path / "rows.json").write_text('[{"a": 1}, {"b": 2}]')
    (tmp_path / "text.txt").write_text("hello world\n")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "emptydir").mkdir()
    return {
        "coco file": str(datumaro_dir / COCO_FILE),
        "coco folder": str(datumaro_dir / "coco_dataset/coco_instances"),
        "LS COCO": str(ls_dir / "output/image_det/COCO/result.json"),
        "LS JSON": str(ls_dir / "output/image_det/JSON"),
        "VOC folder": str(datumaro_dir / "voc_dataset/voc_dataset1"),
        "VOC xml": str(datumaro_dir / "voc_dataset/voc_dataset1/Annotations/2007_000001.xml"),
        "YOLO folder": str(datumaro_dir / "yolo_dataset/labels"),
        "MOT folder": str(datumaro_dir / "mot_dataset"),
        "other json": str(tmp_path / "other.json"),
        "rows json": str(tmp_path / "rows.json"),
        "text": str(tmp_path / "text.txt"),
        "csv table": str(tmp_path / "table.csv"),
        "empty folder": str(tmp_path / "emptydir"),
    }


# input -> the formats that really read it (everything else must refuse it)
READS = {
    "coco file": {"COCO 1.0", "COCO Keypoints 1.0", "COCO", "COCO_WITH_IMAGES", "BRUSH_TO_COCO"},
    "coco folder": {"COCO 1.0", "COCO Keypoints 1.0", "Ultralytics YOLO Classification 1.0"},  # images/<s>/<f>
    "LS COCO": {"COCO 1.0", "COCO Keypoints 1.0", "COCO", "COCO_WITH_IMAGES", "BRUSH_TO_COCO"},
    "LS JSON": {"Label Studio JSON"},
    "VOC folder": {"PASCAL VOC 1.1", "Label Studio VOC", "Segmentation mask 1.1"},
    "VOC xml": {"PASCAL VOC 1.1", "Label Studio VOC", "Segmentation mask 1.1"},
    "YOLO folder": {"YOLO 1.1", "Ultralytics YOLO Classification 1.0"},  # told to, the folders read as classes
    "MOT folder": {"MOT 1.1", "Ultralytics YOLO Classification 1.0"},
}


def _readers():
    return [s.name for s in registry.all_formats() if s.read is not None]


@pytest.mark.parametrize("fmt", _readers())
def test_every_reader_refuses_what_is_not_its_format(inputs, fmt):
    for what, path in inputs.items():
        if fmt in READS.get(what, ()):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = aw.load(path, format=fmt)
            except (aw.FormatError, aw.UnknownFormatError, ValueError) as exc:
                assert path.rstrip("/").rsplit("/", 1)[-1] in str(exc), (what, str(exc))  # names the input
                continue
        pytest.fail(f"{fmt} read {what} ({path}) as {len(ds.items)} items / {len(ds.annotations)} annotations")


def test_coco_given_to_label_studio_json_says_what_it_expected(datumaro_dir):
    path = str(datumaro_dir / COCO_FILE)
    with pytest.raises(aw.FormatError, match="expected a Label Studio task") as e:
        aw.load(path, format="JSON")
    assert path in str(e.value)
    with pytest.raises(aw.FormatError, match="no 'id'.*expected JSON_MIN"):
        aw.load(path, format="JSON_MIN")


def test_voc_reader_without_voc_annotations(datumaro_dir, tmp_path):
    with pytest.raises(aw.FormatError, match="no Pascal VOC annotations here: expected Annotations/"):
        aw.load(str(datumaro_dir / "mot_dataset"), format="PASCAL VOC 1.1")
    # a VOC folder whose annotation files hold no objects is VOC, empty
    (tmp_path / "voc/Annotations").mkdir(parents=True)
    (tmp_path / "voc/Annotations/a.xml").write_text("<annotation><filename>a.jpg</filename></annotation>")
    ds = aw.load(str(tmp_path / "voc"), format="PASCAL VOC 1.1")
    assert ds.items["name"].tolist() == ["a.jpg"] and len(ds.annotations) == 0
    (tmp_path / "bare/Annotations").mkdir(parents=True)  # an empty Annotations/ folder
    assert len(aw.load(str(tmp_path / "bare"), format="voc").items) == 0


def test_label_studio_json_of_other_json(tmp_path):
    (tmp_path / "empty.json").write_text("[]")
    assert len(aw.load(str(tmp_path / "empty.json"), format="JSON").items) == 0
    (tmp_path / "f").mkdir()
    (tmp_path / "f/export.json").write_text("[]")
    (tmp_path / "f/meta.json").write_text('{"version": 1}')
    assert len(aw.load(str(tmp_path / "f"), format="JSON").items) == 0  # one file is an (empty) task list
    (tmp_path / "g").mkdir()
    (tmp_path / "g/a.json").write_text('{"version": 1}')
    (tmp_path / "g/b.json").write_text('{"images": []}')
    with pytest.raises(aw.FormatError, match="expected a Label Studio task"):
        aw.load(str(tmp_path / "g"), format="JSON")
    with pytest.raises(aw.FormatError, match="JSON_MIN.*format='JSON'"):
        aw.load(_one_task(tmp_path), format="JSON_MIN")


def _one_task(tmp_path) -> str:
    p = tmp_path / "task.json"
    p.write_text('[{"id": 1, "data": {"image": "a.png"}, "annotations": [{"id": 1, "result": []}]}]')
    return str(p)


@pytest.mark.parametrize("fmt", ["Label Studio JSON", "JSON_MIN", "CSV", "TSV", "COCO 1.0", "COCO", "PASCAL VOC 1.1",
                                 "CVAT for images 1.1", "Ultralytics YOLO Classification 1.0", "WiderFace 1.0",
                                 "VGGFace2 1.0", "Market-1501 1.0", "LFW 1.0", "MOTS PNG 1.0"])
def test_empty_exports_still_load_empty(tmp_path, fmt):
    items = pd.DataFrame({"item_id": [0], "name": ["a.jpg"], "subset": ["train"], "width": [10], "height": [8]})
    for name, ds in (("empty", Dataset()), ("items", Dataset(items=items))):
        if name == "empty" and fmt == "Ultralytics YOLO Classification 1.0":
            continue  # writes no file at all: nothing to read
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = ds.export(str(tmp_path), format=fmt, archive=False, name=name + fmt.replace(" ", "_"))
        back = aw.load(out, format=fmt)
        assert len(back.annotations) == 0 and len(back.items) <= len(ds.items)
