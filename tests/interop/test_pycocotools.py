"""pycocotools loads both our COCO layouts (CVAT's per-subset files and Label Studio's result.json)
of the interop dataset with the areas and masks we meant, pixel for pixel.

tests/formats/test_coco_roundtrip.py covers ellipses, rotated boxes and predictions in CVAT's
layout; this adds the Label Studio layout and masks with holes over several images and subsets.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annowidgets.core import geometry
from annowidgets.formats import coco_rle

from . import peers

LAYOUTS = {"COCO 1.0": ["annotations/instances_train.json", "annotations/instances_val.json"], "COCO": ["result.json"]}


@pytest.mark.parametrize("fmt", list(LAYOUTS))
def test_pycocotools_reads_our_areas_and_masks(fmt, tmp_path):
    ds = peers.make_dataset(tmp_path / "media")
    out = Path(peers.export(ds, tmp_path / "out", fmt))
    src = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    by_key = {(n, lab, t): row for n, lab, t, row in zip(src["name"], src["label"], src["type"], src.itertuples(),
                                                          strict=True)}
    seen = 0
    for rel in LAYOUTS[fmt]:
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(out / rel))
        cats = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
        for ann in coco.loadAnns(coco.getAnnIds()):
            img = coco.imgs[ann["image_id"]]
            name = Path(img["file_name"]).name
            seg = ann["segmentation"]
            kind = "mask" if isinstance(seg, dict) else "polygon" if seg else "bbox"
            row = by_key[(name, cats[ann["category_id"]], kind)]
            assert np.allclose(ann["bbox"], [row.x, row.y, row.w, row.h], atol=peers.TOL)
            if kind == "mask":
                want = coco_rle.decode(row.mask)
                assert np.array_equal(coco.annToMask(ann).astype(bool), want)
                assert ann["area"] == want.sum() == float(mask_utils.area(coco.annToRLE(ann)))
                assert ann["iscrowd"] == 1
            elif kind == "polygon":
                assert ann["area"] == pytest.approx(float(geometry.polygon_area([row.points]).sum()))
                assert np.allclose(seg[0], row.points)
                m = coco.annToMask(ann)  # rasterised by pycocotools: close to the exact area
                assert m.shape == (img["height"], img["width"]) and abs(m.sum() - ann["area"]) <= row.w + row.h + 4
            else:
                assert ann["area"] == pytest.approx(row.w * row.h)
            seen += 1
    assert seen == len(ds.annotations)
