"""The registry and the API around it, with a test-only format (no real format needed)."""
from __future__ import annotations

import json
import warnings
import zipfile

import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry


def _read(source, **options):
    rows = json.loads(source.read_text("boxes.json"))
    items = pd.DataFrame({"item_id": [0], "name": ["a.png"], "width": [10], "height": [10]})
    return aw.Dataset(items=items, annotations=pd.DataFrame(rows))


def _write(ds, sink, ctx):
    boxes = ds.annotations[ds.annotations["type"] == "bbox"]
    ctx.report.add_mask("annotations", ds.annotations, ds.annotations["type"] != "bbox",
                        "only boxes fit Test Boxes", key="ann_id")
    if ctx.options.get("explode"):
        sink.write_text("partial.txt", "half")
        raise RuntimeError("writer failed half way")
    sink.write_text("boxes.json", boxes[["ann_id", "item_id", "label", "x", "y", "w", "h"]].to_json(orient="records"))


def _detect(source):
    return 0.5 if "boxes.json" in source.files else 0.0


@pytest.fixture(scope="module", autouse=True)
def test_format():
    spec = registry.register(registry.FormatSpec(
        name="Test Boxes 1.0", aliases=("test_boxes",), read=_read, write=_write, detect=_detect,
        shapes=("bbox",), family="test"))
    yield spec
    for key in [k for k, v in registry._BY_KEY.items() if v is spec]:
        del registry._BY_KEY[key]
    registry._FORMATS.pop(spec.name, None)


def _dataset():
    items = pd.DataFrame({"item_id": [0], "name": ["a.png"], "width": [10], "height": [10]})
    anns = pd.DataFrame([
        {"ann_id": 0, "item_id": 0, "label": "car", "type": "bbox", "x": 1, "y": 2, "w": 3, "h": 4},
        {"ann_id": 1, "item_id": 0, "label": "road", "type": "polyline", "points": [0, 0, 5, 5]},
    ])
    return aw.Dataset(items=items, annotations=anns, info={"level": "task", "id": 42})


@pytest.mark.parametrize("name", ["Test Boxes 1.0", "test boxes 1.0", "TEST_BOXES", "test-boxes"])
def test_names_resolve_insensitively(name):
    assert registry.get(name).name == "Test Boxes 1.0"


def test_unknown_name_suggests_close_ones():
    with pytest.raises(aw.UnknownFormatError, match="Test Boxes 1.0"):
        registry.get("test boxes 9")


def test_export_default_name_follows_cvat_and_is_detected_back(tmp_path):
    with pytest.warns(LossWarning, match="1 annotations row"):
        path = _dataset().export(str(tmp_path), format="test_boxes")
    assert path.loss and path.loss.entries[0].rows == [1]
    name = path.rsplit("/", 1)[-1]
    assert registry.CVAT_NAME.match(name) and name.startswith("task_42_annotations_")
    assert name.endswith("_test boxes 1.0.zip")
    assert registry.format_from_filename(name).name == "Test Boxes 1.0"
    back = aw.load(path)
    assert back.info["format"] == "Test Boxes 1.0"
    assert back.annotations[["label", "x", "y", "w", "h"]].values.tolist() == [["car", 1.0, 2.0, 3.0, 4.0]]


def test_custom_name_folder_output_and_explicit_zip(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        p = _dataset().export(str(tmp_path), format="Test Boxes 1.0", name="mine")
        assert p.endswith("mine.zip") and zipfile.ZipFile(p).namelist() == ["boxes.json"]
        p = _dataset().export(str(tmp_path / "x.zip"), format="Test Boxes 1.0")
        assert p.endswith("x.zip")
        p = _dataset().export(str(tmp_path), format="Test Boxes 1.0", name="dir", archive=False)
        assert (tmp_path / "dir" / "boxes.json").exists()


def test_failed_export_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        _dataset().export(str(tmp_path), format="Test Boxes 1.0", name="boom", explode=True)
    assert list(tmp_path.iterdir()) == []


def test_detection_without_a_known_name(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "boxes.json").write_text(json.dumps([{"ann_id": 0, "item_id": 0, "label": "x", "x": 0, "y": 0,
                                                "w": 1, "h": 1}]))
    assert aw.load(str(d)).annotations["label"].tolist() == ["x"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "nothing.txt").write_text("hi")
    with pytest.raises(aw.UnknownFormatError, match="nothing.txt"):
        aw.load(str(tmp_path / "other"))


def test_formats_table_and_cli(capsys, tmp_path):
    t = aw.formats()
    row = t[t["name"] == "Test Boxes 1.0"].iloc[0]
    assert row["import"] and row["export"] and row["shapes"] == ["bbox"]
    from annowidgets.cli import main

    assert main(["formats"]) == 0
    assert "Test Boxes 1.0" in capsys.readouterr().out
    src = tmp_path / "in"
    src.mkdir()
    (src / "boxes.json").write_text(json.dumps([{"ann_id": 0, "item_id": 0, "label": "x", "x": 0, "y": 0,
                                                  "w": 1, "h": 1}]))
    assert main(["info", str(src)]) == 0
    out = capsys.readouterr().out
    assert "annotations: 1" in out and "x=1" in out
    assert main(["convert", str(src), str(tmp_path / "out"), "--to", "test_boxes", "--name", "c"]) == 0
    assert (tmp_path / "out" / "c.zip").exists()
    assert main(["convert", str(src), str(tmp_path / "out"), "--to", "nope"]) == 1
    assert "unknown format 'nope'" in capsys.readouterr().err
