"""CamVid 1.0: <subset>.txt, <subset>annot/ class PNGs, label_colors.txt."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core import raster
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode, coco_encode

H, W = 12, 20


def _dataset(tmp_path: Path) -> aw.Dataset:
    media = tmp_path / "media"
    media.mkdir()
    for n in ("a.jpg", "b c.png", "e.jpg"):
        Image.new("RGB", (W, H)).save(media / n)
    m = np.zeros((H, W), bool)
    m[8:, 12:] = True
    m[9, 14] = False  # a hole
    ann = [
        dict(type="polygon", label="road", points=[0.0, 6.0, 20.0, 6.0, 20.0, 12.0, 0.0, 12.0], z_order=0),
        dict(type="bbox", label="car", x=1.0, y=1.0, w=5.0, h=4.0, z_order=1, attributes={"color": "red"}),
        dict(type="bbox", label="car", x=8.0, y=1.0, w=4.0, h=3.0, rotation=30.0, z_order=1),
        dict(type="mask", label="sky", mask=coco_encode(m), x=12.0, y=8.0, w=8.0, h=4.0, z_order=2),
        dict(type="polyline", label="road", points=[0.0, 0.0, 5.0, 5.0]),
        dict(type="ellipse", label="sky", x=2.0, y=2.0, w=8.0, h=6.0, z_order=0),
    ]
    for i, r in enumerate(ann):
        r.update(ann_id=i, item_id=0 if i < 5 else 1)
    items = [dict(item_id=0, name="a.jpg", subset="train", media=str(media / "a.jpg"), width=W, height=H),
             dict(item_id=1, name="b c.png", subset="val", media=str(media / "b c.png"), width=W, height=H),
             dict(item_id=2, name="e.jpg", subset="val", media=str(media / "e.jpg"), width=W, height=H)]
    labels = [dict(name="car", color="#ff0000"), dict(name="road", color="#00ff00"), dict(name="sky")]
    return aw.Dataset(items=items, annotations=ann, labels=labels).validate()


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format="CamVid 1.0", archive=False, name="out", **kw)


def _expected_classes(ds, item_id, order) -> np.ndarray:
    a = ds.annotations[(ds.annotations["item_id"] == item_id) & ds.annotations["type"].isin(raster.RASTER_TYPES)]
    cls = np.zeros((H, W), np.int64)
    for r in a.sort_values("z_order", kind="stable").itertuples():
        m = raster.shape_mask(r.type, H, W, x=r.x, y=r.y, w=r.w, h=r.h, rotation=r.rotation, points=r.points,
                              mask=r.mask)
        cls[m] = order.index(r.label)
    return cls


@pytest.mark.fixtures
def test_reads_datumaro_sample(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "camvid_dataset"))
    assert ds.info["format"] == "CamVid 1.0"
    assert sorted(zip(ds.items["subset"], ds.items["name"], strict=True)) == [
        ("test", "0001TP_008550.png"), ("test", "0001TP_008580.png"), ("train", "0001TP_006690.png"),
        ("val", "0016E5_07959.png")]
    assert (ds.items["width"] == 5).all() and (ds.items["height"] == 1).all()
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    got = {(r.name, r.label): np.flatnonzero(coco_decode(r.mask)[0]).tolist() for r in a.itertuples()}
    assert got == {("0001TP_008550.png", "Animal"): [0, 1], ("0001TP_008550.png", "Road"): [2],
                   ("0001TP_008550.png", "Sky"): [3, 4], ("0001TP_008580.png", "Archway"): [0, 1],
                   ("0001TP_008580.png", "Bridge"): [2], ("0001TP_008580.png", "Tree"): [3, 4],
                   ("0001TP_006690.png", "Bicyclist"): [0, 1, 3, 4], ("0001TP_006690.png", "Road"): [2],
                   ("0016E5_07959.png", "Animal"): [0, 1, 2], ("0016E5_07959.png", "Child"): [3, 4]}
    # CamVid's 32 classes; Void (black) is the background, so it has no mask rows
    assert len(ds.labels) == 32 and ds.labels["name"].iloc[0] == "Void"
    assert ds.items["media"].iloc[0].endswith("camvid_dataset/test/0001TP_008550.png")


def test_export_layout_and_round_trip(tmp_path):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True)
    root = Path(out)
    assert (root / "train.txt").read_text() == "/train/a.jpg /trainannot/a.png\n"
    assert (root / "val.txt").read_text() == '"/val/b c.png" "/valannot/b c.png"\n/val/e.jpg\n'
    assert (root / "label_colors.txt").read_text() == "255 0 0 car\n0 255 0 road\n128 0 0 sky\n"
    assert (root / "train" / "a.jpg").is_file() and (root / "val" / "e.jpg").is_file()
    order = ["background", "car", "road", "sky"]
    png = np.asarray(Image.open(root / "trainannot" / "a.png"))
    assert np.array_equal(png, _expected_classes(ds, 0, order))
    reasons = {e.reason: e.rows for e in out.loss.entries}
    assert reasons == {
        "polyline has no area to paint into a CamVid mask": [4],
        "attributes are not carried by CamVid": [1],
        "CamVid keeps one mask per class and image: shapes of the same class on an image come back merged": [1, 2],
    }
    back = aw.load(out)
    assert back.info["format"] == "CamVid 1.0"
    assert back.labels["name"].tolist() == ["car", "road", "sky"]
    assert back.labels["color"].tolist()[:2] == ["#ff0000", "#00ff00"]
    assert sorted(zip(back.items["subset"], back.items["name"], strict=True)) == [
        ("train", "a.jpg"), ("val", "b c.png"), ("val", "e.jpg")]
    for name, item_id in (("a.jpg", 0), ("b c.png", 1)):
        bid = back.items.set_index("name").loc[name, "item_id"]
        want = _expected_classes(ds, item_id, order)
        rows = back.annotations[back.annotations["item_id"] == bid]
        assert sorted(rows["label"]) == sorted({order[c] for c in np.unique(want) if c})
        for r in rows.itertuples():
            assert np.array_equal(coco_decode(r.mask), want == order.index(r.label))
    polys = aw.load(out, to_polygons=True)
    assert set(polys.annotations["type"]) == {"polygon"}
    assert any("holes" in e.reason for e in polys.loss.entries)  # the sky mask's hole


def test_missing_label_colors_uses_camvid_classes_and_unknown_colours_are_reported(tmp_path):
    (tmp_path / "trainannot").mkdir()
    Image.fromarray(np.array([[[128, 64, 128], [1, 2, 3]]], np.uint8)).save(tmp_path / "trainannot" / "x.png")
    (tmp_path / "train.txt").write_text("/train/x.png /trainannot/x.png\n")
    ds = aw.load(str(tmp_path))
    assert ds.info["format"] == "CamVid 1.0"
    assert ds.annotations["label"].tolist() == ["Road"]
    assert [e.reason for e in ds.loss.entries] == [
        "pixels of colour (1, 2, 3) (not in label_colors.txt) read as unlabelled"]


def test_errors_name_file_and_line(tmp_path):
    (tmp_path / "trainannot").mkdir()
    Image.new("RGB", (2, 1)).save(tmp_path / "trainannot" / "x.png")
    (tmp_path / "train.txt").write_text("/train/x.png /trainannot/x.png\n/train/y.png /trainannot/y.png\n")
    with pytest.raises(aw.FormatError, match=r"train\.txt:2: mask '/trainannot/y.png' is not in the dataset"):
        aw.load(str(tmp_path), format="camvid")
    (tmp_path / "train.txt").write_text("/train/x.png /trainannot/x.png extra\n")
    with pytest.raises(aw.FormatError, match=r"train\.txt:1: expected '<image path> <mask path>', got 3 fields"):
        aw.load(str(tmp_path), format="camvid")
    (tmp_path / "train.txt").write_text("/train/x.png /trainannot/x.png\n")
    (tmp_path / "label_colors.txt").write_text("0 0 0 background\n1 2 x car\n")
    with pytest.raises(aw.FormatError, match=r"label_colors\.txt:2: expected 'r g b name'"):
        aw.load(str(tmp_path), format="camvid")


DM_MASKS = """
import json, sys
import numpy as np
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[1], "camvid")
names = [c.name for c in ds.categories()[AnnotationType.label]]
out = []
for item in ds:
    for a in item.annotations:
        if a.type == AnnotationType.mask and names[a.label] not in ("background", "Void"):
            out.append([item.subset, item.id, names[a.label], np.flatnonzero(a.image).tolist()])
print(json.dumps(sorted(out)))
"""


@pytest.mark.oracle
def test_datumaro_reads_our_export(tmp_path, oracle):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True)
    got = oracle(DM_MASKS, str(out))
    back = aw.load(out)
    ours = back.annotations.merge(back.items[["item_id", "name", "subset"]], on="item_id")
    want = sorted([r.subset, r.name.rsplit(".", 1)[0], r.label, np.flatnonzero(coco_decode(r.mask)).tolist()]
                  for r in ours.itertuples())
    assert got == want and len(got) == 4  # car, road, sky on a.jpg; sky on 'b c.png'
