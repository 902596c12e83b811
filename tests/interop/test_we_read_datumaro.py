"""The reverse direction: Datumaro (in the oracle venv) exports VOC / YOLO / Ultralytics / COCO of a
box dataset it builds, and our readers, with the format detected, get the same images and boxes.

Datumaro's YOLO writer keeps 6 decimals of the normalised values: on these images (< 100 px) that
is < 1e-4 px, inside the 1e-3 px tolerance (on a 4000 px image it would not be).
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

import annowidgets as aw
from annowidgets.core.masks import coco_decode

from . import peers

pytestmark = peers.needs_oracle

# Datumaro's exporter -> the format we should detect
FORMATS = {"voc_detection": "PASCAL VOC 1.1", "yolo": "YOLO 1.1", "yolo_ultralytics": "Ultralytics YOLO Detection 1.0",
           "coco_instances": "COCO 1.0"}

WRITE = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from datumaro.components.annotation import Bbox
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image
    root, formats = sys.argv[1], json.loads(sys.argv[2])
    rng = np.random.default_rng(5)
    labels = ["car", "person", "tree"]
    items = []
    for i, (subset, w, h) in enumerate([("train", 96, 64), ("train", 80, 60), ("val", 72, 90), ("val", 50, 40)]):
        anns = []
        for k in range(3 if i < 3 else 0):  # the last image has no boxes
            bw, bh = rng.uniform(5, w / 3), rng.uniform(5, h / 3)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            anns.append(Bbox(*(round(float(v), 2) for v in (x, y, bw, bh)), label=k, id=k + 1))
        img = Image.from_numpy(np.full((h, w, 3), 40 * i, np.uint8))
        items.append(DatasetItem(id=f"img_{i}", subset=subset, media=img, annotations=anns))
    ds = Dataset.from_iterable(items, categories=labels)
    out = {"items": [[it.subset, it.id] for it in ds], "boxes": [], "exports": {}}
    for item in ds:
        for a in item.annotations:
            out["boxes"].append({"image": item.id, "label": labels[a.label], "x": a.x, "y": a.y, "w": a.w, "h": a.h})
    for fmt in formats:
        out["exports"][fmt] = os.path.join(root, fmt)
        ds.export(out["exports"][fmt], fmt, save_media=True)
    # COCO with a polygon and a mask (with a hole) beside a box
    from datumaro.components.annotation import Mask, Polygon
    m = np.zeros((40, 50), np.uint8)
    m[10:30, 20:45] = 1
    m[15:20, 30:35] = 0
    poly = [2.5, 3.25, 18.75, 4.0, 10.0, 20.5]
    seg = Dataset.from_iterable([DatasetItem(id="seg_0", subset="default",
                                             media=Image.from_numpy(np.zeros((40, 50, 3), np.uint8)),
                                             annotations=[Polygon(poly, label=0, id=1), Mask(m, label=1, id=2),
                                                          Bbox(30.5, 1.25, 10.0, 5.5, label=2, id=3)])],
                                categories=labels)
    out["exports"]["coco_seg"] = os.path.join(root, "coco_seg")
    seg.export(out["exports"]["coco_seg"], "coco_instances", save_media=True)
    out["seg"] = {"polygon": poly, "mask": np.flatnonzero(m).tolist()}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def written(tmp_path_factory, oracle):
    import json

    return oracle(WRITE, str(tmp_path_factory.mktemp("dm_writes")), json.dumps(list(FORMATS)))


@pytest.mark.parametrize("dm_fmt", list(FORMATS))
def test_we_read_datumaro_exports(dm_fmt, written):
    ds = aw.load(written["exports"][dm_fmt])
    assert ds.info["format"] == FORMATS[dm_fmt]  # detected, not told
    items = sorted(zip(ds.items["subset"], ds.items["name"].map(lambda n: n.rsplit(".", 1)[0]), strict=True))
    assert items == sorted(map(tuple, written["items"]))
    assert ds.items["width"].notna().all()
    peers.assert_same_boxes(peers.our_boxes(ds), peers.peer_boxes(written["boxes"]))


def test_we_read_datumaro_coco_polygons_and_masks(written):
    ds = aw.load(written["exports"]["coco_seg"])
    a = ds.annotations.set_index("type")
    assert sorted(a.index) == ["bbox", "mask", "polygon"]
    assert a.loc["polygon", "label"] == "car" and a.loc["mask", "label"] == "person"
    assert max(abs(p - q) for p, q in zip(a.loc["polygon", "points"], written["seg"]["polygon"], strict=True)) <= peers.TOL
    assert np.flatnonzero(coco_decode(a.loc["mask", "mask"])).tolist() == written["seg"]["mask"]  # hole kept
    assert [a.loc["mask", k] for k in "xywh"] == [20.0, 10.0, 25.0, 20.0]
    assert [a.loc["bbox", k] for k in "xywh"] == pytest.approx([30.5, 1.25, 10.0, 5.5], abs=peers.TOL)
