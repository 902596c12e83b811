"""Matching predictions to annotations by IoU, the way detection metrics do it.

Per (item, frame, label) and per prediction layer (model version): predictions are taken in
order of score (highest first, unscored last); each takes the unmatched annotation with the
highest IoU if that IoU >= ``iou_threshold`` (a true positive), else it is a false positive.
Annotations no prediction took are false negatives. Predictions below ``score_threshold`` do
not take part (they are hidden). IoU is on the axis-aligned box of each shape (the enclosing
box for rotated boxes and ellipses), using :func:`annowidgets.core.geometry.iou_matrix`.
Only rows with a positive-area box take part (not tags, text or single points).

Work is done per group with numpy; the greedy step is one short Python loop per prediction in
groups that have both annotations and predictions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core import geometry

NONE, TP, FP, FN = 0, 1, 2, 3

ANNOTATION_LAYER = "annotation"


def layer_keys(ann: pd.DataFrame) -> np.ndarray:
    """The layer of every row: ``"annotation"`` or ``"prediction:<model_version>"`` (``"prediction"`` if none)."""
    src = ann["source"].astype(object).to_numpy()
    mv = ann["model_version"].astype(object).to_numpy()
    out = np.empty(len(ann), dtype=object)
    for i, (s, v) in enumerate(zip(src, mv, strict=True)):
        if s == "prediction":
            out[i] = "prediction" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else f"prediction:{v}"
        else:
            out[i] = ANNOTATION_LAYER
    return out


def match_boxes(ann: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes (N, 4), usable (N,) bool)``: axis-aligned x, y, w, h used for IoU, and which rows take part."""
    x = ann["x"].to_numpy(np.float64, na_value=np.nan)
    y = ann["y"].to_numpy(np.float64, na_value=np.nan)
    w = ann["w"].to_numpy(np.float64, na_value=np.nan)
    h = ann["h"].to_numpy(np.float64, na_value=np.nan)
    rot = np.nan_to_num(ann["rotation"].to_numpy(np.float64, na_value=0.0))
    kind = ann["type"].astype(object).to_numpy()
    rotated = (rot % 360 != 0) & np.isin(kind, ["bbox", "ellipse"])
    if rotated.any():
        ex, ey, ew, eh = geometry.enclosing_box(x[rotated], y[rotated], w[rotated], h[rotated], rot[rotated])
        x, y, w, h = x.copy(), y.copy(), w.copy(), h.copy()
        x[rotated], y[rotated], w[rotated], h[rotated] = ex, ey, ew, eh
    boxes = np.stack([x, y, w, h], axis=1) if len(ann) else np.zeros((0, 4))
    usable = np.isfinite(boxes).all(axis=1) & (w > 0) & (h > 0) & np.isin(kind, [
        "bbox", "polygon", "polyline", "ellipse", "cuboid", "mask", "skeleton", "points"])
    return boxes, usable


def greedy_match(gt: np.ndarray, pred: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """For each prediction, the index of the annotation it matches, or -1. Highest score goes first."""
    out = np.full(len(pred), -1, dtype=np.int64)
    if not len(pred) or not len(gt):
        return out
    iou = geometry.iou_matrix(pred, gt)
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
    taken = np.zeros(len(gt), dtype=bool)
    for p in order:
        row = np.where(taken, -1.0, iou[p])
        j = int(np.argmax(row))
        if row[j] >= iou_threshold and row[j] > 0:
            out[p] = j
            taken[j] = True
    return out


@dataclass
class MatchResult:
    """Matching of every prediction layer against the annotations, row-aligned with the input."""

    layer: np.ndarray  # layer key per row
    status: np.ndarray  # per row: TP/FP for matched/unmatched predictions, NONE otherwise
    partner: np.ndarray  # per prediction row: row position of the annotation it matched, else -1
    gt_matched: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> per-row bool (annotation rows)
    usable: np.ndarray | None = None  # rows that take part (positive-area geometry, above threshold)

    def gt_status(self, layer: str) -> np.ndarray:
        """Per row: TP for annotations ``layer`` matched, FN for those it missed, NONE otherwise."""
        out = np.zeros(len(self.layer), dtype=np.uint8)
        gt = (self.layer == ANNOTATION_LAYER) & self.usable
        matched = self.gt_matched.get(layer, np.zeros(len(self.layer), dtype=bool))
        out[gt & matched] = TP
        out[gt & ~matched] = FN
        return out

    def counts(self, rows: np.ndarray, layer: str) -> dict[str, int]:
        """TP/FP/FN of ``layer`` among the row positions ``rows`` (e.g. one item's rows)."""
        lay = self.layer[rows]
        st = self.status[rows]
        gt = (lay == ANNOTATION_LAYER) & self.usable[rows]
        matched = self.gt_matched.get(layer, np.zeros(len(self.layer), dtype=bool))[rows]
        return {
            "tp": int(((lay == layer) & (st == TP)).sum()),
            "fp": int(((lay == layer) & (st == FP)).sum()),
            "fn": int((gt & ~matched).sum()),
        }


def match(ann: pd.DataFrame, iou_threshold: float = 0.5, score_threshold: float = 0.0,
          layers: np.ndarray | None = None) -> MatchResult:
    """Match every prediction layer of ``ann`` (an annotations table) against its annotations."""
    ann = ann.reset_index(drop=True)
    n = len(ann)
    layer = layer_keys(ann) if layers is None else np.asarray(layers, dtype=object)
    boxes, usable = match_boxes(ann)
    scores = ann["score"].to_numpy(np.float64, na_value=np.nan)
    is_pred = layer != ANNOTATION_LAYER
    usable = usable & ~(is_pred & (scores < score_threshold))  # NaN scores are never below
    status = np.zeros(n, dtype=np.uint8)
    partner = np.full(n, -1, dtype=np.int64)
    result = MatchResult(layer=layer, status=status, partner=partner, usable=usable)
    if not n:
        return result

    frame = ann["frame"].to_numpy(np.float64, na_value=-1.0)
    item = ann["item_id"].to_numpy(np.float64, na_value=-1.0)
    group = pd.MultiIndex.from_arrays([item, frame, ann["label"].astype(object).to_numpy()]).factorize()[0]
    gt_rows = np.flatnonzero(usable & ~is_pred)
    gt_by_group = _split_by(group, gt_rows)

    for key in sorted(set(layer[is_pred])):
        rows = np.flatnonzero(usable & (layer == key))
        status[rows] = FP
        matched = np.zeros(n, dtype=bool)
        for g, prow in _split_by(group, rows).items():
            grow = gt_by_group.get(g)
            if grow is None:
                continue
            m = greedy_match(boxes[grow], boxes[prow], scores[prow], iou_threshold)
            hit = m >= 0
            status[prow[hit]] = TP
            partner[prow[hit]] = grow[m[hit]]
            matched[grow[m[hit]]] = True
        result.gt_matched[key] = matched
    return result


def _split_by(group: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    """``group code -> row positions`` for the given rows, without a Python loop over rows."""
    if not len(rows):
        return {}
    g = group[rows]
    order = np.argsort(g, kind="stable")
    g, r = g[order], rows[order]
    cuts = np.flatnonzero(np.diff(g)) + 1
    return {int(chunk_g[0]): chunk_r for chunk_g, chunk_r in zip(np.split(g, cuts), np.split(r, cuts), strict=True)}
