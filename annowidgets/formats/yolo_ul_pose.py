"""Ultralytics YOLO Pose 1.0: ``cls cx cy w h x1 y1 v1 … xK yK vK`` per skeleton.

A skeleton is a ``skeleton`` row (its box) plus ``points`` child rows (``parent_id``), one
per sub-label; the sub-labels of a skeleton label are the labels rows whose ``parent`` is
it, in table order. ``data.yaml`` gets ``kpt_shape: [K, 3]`` (K = the largest skeleton)
and ``kpt_names`` (``{class id: [point names]}``, as Ultralytics' own pose datasets have),
so import can name the points; smaller skeletons are padded with ``0 0 0``.
Visibility: outside -> 0 (``0 0 0``), occluded -> 1, visible -> 2; import sets
``outside`` for v=0 and ``occluded`` for v=1. Import accepts ``kpt_shape`` [K, 2] too.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import geometry
from ..core.errors import FormatError
from . import yolo_codecs as codecs
from . import yolo_ultralytics as ul
from .registry import FormatSpec, register


def skeletons(ds) -> dict[str, list[str]]:
    """Skeleton label -> its point names (labels table first, then what the rows use)."""
    lab = ds.labels
    out: dict[str, list[str]] = {}
    for n in lab.loc[(lab["type"] == "skeleton") & lab["parent"].isna(), "name"].tolist():
        out[n] = []
    sub = lab[lab["parent"].notna()]
    for n, p in zip(sub["name"].tolist(), sub["parent"].tolist(), strict=True):
        out.setdefault(p, []).append(n)
    a = ds.annotations
    sk = a[(a["type"] == "skeleton") & a["parent_id"].isna()]
    for n in dict.fromkeys(sk["label"].tolist()):
        out.setdefault(n, [])
    ch = a[a["parent_id"].isin(sk["ann_id"])]
    if len(ch):
        plabel = sk.set_index("ann_id")["label"].reindex(ch["parent_id"].astype("int64")).tolist()
        for p, n in dict.fromkeys(zip(plabel, ch["label"].tolist(), strict=True)):
            if n not in out[p]:
                out[p].append(n)
    return out


def write(ds, sink, ctx) -> None:
    sk = skeletons(ds)
    classes = list(sk)
    k = max((len(v) for v in sk.values()), default=0)

    def encode(p):
        rows, W, H = codecs.prepare(ds, ctx, classes, ("skeleton",), children=True)
        a = ds.annotations
        ch = a[a["parent_id"].isin(rows.a["ann_id"]) & (a["type"] == "points")]
        plabel = rows.a.set_index("ann_id")["label"].reindex(ch["parent_id"].astype("int64")).tolist()
        slot_of = {(s, n): j for s, names in sk.items() for j, n in enumerate(names)}
        slot = np.array([slot_of.get((pl, n), -1) for pl, n in zip(plabel, ch["label"].tolist(), strict=True)],
                        dtype=np.int64)
        kp = codecs.keypoint_block(rows, ch, slot, k, report=ctx.report)
        box = _boxes(rows, ch)
        vals = np.stack([(box[0] + box[2] / 2) / rows.W, (box[1] + box[3] / 2) / rows.H,
                         box[2] / rows.W, box[3] / rows.H], axis=1)
        lines = codecs.format_pose(rows.cls, vals, kp)
        extra = {"kpt_shape": [k, 3], "kpt_names": {i: list(sk[c]) for i, c in enumerate(classes)}}
        return rows.pos, lines, W, H, classes, extra

    ul.write_layout(ds, sink, ctx, "pose", encode)


def _boxes(rows: codecs.Rows, ch: pd.DataFrame):
    """Skeleton boxes; where a skeleton row has none, the box around its visible points."""
    a = rows.a
    x, y, w, h = (a[c].to_numpy(dtype=float).copy() for c in ("x", "y", "w", "h"))
    miss = np.isnan(x) | np.isnan(y) | np.isnan(w) | np.isnan(h)
    if miss.any() and len(ch):
        vis = ch[~ch["outside"].to_numpy(dtype=bool)]
        bx, by, bw, bh = geometry.points_bbox(vis["points"].tolist())
        g = pd.DataFrame({"p": vis["parent_id"].astype("int64").to_numpy(), "x0": bx, "y0": by,
                          "x1": bx + bw, "y1": by + bh}).groupby("p").agg({"x0": "min", "y0": "min",
                                                                             "x1": "max", "y1": "max"})
        g = g.reindex(a["ann_id"].to_numpy())
        x = np.where(miss, g["x0"].to_numpy(), x)
        y = np.where(miss, g["y0"].to_numpy(), y)
        w = np.where(miss, (g["x1"] - g["x0"]).to_numpy(), w)
        h = np.where(miss, (g["y1"] - g["y0"]).to_numpy(), h)
    return np.nan_to_num(x), np.nan_to_num(y), np.nan_to_num(w), np.nan_to_num(h)


def _decode_with(where: list):
    def decode(lines, cls, item, W, H, classes, data):
        shape = data.get("kpt_shape")
        if not (isinstance(shape, list) and len(shape) == 2 and shape[1] in (2, 3) and int(shape[0]) >= 0):
            raise FormatError(where[0], f"kpt_shape must be [K, 2] or [K, 3], got {shape!r}")
        k, d = int(shape[0]), int(shape[1])
        lines.require(lines.n == 5 + k * d, f"{5 + k * d} (class cx cy w h and {k} points of {d} values)")
        names = data.get("kpt_names") or {}
        sub = [[str(n) for n in (names.get(i) or names.get(str(i)) or [str(j + 1) for j in range(k)])][:k]
               for i in range(len(classes))]
        sel = np.ones(len(lines), dtype=bool)
        iw, ih = W[item], H[item]
        box = codecs.decode_boxes(lines, sel, iw, ih)
        ref = np.arange(len(lines), dtype=np.int64)
        sk = dict(box, type="skeleton", item=item, label=np.asarray(classes, dtype=object)[cls], ref=ref,
                  parent_ref=np.full(len(lines), np.nan))
        px, py, vis = codecs.decode_keypoints(lines, sel, iw, ih, k, d)
        nsub = np.array([len(s) for s in sub], dtype=np.int64)[cls]
        valid = np.arange(k)[None, :] < nsub[:, None]
        r, j = np.nonzero(valid)
        lab = np.array([sub[c][jj] for c, jj in zip(cls[r].tolist(), j.tolist(), strict=True)], dtype=object)
        xs, ys, vv = px[r, j], py[r, j], vis[r, j]
        pts = np.stack([xs, ys], axis=1).tolist()
        kids = {"item": item[r], "label": lab, "type": "points", "x": xs, "y": ys, "w": 0.0, "h": 0.0,
                "points": pts, "outside": vv == 0, "occluded": vv == 1, "ref": np.full(len(r), np.nan),
                "parent_ref": r.astype(float)}
        labels = pd.DataFrame(
            [{"name": c, "type": "skeleton"} for c in classes]
            + [{"name": n, "type": "points", "parent": c} for c, s in zip(classes, sub, strict=True) for n in s])
        return [sk, kids], labels

    return decode


def read(source, **options):
    rel = ul.find_yaml(source)
    return ul.read(source, _decode_with([source.display(rel) if rel else source.url]), options,
                   "Ultralytics YOLO Pose")


def detect(source) -> float:
    return 0.9 if ul.detect_task(source) == "pose" else 0.0


register(FormatSpec(
    name="Ultralytics YOLO Pose 1.0", aliases=("yolo_ultralytics_pose", "ultralytics pose"),
    read=read, write=write, detect=detect, shapes=("skeleton",), family="cvat",
    description="Ultralytics YOLO pose: cls cx cy w h then x y v per skeleton point; kpt_shape in data.yaml",
))
