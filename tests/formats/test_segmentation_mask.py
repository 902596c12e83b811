"""Segmentation mask 1.1: rasterised export, per-instance import, background, polygons."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core import raster
from annowidgets.core.io import Source
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode, coco_encode
from annowidgets.formats import _voc_common as vc
from annowidgets.formats import registry


def _dataset():
    hole = np.zeros((40, 60), bool)
    hole[5:15, 40:55] = True
    hole[8:10, 45:50] = False
    return aw.Dataset(
        items={"item_id": [0, 1, 2], "name": ["a/img.jpg", "b/img.jpg", "empty.jpg"], "width": [60, 60, 60],
               "height": [40, 40, 40], "subset": ["train", "val", "val"]},
        annotations={
            "ann_id": [0, 1, 2, 3, 4, 5, 6, 7],
            "item_id": [0, 0, 0, 0, 1, 1, 1, 1],
            "label": ["car", "car", "road", "sky", "car", "car", "car", "road"],
            "type": ["bbox", "bbox", "polygon", "mask", "ellipse", "bbox", "bbox", "polyline"],
            "x": [1, 20, 0, 40, 10, 40, 50, 0], "y": [1, 20, 30, 5, 10, 2, 2, 0],
            "w": [10, 10, 60, 15, 20, 5, 5, 5], "h": [5, 8, 10, 10, 10, 5, 5, 5],
            "rotation": [0, 30, 0, 0, 15, 0, 0, 0],
            "points": [None, None, [0, 30, 60, 30, 60, 40, 0, 40], None, None, None, None, [0, 0, 5, 5]],
            "mask": [None, None, None, coco_encode(hole), None, None, None, None],
            "z_order": [0, 1, 0, 2, 0, 0, 0, 0],
            "group": [None, None, None, None, None, 3, 3, None],
            "attributes": [None, {"parked": True}, None, None, None, None, None, None],
        },
        labels={"name": ["car", "road", "sky"], "color": ["#ff0000", "#00ff00", "#0000ff"]},
    )


def _export(ds, tmp_path, **options):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", LossWarning)
        out = ds.export(str(tmp_path), format="Segmentation mask 1.1", archive=False, name="seg", **options)
    return out, [str(w.message) for w in rec]


def test_export_paints_shapes_in_z_order_and_reimports_instances(tmp_path):
    ds = _dataset()
    out, msgs = _export(ds, tmp_path)
    reasons = {e.reason: e.rows for e in out.loss.entries}
    assert reasons == {"polyline has no area to paint into a segmentation mask": [7],
                       "Segmentation mask carries no attributes": [1]}
    root = tmp_path / "seg"
    assert (root / "labelmap.txt").read_text().splitlines()[1:] == [
        "background:0,0,0::", "car:255,0,0::", "road:0,255,0::", "sky:0,0,255::"]
    assert (root / "ImageSets" / "Segmentation" / "val.txt").read_text() == "b/img\nempty\n"
    cls_png = Image.open(root / "SegmentationClass" / "a" / "img.png")
    assert cls_png.mode == "P" and cls_png.getpalette()[:12] == [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]
    cls = np.asarray(cls_png)
    expected = np.zeros((40, 60), np.int32)
    for i, val in ((2, 2), (0, 1), (1, 1), (3, 3)):  # painted in z_order: road, car, car(rotated), sky
        r = ds.annotations.iloc[i]
        m = raster.shape_mask(r.type, 40, 60, x=r.x, y=r.y, w=r.w, h=r.h, rotation=r.rotation, points=r.points,
                              mask=r["mask"])
        expected[m] = val
    assert np.array_equal(cls, expected)

    back = aw.load(out)
    assert back.info["format"] == "Segmentation mask 1.1"
    assert sorted(back.items["name"]) == ["a/img.jpg", "b/img.jpg", "empty.jpg"]
    a = back.annotations
    assert (a["type"] == "mask").all()
    first = a[a["item_id"] == back.items.set_index("name").loc["a/img.jpg", "item_id"]]
    assert sorted(first["label"]) == ["car", "car", "road", "sky"]
    # the grouped pair of boxes on b/img is one instance
    second = a[a["item_id"] == back.items.set_index("name").loc["b/img.jpg", "item_id"]]
    assert sorted(second["label"]) == ["car", "car"]
    union = np.zeros((40, 60), bool)
    for m in first["mask"]:
        union |= coco_decode(m)
    assert np.array_equal(union, expected > 0)


def test_to_polygons_gives_pixel_exact_outlines(tmp_path):
    out, _ = _export(_dataset(), tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        polys = aw.load(out, to_polygons=True)
    masks = aw.load(out)
    assert set(polys.annotations["type"]) == {"polygon"}
    assert any("holes" in e.reason for e in polys.loss.entries)  # the sky mask has a hole
    road_poly = polys.annotations[polys.annotations["label"] == "road"].iloc[0]
    road_mask = masks.annotations[masks.annotations["label"] == "road"].iloc[0]
    assert np.array_equal(raster.polygon_mask(road_poly.points, 40, 60), coco_decode(road_mask["mask"]))


def test_background_label_is_painted_as_zero_and_not_reimported(tmp_path):
    ds = aw.Dataset(items={"item_id": [0], "name": ["x.png"], "width": 10, "height": 10},
                    annotations={"ann_id": [0, 1], "item_id": [0, 0], "label": ["background", "cat"],
                                 "x": [0.0, 2.0], "y": [0.0, 2.0], "w": [10.0, 4.0], "h": [10.0, 4.0],
                                 "z_order": [1, 0]},
                    labels={"name": ["cat", "background"], "color": ["#400000", "#112233"]})
    out, _ = _export(ds, tmp_path)
    lines = (tmp_path / "seg" / "labelmap.txt").read_text().splitlines()
    assert lines[1].startswith("background:") and lines[2] == "cat:64,0,0::"
    cls = np.asarray(Image.open(tmp_path / "seg" / "SegmentationClass" / "x.png"))
    assert (cls == 0).all()  # background on top covers the cat
    # without instance PNGs, classes come back one mask each, background left out
    (tmp_path / "seg" / "SegmentationObject" / "x.png").unlink()
    back = aw.load(out)
    assert back.annotations.empty


def test_reads_datumaro_rgb_pngs(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "voc_dataset" / "voc_dataset1"), format="segmentation_mask")
    (row,) = ds.annotations[ds.annotations["type"] == "mask"].itertuples()
    assert row.label == "bicycle" and coco_decode(row.mask).sum() == 200


def test_unknown_colours_are_reported_not_dropped_silently(tmp_path):
    root = tmp_path / "in"
    (root / "SegmentationClass").mkdir(parents=True)
    (root / "labelmap.txt").write_text("background:0,0,0::\ncar:255,0,0::\n")
    arr = np.zeros((4, 4, 3), np.uint8)
    arr[0, 0] = (255, 0, 0)
    arr[3, 3] = (1, 2, 3)
    Image.fromarray(arr).save(root / "SegmentationClass" / "p.png")
    ds = aw.load(str(root))
    assert ds.annotations["label"].tolist() == ["car"]
    assert any("(1, 2, 3)" in e.reason for e in ds.loss.entries)


def test_detection_prefers_segmentation_mask_without_xml(tmp_path):
    out, _ = _export(_dataset(), tmp_path)
    with Source(str(out)) as src:
        assert registry.detect(src).name == "Segmentation mask 1.1"


def test_palette_png_codec_round_trip():
    idx = np.arange(12, dtype=np.uint8).reshape(3, 4) % 5
    colors = vc.colormap(5)
    data = vc.encode_index_png(idx, colors)
    back, unknown = vc.decode_color_png(data, colors, "mem.png")
    assert np.array_equal(back, idx) and unknown == []
    rgb = io.BytesIO()
    Image.fromarray(colors[idx]).save(rgb, format="PNG")
    back2, _ = vc.decode_color_png(rgb.getvalue(), colors, "mem.png")
    assert np.array_equal(back2, idx)


def test_labelmap_errors_name_the_line():
    with pytest.raises(aw.FormatError, match=r"labelmap.txt:2.*4 ':'-separated"):
        vc.parse_labelmap("a:::\nb\n", "labelmap.txt")
    with pytest.raises(aw.FormatError, match="defined twice"):
        vc.parse_labelmap("a:::\na:::\n", "labelmap.txt")
    with pytest.raises(aw.FormatError, match="triplet"):
        vc.parse_labelmap("a:10,20::\n", "labelmap.txt")
