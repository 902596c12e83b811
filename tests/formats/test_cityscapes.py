"""Cityscapes 1.0: gtFine/<subset>/<id>_gtFine_{instanceIds,labelIds,color}.png + label_colors.txt."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core import raster
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode
from annowidgets.formats import _semseg as ss

H, W = 10, 16
NAME = "berlin/berlin_000000_000019.png"


def _dataset(tmp_path: Path) -> aw.Dataset:
    media = tmp_path / "media" / "berlin"
    media.mkdir(parents=True)
    Image.new("RGB", (W, H)).save(media / "berlin_000000_000019.png")
    Image.new("RGB", (W, H)).save(tmp_path / "media" / "empty.jpg")
    ann = [
        dict(type="polygon", label="road", points=[0.0, 5.0, 16.0, 5.0, 16.0, 10.0, 0.0, 10.0],
             attributes={"is_crowd": True}),
        dict(type="bbox", label="car", x=1.0, y=6.0, w=4.0, h=3.0, z_order=1, attributes={"is_crowd": False}),
        dict(type="bbox", label="car", x=6.0, y=6.0, w=3.0, h=3.0, z_order=1, attributes={"color": "red"}),
        dict(type="bbox", label="person", x=10.0, y=0.0, w=2.0, h=3.0, group=5),
        dict(type="ellipse", label="person", x=12.0, y=2.0, w=3.0, h=4.0, group=5),
        dict(type="points", label="person", points=[1.0, 1.0]),
    ]
    for i, r in enumerate(ann):
        r.update(ann_id=i, item_id=0)
    items = [dict(item_id=0, name=NAME, subset="train", media=str(media / "berlin_000000_000019.png"),
                  width=W, height=H),
             dict(item_id=1, name="empty.jpg", subset="val", media=str(tmp_path / "media" / "empty.jpg"),
                  width=W, height=H)]
    labels = [dict(name="road", color="#804080"), dict(name="car", color="#00008e"), dict(name="person")]
    return aw.Dataset(items=items, annotations=ann, labels=labels).validate()


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format="Cityscapes 1.0", archive=False, name="out", **kw)


def _mask(r) -> np.ndarray:
    return raster.shape_mask(r.type, H, W, x=r.x, y=r.y, w=r.w, h=r.h, rotation=r.rotation, points=r.points,
                             mask=r.mask)


@pytest.mark.fixtures
def test_reads_datumaro_samples(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "cityscapes_dataset/dataset"))
    assert ds.info["format"] == "Cityscapes 1.0"
    assert len(ds.labels) == 35 and ds.labels["name"].iloc[0] == "unlabeled"  # Cityscapes' default classes
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    got = sorted((r.subset, r.name.split("_", 1)[1], r.label, tuple(np.flatnonzero(coco_decode(r.mask)[0])))
                 for r in a.itertuples())
    assert got == [("test", "000001_000031.png", "outofroi", (0, 1)), ("test", "000001_000031.png", "truck", (2, 3, 4)),
                   ("test", "000001_000032.png", "outofroi", (3, 4)), ("test", "000001_000032.png", "train", (0, 1)),
                   ("test", "000001_000032.png", "wall", (2,)), ("train", "000002_000045.png", "outofroi", (0, 1, 3, 4)),
                   ("train", "000002_000045.png", "person", (2,)), ("val", "000001_000019.png", "egovehicle", (1, 2)),
                   ("val", "000001_000019.png", "outofroi", (0, 3, 4))]
    assert all(d == {"is_crowd": True} for d in a["attributes"])  # ids < 1000: crowd regions
    assert ds.items["name"].iloc[0] == "defaultcity/defaultcity_000001_000031.png"
    assert Path(ds.items["media"].iloc[0]).is_file()
    # labelTrainIds win over instanceIds, with the 19 training classes (+ background = 19)
    tr = aw.load(str(datumaro_dir / "cityscapes_dataset/train_dataset"))
    assert sorted(tr.annotations["label"]) == ["person", "train", "truck", "wall"]
    assert len(tr.labels) == 20


def test_export_layout_and_round_trip(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True)
    root = Path(out)
    gt = root / "gtFine" / "train" / "berlin"
    assert sorted(p.name for p in gt.iterdir()) == [f"berlin_000000_000019_gtFine_{k}.png"
                                                    for k in ("color", "instanceIds", "labelIds")]
    assert (root / "imgsFine/leftImg8bit/train/berlin/berlin_000000_000019_leftImg8bit.png").is_file()
    assert (root / "imgsFine/leftImg8bit/val/empty_leftImg8bit.jpg").is_file()
    assert (root / "gtFine/val/empty_gtFine_labelIds.png").is_file()  # empty item: empty masks, kept
    assert (root / "label_colors.txt").read_text() == "0 0 0 background\n128 64 128 road\n0 0 142 car\n128 0 0 person\n"
    a = ds.annotations
    cls = np.zeros((H, W), np.int64)
    inst = np.zeros((H, W), np.int64)
    for i, (c, n) in {0: (1, 1), 1: (2, 2001), 2: (2, 2002), 3: (3, 3001), 4: (3, 3001)}.items():
        m = _mask(a.iloc[i])
        cls[m], inst[m] = c, n
    inst_png = Image.open(gt / "berlin_000000_000019_gtFine_instanceIds.png")
    assert inst_png.mode == "I;16" and np.array_equal(np.asarray(inst_png), inst)
    assert np.array_equal(np.asarray(Image.open(gt / "berlin_000000_000019_gtFine_labelIds.png")), cls)
    color = np.asarray(Image.open(gt / "berlin_000000_000019_gtFine_color.png").convert("RGB"))
    assert tuple(color[9, 15]) == (128, 64, 128) and tuple(color[7, 2]) == (0, 0, 142)
    reasons = {e.reason: e.rows for e in out.loss.entries}
    assert reasons == {"points has no area to paint into a Cityscapes mask": [5],
                       "attributes other than is_crowd are not carried by Cityscapes": [2]}

    back = aw.load(out)
    assert back.info["format"] == "Cityscapes 1.0"
    assert sorted(back.items["name"]) == [NAME, "empty.jpg"]
    assert back.labels["name"].tolist() == ["background", "road", "car", "person"]
    assert all(s == [{"name": "is_crowd", "input_type": "checkbox", "values": ["false", "true"], "default": "false",
                      "mutable": False}] for s in back.labels["attributes"])
    b = back.annotations
    assert sorted(zip(b["label"], b["attributes"].map(lambda d: d["is_crowd"]), strict=True)) == [
        ("car", False), ("car", False), ("person", False), ("road", True)]
    for r in b.itertuples():
        value = 1 if r.label == "road" else {"car": 2000, "person": 3000}[r.label] + r.extra["instance_id"]
        assert np.array_equal(coco_decode(r.mask), inst == value)
    polys = aw.load(out, to_polygons=True)
    assert set(polys.annotations["type"]) == {"polygon"}
    assert polys.annotations["attributes"].map(lambda d: d["is_crowd"]).sum() == 1


def test_segments_match_a_comparison_per_value():
    ids = np.random.default_rng(1).integers(0, 5, (7, 9)) * 1000 + np.random.default_rng(2).integers(0, 2, (7, 9))
    ids[3, 4] = 77
    seen = []
    for v, rle, (x, y, w, h), idx in ss.segments(ids):
        m = ids == v
        assert np.array_equal(coco_decode(rle), m)
        assert np.array_equal(ss.bitmap(idx, ids.shape), m)
        rows, cols = np.nonzero(m)
        assert (x, y, w, h) == (cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min())
        seen.append(v)
    assert seen == sorted(np.unique(ids).tolist())


def test_without_label_colors_uses_cityscapes_classes(tmp_path):
    d = tmp_path / "gtFine" / "val" / "x"
    d.mkdir(parents=True)
    Image.fromarray(np.array([[0, 7, 26001, 26002]], np.uint16)).save(d / "x_1_gtFine_instanceIds.png")
    ds = aw.load(str(tmp_path))
    assert ds.info["format"] == "Cityscapes 1.0"
    got = sorted((r.label, r.attributes["is_crowd"], (r.extra or {}).get("instance_id"))
                 for r in ds.annotations.itertuples())
    assert got == [("car", False, 1), ("car", False, 2), ("road", True, None)]
    assert ds.items["name"].tolist() == ["x/x_1.png"]


def test_errors_name_the_file(tmp_path):
    d = tmp_path / "gtFine" / "val"
    d.mkdir(parents=True)
    (d / "x_gtFine_instanceIds.png").write_bytes(b"not a png")
    with pytest.raises(aw.FormatError, match=r"x_gtFine_instanceIds\.png: not a readable PNG"):
        aw.load(str(tmp_path), format="cityscapes")
    Image.new("RGB", (2, 2)).save(d / "x_gtFine_instanceIds.png")
    with pytest.raises(aw.FormatError, match=r"x_gtFine_instanceIds\.png: expected a single-channel id PNG"):
        aw.load(str(tmp_path), format="cityscapes")
    Image.new("L", (2, 2)).save(d / "x_gtFine_instanceIds.png")
    (tmp_path / "label_colors.txt").write_text("0 0 0 background\n1 2 car\n")
    with pytest.raises(aw.FormatError, match=r"label_colors\.txt:2: expected 'r g b name'"):
        aw.load(str(tmp_path), format="cityscapes")


def test_unknown_class_ids_are_reported(tmp_path):
    d = tmp_path / "gtFine" / "val"
    d.mkdir(parents=True)
    Image.fromarray(np.array([[0, 1, 9]], np.uint8)).save(d / "x_gtFine_instanceIds.png")
    (tmp_path / "label_colors.txt").write_text("0 0 0 background\n255 0 0 car\n")
    ds = aw.load(str(tmp_path))
    assert ds.annotations["label"].tolist() == ["car"]
    assert [e.reason for e in ds.loss.entries] == ["pixels of class id 9 (not in the label list) read as unlabelled"]


DM = """
import json, sys
import numpy as np
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[1], "cityscapes")
names = [c.name for c in ds.categories()[AnnotationType.label]]
out = []
for item in ds:
    for a in item.annotations:
        if a.type == AnnotationType.mask and names[a.label] != "background":
            out.append([item.subset, item.id, names[a.label], np.flatnonzero(a.image).tolist()])
print(json.dumps({"labels": names, "masks": sorted(out)}))
"""


@pytest.mark.oracle
def test_datumaro_reads_our_export(tmp_path, oracle):
    """Datumaro 1.x wants leftImg8bit/ at the top (CVAT's fork: imgsFine/leftImg8bit/), and it reads
    only the class-id values of instanceIds (its own writer no longer writes class*1000+n), so it
    finds our crowd regions and none of the instances: compare exactly that."""
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True, images_dir="leftImg8bit")
    assert (Path(out) / "leftImg8bit/val/empty_leftImg8bit.jpg").is_file()
    got = oracle(DM, str(out))
    assert got["labels"] == ["background", "road", "car", "person"]
    back = aw.load(out)
    a = back.annotations.merge(back.items[["item_id", "name", "subset"]], on="item_id")
    crowd = a[a["attributes"].map(lambda d: d["is_crowd"])]
    want = sorted([r.subset, r.name.rsplit(".", 1)[0], r.label, np.flatnonzero(coco_decode(r.mask)).tolist()]
                  for r in crowd.itertuples())
    assert got["masks"] == want and len(want) == 1


@pytest.mark.fixtures
def test_sample_round_trip_keeps_labels_and_pixels(datumaro_dir, tmp_path):
    """The first black label ('unlabeled') is the background: no extra 'background' is made up."""
    ds = aw.load(str(datumaro_dir / "cityscapes_dataset/dataset"))
    out = ds.export(str(tmp_path), format="Cityscapes 1.0", archive=False, name="o", save_images=True)
    assert not out.loss
    back = aw.load(out)
    assert back.labels["name"].tolist() == ds.labels["name"].tolist()

    def pixels(d):
        a = d.annotations.merge(d.items[["item_id", "name", "subset"]], on="item_id")
        return sorted((r.subset, r.name, r.label, tuple(np.flatnonzero(coco_decode(r.mask))))
                      for r in a.itertuples())

    assert pixels(back) == pixels(ds)
