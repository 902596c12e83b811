"""Datumaro (a peer, in the oracle venv) imports our VOC / YOLO / Ultralytics / COCO / CVAT /
Segmentation mask exports and finds the same images, boxes, polygons and masks.

Datumaro is not exact itself: every shape coordinate it holds is a float32 rounded to 2 decimals
(``datumaro.components.annotation.COORDINATE_ROUNDING_DIGITS``), so the box corners it reports
are compared with ours put through the same rounding; that our files carry the exact values is
checked by reading them back with our own readers, to 1e-3 px. CVAT XML itself holds corners
as '%.2f' (CVAT's convention), so there both sides are compared with that.
"""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core import geometry
from annowidgets.core.masks import coco_decode

from . import peers

pytestmark = peers.needs_oracle

# our format -> Datumaro's importer name
FORMATS = {"PASCAL VOC 1.1": "voc", "YOLO 1.1": "yolo", "Ultralytics YOLO Detection 1.0": "yolo",
           "COCO 1.0": "coco_instances", "CVAT for images 1.1": "cvat", "Segmentation mask 1.1": "voc_segmentation"}

READ_ALL = textwrap.dedent("""
    import json, sys
    jobs = json.loads(sys.argv[1])
    out = {}
    for key, (path, fmt) in jobs.items():
        sys.argv = ["x", path, fmt]
        import io, contextlib
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(READ, {"__name__": "read"})
        out[key] = json.loads(buf.getvalue())
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Our exports of the interop dataset, each read by Datumaro (one subprocess for all)."""
    root = tmp_path_factory.mktemp("dm_reads_ours")
    ds = peers.make_dataset(root / "media")
    results = {fmt: peers.export(ds, root / fmt.replace(" ", "_"), fmt, save_images=True) for fmt in FORMATS}
    return ds, results


@pytest.fixture(scope="module")
def datumaro(exported, oracle):
    _, results = exported
    jobs = {fmt: [str(results[fmt]), dm] for fmt, dm in FORMATS.items()}
    code = f"READ = {peers.DM_READ!r}\n" + READ_ALL
    return oracle(code, json.dumps(jobs))


def _dm_corners(boxes: pd.DataFrame) -> np.ndarray:
    b = boxes[list("xywh")].to_numpy()
    return np.c_[b[:, :2], b[:, :2] + b[:, 2:]]


def _rounded_like_datumaro(boxes: pd.DataFrame) -> np.ndarray:
    """Our corners as Datumaro stores them: float32, rounded to 2 decimals."""
    c = _dm_corners(boxes)
    return np.asarray(c, dtype=np.float32).round(2).astype(float)


def _as_cvat_writes(boxes: pd.DataFrame) -> pd.DataFrame:
    """CVAT XML holds corners as '%.2f' (CVAT's own convention), so that is what our file has."""
    c = np.char.mod("%.2f", _dm_corners(boxes)).astype(float)
    return boxes.assign(x=c[:, 0], y=c[:, 1], w=c[:, 2] - c[:, 0], h=c[:, 3] - c[:, 1])


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "Segmentation mask 1.1"])
def test_datumaro_finds_our_boxes(fmt, exported, datumaro):
    ds, results = exported
    got = datumaro[fmt]
    want_items = sorted(zip(ds.items["subset"], ds.items["name"].str.removesuffix(".png"), strict=True))
    assert sorted(map(tuple, got["items"])) == want_items  # every image, the empty one too, in its subset
    theirs = peers.peer_boxes([{k: b[k] for k in ("image", "label", "x", "y", "w", "h")}
                               for b in got["boxes"] if not b["of_segment"]])
    ours = peers.our_boxes(ds)
    assert theirs[["image", "label"]].values.tolist() == ours[["image", "label"]].values.tolist()
    assert np.abs(_dm_corners(theirs) - _dm_corners(ours)).max() > 1e-3  # the rounding is real: 3-decimal inputs
    if fmt == "CVAT for images 1.1":
        ours = _as_cvat_writes(ours)
        assert np.abs(_dm_corners(theirs) - _dm_corners(ours)).max() <= peers.TOL
    else:
        # Datumaro rounds to 2 decimals (float32): compare at its precision, not ours
        assert np.abs(_dm_corners(theirs) - _rounded_like_datumaro(ours)).max() <= peers.TOL
    # the right values are in the file: our reader gets them back exactly
    peers.assert_same_boxes(peers.our_boxes(aw.load(str(results[fmt]), format=fmt)), ours)


def test_datumaro_finds_our_coco_polygons_and_masks(exported, datumaro):
    ds, _ = exported
    got = datumaro["COCO 1.0"]
    a = ds.annotations.merge(ds.items[["item_id", "name", "width"]], on="item_id")
    a["image"] = a["name"].str.removesuffix(".png")
    polys = a[a["type"] == "polygon"].sort_values("image")
    theirs = sorted(got["polygons"], key=lambda p: p["image"])
    assert [(p["image"], p["label"]) for p in theirs] == list(zip(polys["image"], polys["label"], strict=True))
    for p, pts in zip(theirs, polys["points"], strict=True):
        want = np.asarray(pts, dtype=np.float32).round(2)
        assert np.abs(np.asarray(p["points"]) - want).max() <= peers.TOL
    masks = a[a["type"] == "mask"].set_index("image")
    assert sorted(m["image"] for m in got["masks"]) == sorted(masks.index)
    for m in got["masks"]:
        src = coco_decode(masks.loc[m["image"], "mask"])
        assert m["label"] == "road" and m["shape"] == list(src.shape)
        assert m["pixels"] == np.flatnonzero(src).tolist()  # pixel for pixel
    # COCO gives Datumaro a box for every polygon and mask instance: the shape's bounding box
    seg_boxes = peers.peer_boxes([{k: b[k] for k in ("image", "label", "x", "y", "w", "h")}
                                  for b in got["boxes"] if b["of_segment"]])
    want = peers.our_boxes(ds, types=("polygon", "mask"))
    assert seg_boxes[["image", "label"]].values.tolist() == want[["image", "label"]].values.tolist()
    assert np.abs(_dm_corners(seg_boxes) - _rounded_like_datumaro(want)).max() <= peers.TOL


def test_datumaro_reads_our_segmentation_masks_as_we_do(exported, datumaro):
    ds, results = exported
    got = datumaro["Segmentation mask 1.1"]
    back = aw.load(str(results["Segmentation mask 1.1"]), format="Segmentation mask 1.1")
    a = back.annotations.merge(back.items[["item_id", "name"]], on="item_id")
    ours = {}
    for name, label, rle in zip(a["name"].str.removesuffix(".png"), a["label"], a["mask"], strict=True):
        ours.setdefault((name, label), set()).update(np.flatnonzero(coco_decode(rle)).tolist())
    theirs = {}
    for m in got["masks"]:
        theirs.setdefault((m["image"], m["label"]), set()).update(m["pixels"])
    assert theirs == ours  # the same pixels under the same label, image by image
    # and those are the source shapes: the road masks exactly, every box and triangle present
    src = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    for name, label, kind, rle, pts, w, h in zip(src["name"].str.removesuffix(".png"), src["label"], src["type"],
                                                 src["mask"], src["points"], src["w"], src["h"], strict=True):
        if kind == "mask":
            assert theirs[(name, label)] == set(np.flatnonzero(coco_decode(rle)).tolist())
        else:  # rasterised: about as many pixels as the shape's area
            area = w * h if kind == "bbox" else float(geometry.polygon_area([pts]).sum())
            assert abs(len(theirs[(name, label)]) - area) <= (w + h) * 2 + 4


def test_datumaro_finds_our_voc_masks(exported, datumaro):
    """VOC carries masks in SegmentationObject/Class PNGs: Datumaro gets each road pixel for pixel
    (the triangles are polygons, which VOC 1.1 only rasterises with segmentation=True: reported)."""
    ds, results = exported
    got = datumaro["PASCAL VOC 1.1"]
    src = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    masks = src[src["type"] == "mask"].set_index(src.loc[src["type"] == "mask", "name"].str.removesuffix(".png"))
    assert sorted((m["image"], m["label"]) for m in got["masks"]) == sorted((i, "road") for i in masks.index)
    for m in got["masks"]:
        assert m["pixels"] == np.flatnonzero(coco_decode(masks.loc[m["image"], "mask"])).tolist()
    lost = {r for e in results["PASCAL VOC 1.1"].loss.entries for r in e.rows}
    assert lost == set(src.loc[src["type"] == "polygon", "ann_id"])
