"""YOLO 1.1: Datumaro's samples, round trips through the tables, keys, sizes, hostile input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.dataset import Dataset
from annowidgets.core.errors import FormatError

from ._yolo_tables import assert_same_shapes, export, synthetic

FMT = "YOLO 1.1"


@pytest.mark.parametrize("variant,subsets", [("strict", ["train"]), ("labels", ["train", "val"]),
                                             ("annotations", ["default"])])
def test_datumaro_samples_load(datumaro_dir, variant, subsets):
    ds = aw.load(str(datumaro_dir / "yolo_dataset" / variant), format=FMT)
    ds.validate()
    assert sorted(ds.items["subset"]) == subsets
    assert (ds.items["width"] == 15).all() and (ds.items["height"] == 10).all()
    assert ds.labels["name"].tolist() == [f"label_{i}" for i in range(10)]
    one = ds.annotations[ds.annotations["item_id"] == ds.items["item_id"].iloc[0]]
    assert one["label"].tolist() == ["label_2", "label_4"]
    # 2 0.133333 0.300000 0.266667 0.200000 on a 15x10 image: a box at (0, 2) of 4 x 2 px
    np.testing.assert_allclose(one[["x", "y", "w", "h"]].to_numpy(float), [[0, 2, 4, 2], [3, 3, 2, 3]], atol=1e-4)


def test_detect_strict_sample(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "yolo_dataset" / "strict"))
    assert ds.info["format"] == FMT


def test_round_trip_tables(tmp_path):
    ds = synthetic(12, seed=3)
    out = export(ds, tmp_path, FMT)
    assert not out.loss
    back = aw.load(out, format=FMT)
    back.validate()
    assert sorted(back.items["name"]) == sorted(ds.items["name"])
    merged = ds.items.merge(back.items, on="name")
    assert (merged["width_x"] == merged["width_y"]).all() and (merged["subset_x"] == merged["subset_y"]).all()
    assert_same_shapes(ds, back)


def test_layout_and_equal_basenames(tmp_path):
    out = export(synthetic(4, seed=1), tmp_path, FMT)
    root = tmp_path / "out"
    data = (root / "obj.data").read_text()
    assert "classes = 3" in data and "names = data/obj.names" in data and "backup = backup/" in data
    assert (root / "obj.names").read_text().split() == ["car", "person", "bike"]
    assert (root / "obj_val_data/a/img.txt").exists()
    assert (root / "obj_train_data/b/img.txt").exists()
    assert "data/obj_train_data/b/img.jpg" in (root / "train.txt").read_text().split()
    back = aw.load(out, format=FMT)
    assert {"a/img.jpg", "b/img.jpg"} <= set(back.items["name"])


def test_default_subset_goes_to_train_and_rotation_is_reported(tmp_path):
    ds = synthetic(5, seed=2, rotated=True)
    ds.items["subset"] = "default"
    out = export(ds, tmp_path, FMT)
    assert (tmp_path / "out" / "obj_train_data").is_dir()
    reasons = " ".join(e.reason for e in out.loss.entries)
    assert "rotation approximated" in reasons
    back = aw.load(out, format=FMT)
    assert (back.annotations["rotation"] == 0).all()
    assert len(back.annotations) == len(ds.annotations)


def test_other_shapes_are_reported(tmp_path):
    ds = synthetic(4, seed=4, polygons=True)
    out = export(ds, tmp_path, FMT)
    lost = sum(e.count for e in out.loss.entries)
    assert lost == len(ds.annotations) > 0


def _png(path, w, h):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h)).save(path)


def test_sizes_from_image_headers_when_no_side_file(tmp_path):
    media = tmp_path / "media"
    _png(media / "p.png", 64, 32)
    ds = Dataset(items=pd.DataFrame({"item_id": [0], "name": ["p.png"], "media": [str(media / "p.png")],
                                     "subset": ["train"]}),
                 annotations=pd.DataFrame({"ann_id": [0], "item_id": [0], "label": ["car"], "x": [8.0], "y": [4.0],
                                           "w": [16.0], "h": [8.0]}))
    out = export(ds, tmp_path, FMT, save_images=True, image_info=False)
    assert (tmp_path / "out" / "obj_train_data" / "p.png").exists()
    assert not (tmp_path / "out" / "image_info.json").exists()
    back = aw.load(out, format=FMT)
    assert back.items[["width", "height"]].values.tolist() == [[64, 32]]
    np.testing.assert_allclose(back.annotations[["x", "y", "w", "h"]].to_numpy(float), [[8, 4, 16, 8]])


def test_unknown_size_names_the_file(tmp_path):
    root = tmp_path / "y"
    (root / "obj_train_data").mkdir(parents=True)
    (root / "obj.data").write_text("classes = 1\ntrain = data/train.txt\nnames = data/obj.names\n")
    (root / "obj.names").write_text("car\n")
    (root / "obj_train_data" / "x.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(FormatError, match="image size unknown") as e:
        aw.load(str(root), format=FMT)
    assert e.value.file.endswith("obj_train_data/x.txt")
    ds = aw.load(str(root), format=FMT, image_size=(100, 50))
    np.testing.assert_allclose(ds.annotations[["x", "y", "w", "h"]].to_numpy(float), [[45, 22.5, 10, 5]])


@pytest.mark.parametrize("line,msg,lineno", [("0 0.5 0.5 0.1\n", "4 fields; expected 5", 2),
                                             ("1 0.5 0.5 0.1 0.1\n", "class id 1 out of range", 2),
                                             ("0 0.5 0.5 0.1 0.1 7\n", "6 fields", 2)])
def test_hostile_lines_name_file_and_line(tmp_path, line, msg, lineno):
    root = tmp_path / "y"
    (root / "obj_train_data").mkdir(parents=True)
    (root / "obj.data").write_text("classes = 1\ntrain = data/train.txt\nnames = data/obj.names\n")
    (root / "obj.names").write_text("car\n")
    (root / "obj_train_data" / "x.txt").write_text("0 0.5 0.5 0.1 0.1\n" + line)
    with pytest.raises(FormatError, match=msg) as e:
        aw.load(str(root), format=FMT, image_size=(10, 10))
    assert e.value.line == lineno and e.value.file.endswith("obj_train_data/x.txt")
