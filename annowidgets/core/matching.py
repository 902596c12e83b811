"""Matching predictions to annotations by IoU, the way detection metrics do it.

Per (item, frame, label) and per prediction layer (model version): predictions are taken in
order of score (highest first, unscored last); each takes the unmatched annotation with the
highest IoU if that IoU >= ``iou_threshold`` (a true positive), else it is a false positive.
Annotations no prediction took are false negatives. Predictions below ``score_threshold`` do
not take part (they are hidden). IoU is on the axis-aligned box of each shape (the enclosing
box for rotated boxes and ellipses), using :func:`annowidgets.core.geometry.iou_matrix`.
Only rows with a positive-area box take part (not tags, text or single points).

Core logic (a CLI or an evaluation script wants it as much as the Preview widget does):
``match(ds.annotations)`` gives every row's TP/FP/FN status.

Work is done per group with numpy; the greedy step is one short Python loop per prediction in
groups that have both annotations and predictions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import geometry

NONE, TP, FP, FN = 0, 1, 2, 3

ANNOTATION_LAYER = "annotation"


def layer_keys(ann: pd.DataFrame) -> np.ndarray:
    """The layer of every row: ``"annotation"`` or ``"prediction:<model_version>"`` (``"prediction"`` if none)."""
    pred = (ann["source"] == "prediction").to_numpy(bool)
    mv = ann["model_version"].astype("string")
    named = ("prediction:" + mv).fillna("prediction").astype(object).to_numpy()
    return np.where(pred, named, ANNOTATION_LAYER).astype(object)


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


def group_codes(ann: pd.DataFrame) -> np.ndarray:
    """One int64 per row, equal for rows of the same (item, frame, label): the matching groups."""
    codes = [pd.factorize(ann[c].astype(object).to_numpy(), use_na_sentinel=False)[0].astype(np.int64)
             for c in ("item_id", "frame", "label")]
    out = codes[0]
    for c in codes[1:]:
        out = out * (int(c.max(initial=0)) + 1) + c
    return out


class Matcher:
    """What matching needs that no threshold changes (boxes, groups, layers), computed once."""

    def __init__(self, ann: pd.DataFrame, layers: np.ndarray | None = None) -> None:
        ann = ann.reset_index(drop=True)
        self.n = len(ann)
        self.layer = layer_keys(ann) if layers is None else np.asarray(layers, dtype=object)
        self.boxes, self.geometry = match_boxes(ann)
        self.scores = ann["score"].to_numpy(np.float64, na_value=np.nan)
        self.is_pred = self.layer != ANNOTATION_LAYER
        self.group = group_codes(ann) if self.n else np.zeros(0, dtype=np.int64)
        self.pred_layers = sorted(set(self.layer[self.is_pred]))

    def run(self, iou_threshold: float = 0.5, score_threshold: float = 0.0) -> MatchResult:
        n = self.n
        usable = self.geometry & ~(self.is_pred & (self.scores < score_threshold))  # NaN is never below
        status = np.zeros(n, dtype=np.uint8)
        partner = np.full(n, -1, dtype=np.int64)
        result = MatchResult(layer=self.layer, status=status, partner=partner, usable=usable)
        gt_rows = np.flatnonzero(usable & ~self.is_pred)
        for key in self.pred_layers:
            rows = np.flatnonzero(usable & (self.layer == key))
            status[rows] = FP
            matched = np.zeros(n, dtype=bool)
            p, g, _ = candidate_pairs(self.group, rows, gt_rows, self.boxes, self.scores, iou_threshold)
            for pi, gi in zip(p.tolist(), g.tolist(), strict=True):  # one step per overlapping pair
                if status[pi] == TP or matched[gi]:
                    continue
                status[pi] = TP
                partner[pi] = gi
                matched[gi] = True
            result.gt_matched[key] = matched
        return result


def match(ann: pd.DataFrame, iou_threshold: float = 0.5, score_threshold: float = 0.0,
          layers: np.ndarray | None = None) -> MatchResult:
    """Match every prediction layer of ``ann`` (an annotations table) against its annotations."""
    return Matcher(ann, layers).run(iou_threshold, score_threshold)


def candidate_pairs(group: np.ndarray, pred_rows: np.ndarray, gt_rows: np.ndarray, boxes: np.ndarray,
                    scores: np.ndarray, iou_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (prediction, annotation) pair of one group with IoU >= threshold, in greedy order.

    Ordered by prediction score (highest first, unscored last, then row), then IoU (highest
    first): walking the pairs and taking each whose prediction and annotation are both still
    free is exactly :func:`greedy_match` run per group, without a Python loop per group.
    """
    empty = np.zeros(0, dtype=np.int64)
    if not len(pred_rows) or not len(gt_rows):
        return empty, empty, np.zeros(0)
    pr = pd.DataFrame({"g": group[pred_rows], "p": pred_rows})
    gr = pd.DataFrame({"g": group[gt_rows], "t": gt_rows})
    pairs = pr.merge(gr, on="g", how="inner", sort=False)
    p = pairs["p"].to_numpy(np.int64)
    t = pairs["t"].to_numpy(np.int64)
    a, b = boxes[p], boxes[t]
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    keep = (iou >= iou_threshold) & (iou > 0)
    p, t, iou = p[keep], t[keep], iou[keep]
    sc = np.nan_to_num(scores[p], nan=-np.inf)
    order = np.lexsort((-iou, p, -sc))  # last key first: score desc, then row, then IoU desc
    return p[order], t[order], iou[order]


def _split_by(group: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    """``group code -> row positions`` for the given rows, without a Python loop over rows."""
    if not len(rows):
        return {}
    g = group[rows]
    order = np.argsort(g, kind="stable")
    g, r = g[order], rows[order]
    cuts = np.flatnonzero(np.diff(g)) + 1
    return {int(chunk_g[0]): chunk_r for chunk_g, chunk_r in zip(np.split(g, cuts), np.split(r, cuts), strict=True)}
