"""pycocotools loads both our COCO layouts (CVAT's per-subset files and Label Studio's result.json)
of the interop dataset with the areas and masks we meant, pixel for pixel.

tests/formats/test_coco_roundtrip.py covers ellipses, rotated boxes and predictions in CVAT's
layout; this adds the Label Studio layout and masks with holes over several images and subsets.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annowidgets.core import geometry
from annowidgets.core.masks import coco_decode

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
                want = coco_decode(row.mask)
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


def _cocoeval(doc: dict):
    """COCOeval 'bbox' stats of the scored annotations of ``doc`` against its unscored ones."""
    from pycocotools.cocoeval import COCOeval

    gt = dict(doc, annotations=[x for x in doc["annotations"] if "score" not in x])
    coco = COCO()
    coco.dataset = gt
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes([x for x in doc["annotations"] if "score" in x]), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.fixture
def gt_and_pred(tmp_path):
    import annowidgets as aw

    ds = peers.make_dataset(tmp_path / "media")
    a = ds.annotations[ds.annotations["type"] == "bbox"]
    items = ds.items.assign(subset="default")  # one instances file

    def export(pred: pd.DataFrame, fmt: str) -> dict:
        both = aw.Dataset(items=items, annotations=pd.concat([a, pred], ignore_index=True), labels=ds.labels)
        out = Path(peers.export(both, tmp_path / f"{fmt}_{len(list(tmp_path.iterdir()))}", fmt))
        doc = json.loads((out / LAYOUTS[fmt][0].replace("train", "default")).read_text())
        assert sum("score" in x for x in doc["annotations"]) == len(a)
        return doc

    return a, a.assign(ann_id=a["ann_id"] + 1000, source="prediction", score=0.9), export


def test_cocoeval_scores_our_predictions_against_our_ground_truth(gt_and_pred):
    """Predictions exported beside the ground truth evaluate as they should: the same boxes score
    AP 1.0, and a prediction moved off its object costs exactly that object."""
    a, pred, export = gt_and_pred
    exact = _cocoeval(export(pred, "COCO 1.0"))
    assert exact[0] == pytest.approx(1.0) and exact[8] == pytest.approx(1.0)  # AP@[.5:.95], AR@100
    moved = pred.index[0]
    pred.loc[moved, "x"] = (pred.loc[moved, "x"] + pred.loc[moved, "w"] * 2) % 20
    assert geometry.iou_matrix(pred.loc[[moved], list("xywh")], a.loc[[moved], list("xywh")]).max() == 0
    off = _cocoeval(export(pred, "COCO 1.0"))
    n_label = int((a["label"] == a.loc[moved, "label"]).sum())
    assert off[8] == pytest.approx((1.0 + (n_label - 1) / n_label) / 2)  # AR, averaged over the two labels


def test_cocoeval_never_matches_annotation_id_0_of_label_studio_coco(gt_and_pred):
    """Label Studio's COCO numbers annotations from 0, and so do we in that layout; pycocotools'
    COCOeval records a match by the matched annotation's id, so id 0 reads as 'no match' (a
    pycocotools quirk): that box can never count. Ids moved up by one give the right AP."""
    a, pred, export = gt_and_pred
    doc = export(pred, "COCO")
    assert min(x["id"] for x in doc["annotations"]) == 0
    assert _cocoeval(doc)[0] < 0.9  # the peer's quirk, not a wrong box
    shifted = dict(doc, annotations=[dict(x, id=x["id"] + 1) for x in doc["annotations"]])
    assert _cocoeval(shifted)[0] == pytest.approx(1.0)
