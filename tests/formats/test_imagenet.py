"""ImageNet 1.0: both CVAT layouts (label folders with images, <subset>.txt + synsets.txt without)."""
from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.loss import LossWarning


def _dataset(tmp_path: Path) -> aw.Dataset:
    media = tmp_path / "media"
    media.mkdir()
    items = []
    for i, (name, subset) in enumerate([("a.jpg", "train"), ("b c.png", "train"), ("d.jpg", "val"),
                                        ("e.jpg", "val")]):
        Image.new("RGB", (4 + i, 3), (i * 40, 0, 0)).save(media / name)
        items.append({"item_id": i, "name": name, "subset": subset, "media": str(media / name)})
    ann = pd.DataFrame({"ann_id": range(5), "item_id": [0, 1, 1, 2, 3], "type": ["tag"] * 4 + ["bbox"],
                        "label": ["cat", "cat", "dog", "bird", "cat"], "x": [None] * 4 + [1.0],
                        "y": [None] * 4 + [1.0], "w": [None] * 4 + [2.0], "h": [None] * 4 + [1.0]})
    labels = [{"name": n, "type": "tag"} for n in ("cat", "dog", "bird", "fish")]
    return aw.Dataset(items=items, annotations=ann, labels=labels).validate()


def _tags(ds: aw.Dataset, subsets: bool = True) -> list:
    a = ds.annotations[ds.annotations["type"] == "tag"].merge(ds.items, on="item_id")
    cols = ["subset", "name", "label"] if subsets else ["name", "label"]
    return sorted(map(tuple, a[cols].values.tolist()))


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format="ImageNet 1.0", archive=False, name="out", **kw)


@pytest.mark.fixtures
def test_reads_datumaro_samples(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "imagenet_dataset"))
    assert ds.info["format"] == "ImageNet 1.0"
    assert sorted(ds.items["name"]) == ["label_0_1.jpg", "label_0_2.jpg", "label_1_1.jpg"]
    assert _tags(ds, subsets=False) == [("label_0_1.jpg", "label_0"), ("label_1_1.jpg", "label_1"),
                                        ("label_1_1.jpg", "label_1/label_1_1")]
    txt = aw.load(str(datumaro_dir / "imagenet_txt_dataset/basic"))
    assert txt.info["format"] == "ImageNet 1.0"
    assert _tags(txt) == [("train", "1.jpg", "label_0"), ("train", "2.jpg", "label_5"), ("train", "3.jpg", "label_3"),
                          ("train", "4.jpg", "label_5")]
    assert len(txt.labels) == 10
    assert txt.items["media"].iloc[0].endswith("basic/images/1.jpg")
    alt = aw.load(str(datumaro_dir / "imagenet_txt_dataset/custom_labels"), format="imagenet",
                  labels_file="synsets-alt.txt")
    assert _tags(alt) == [("train", "1.jpg", "alt_label_0")]
    gen = aw.load(str(datumaro_dir / "imagenet_txt_dataset/no_labels"), format="imagenet_txt")
    assert _tags(gen) == [("train", "1.jpg", "class-4")]


def test_txt_round_trip_without_images(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x")
    assert sorted(p.name for p in Path(out).iterdir()) == ["synsets.txt", "train.txt", "val.txt"]
    assert (Path(out) / "train.txt").read_text() == 'a.jpg 0\n"b c".png 0 1\n'
    assert (Path(out) / "synsets.txt").read_text() == "cat\ndog\nbird\nfish\n"
    assert [e.reason for e in out.loss.entries] == ["ImageNet carries only tags"]
    assert out.loss.entries[0].rows == [4]
    back = aw.load(out)
    assert back.info["format"] == "ImageNet 1.0"
    assert _tags(back) == _tags(ds)
    assert back.labels["name"].tolist() == ["cat", "dog", "bird", "fish"]


def test_txt_layout_with_images(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True, layout="txt")
    assert (Path(out) / "images" / "b c.png").is_file()
    back = aw.load(out)
    assert _tags(back) == _tags(ds)
    assert Path(back.items["media"].iloc[1]).is_file()


def test_folder_round_trip_with_images(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True)
    files = sorted(str(p.relative_to(out)) for p in Path(out).rglob("*") if p.is_file())
    assert files == ["bird/d.jpg", "cat/a.jpg", "cat/b c.png", "dog/b c.png", "no_label/e.jpg"]
    reasons = {e.reason for e in out.loss.entries}
    assert "ImageNet folders do not keep subsets (all items in one tree)" in reasons
    back = aw.load(out)
    assert back.info["format"] == "ImageNet 1.0"
    assert _tags(back, subsets=False) == _tags(ds, subsets=False)
    assert len(back.items) == 4  # one item per image, tagged by each folder it is in
    assert "no_label" not in set(back.labels["name"])


def test_folder_layout_without_images_reports_everything(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x", layout="folders")
    assert any("nothing written without save_images" in e.reason and e.rows == [0, 1, 2, 3]
               for e in out.loss.entries)


def test_predictions_and_scores_are_reported(tmp_path):
    ds = _dataset(tmp_path)
    a = ds.annotations.copy()
    a.loc[0, "source"] = "prediction"
    a.loc[0, "score"] = 0.9
    a.loc[1, "score"] = 0.5
    ds = aw.Dataset(items=ds.items, annotations=a, labels=ds.labels)
    out = _export(ds, tmp_path / "x")
    reasons = {e.reason: e.rows for e in out.loss.entries}
    assert reasons["ImageNet cannot mark predictions: written as ordinary shapes, score and source lost"] == [0]
    assert reasons["score has no place in ImageNet"] == [1]


def test_malformed_line_names_file_and_line(tmp_path):
    (tmp_path / "synsets.txt").write_text("a\nb\n")
    (tmp_path / "train.txt").write_text("x.jpg 0\ny.jpg one\n")
    with pytest.raises(aw.FormatError, match=r"train\.txt:2: expected '<image> <label index>"):
        aw.load(str(tmp_path), format="ImageNet 1.0")
    (tmp_path / "train.txt").write_text("x.jpg 0\ny.jpg 7\n")
    with pytest.raises(aw.FormatError, match=r"train\.txt:2: label index 7 is not in synsets\.txt"):
        aw.load(str(tmp_path), format="ImageNet 1.0")


def test_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "cat" / "x.jpg")
    (tmp_path / "cat" / "x.json").write_text("{}")
    with pytest.raises(aw.FormatError, match=r"x\.json: expected only images"):
        aw.load(str(tmp_path), format="imagenet")
    with pytest.raises(aw.UnknownFormatError):
        aw.load(str(tmp_path))


def test_detection_refuses_split_folders(tmp_path):
    """<split>/<class>/<image> is Ultralytics classification, not ImageNet."""
    (tmp_path / "train" / "cat").mkdir(parents=True)
    Image.new("RGB", (2, 2)).save(tmp_path / "train" / "cat" / "x.jpg")
    assert aw.load(str(tmp_path)).info["format"] == "Ultralytics YOLO Classification 1.0"


DM_TAGS = textwrap.dedent("""
    import json, sys
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    out = {}
    for key, path, fmt in json.loads(sys.argv[1]):
        ds = Dataset.import_from(path, fmt)
        names = [c.name for c in ds.categories()[AnnotationType.label]]
        out[key] = sorted([item.subset, item.id, names[a.label]] for item in ds for a in item.annotations
                          if a.type == AnnotationType.label)
    print(json.dumps(out))
""")


@pytest.mark.oracle
def test_datumaro_reads_our_exports(tmp_path, oracle):
    ds = _dataset(tmp_path)
    txt = _export(ds, tmp_path / "txt")
    folders = _export(ds, tmp_path / "folders", save_images=True)
    got = oracle(DM_TAGS, json.dumps([["txt", str(txt), "imagenet_txt"], ["folders", str(folders), "imagenet"]]))
    assert got["txt"] == [["train", "a", "cat"], ["train", "b c", "cat"], ["train", "b c", "dog"],
                          ["val", "d", "bird"]]
    # Datumaro names folder items "<label>:<stem>"
    assert sorted(i.split(":")[1] + "/" + lab for _, i, lab in got["folders"]) == \
        ["a/cat", "b c/cat", "b c/dog", "d/bird"]

