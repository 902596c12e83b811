"""One item's shapes as compact columns for the front end: typed arrays, not a list of dicts.

The dict has ``n`` plus one little-endian buffer per column (memoryviews, which ipywidgets sends
as binary buffers and anywidget hands to JS as DataViews; ``js/preview/shapes.ts`` reads them):

- ``x, y, w, h, rotation, score`` float32; ``label`` int32 (index into the labels list, -1 none);
  ``layer`` uint8 (index into the layers list); ``type`` uint8 (:data:`TYPE_CODES`);
  ``status`` uint8 (0 none, 1 TP, 2 FP, 3 FN); ``ann_id`` int32.
- ``poff`` uint32 (n + 1) offsets into ``pts`` float32: flat x, y pairs of polygons, polylines,
  points, cuboids and skeletons (a skeleton's points are its children's, in sub-label order,
  NaN where a node is missing or outside); for a mask, ``[x0, y0, w, h]`` of its crop.
- ``moff`` uint32 (n + 1) offsets into ``runs`` uint32: row-major run lengths over the mask
  crop, starting with a run of zeros (decoded from COCO RLE here, painted in JS).
- ``eoff`` uint32 (n + 1) offsets into ``edges`` uint16: 0-based point-index pairs of skeletons.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

TYPE_CODES = {"bbox": 0, "polygon": 1, "polyline": 2, "points": 3, "ellipse": 4, "cuboid": 5, "mask": 6, "skeleton": 7}
_POINT_TYPES = ("polygon", "polyline", "points", "cuboid")
_EMPTY = np.zeros(0, dtype=np.float32)


def _mv(a, dtype) -> memoryview:
    return memoryview(np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")))


def mask_runs(rle) -> tuple[np.ndarray, np.ndarray] | None:
    """``([x0, y0, w, h], runs)`` of a COCO RLE mask cropped to its pixels; None if empty or unreadable."""
    from pycocotools import mask as mask_utils

    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        return None
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        h, w = rle["size"]
        rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    elif isinstance(counts, str):
        rle = {"size": list(rle["size"]), "counts": counts.encode("ascii")}
    try:
        with warnings.catch_warnings():  # pycocotools' numpy-2 copy= DeprecationWarning, not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            m = mask_utils.decode(rle)
    except Exception:  # noqa: BLE001 - a broken mask is skipped in a preview, not fatal
        return None
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    if not len(rows):
        return None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    flat = m[y0:y1, x0:x1].ravel().astype(bool)
    cuts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], cuts, [flat.size]])
    runs = np.diff(bounds)
    if flat[0]:
        runs = np.concatenate([[0], runs])
    return np.array([x0, y0, x1 - x0, y1 - y0], dtype=np.float32), runs.astype(np.uint32)


_TAG = re.compile(r"<(line|circle)\b([^>]*)>", re.I)
_ATTR = re.compile(r'([\w:-]+)\s*=\s*"([^"]*)"')


def skeleton_layout(labels: pd.DataFrame, name: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Node names (sub-labels in table order) and 0-based edges of skeleton label ``name``.

    Edges come from the label's CVAT SVG (``data-node-from``/``data-node-to`` on ``<line>``, node
    ids mapped to sub-labels by ``data-label-name`` on ``<circle>``), else from
    ``extra['skeleton']`` (COCO-style 1-based pairs).
    """
    if labels is None or not len(labels):
        return [], []
    names = [str(n) for n in labels.loc[labels["parent"].astype(object) == name, "name"]]
    row = labels[(labels["name"] == name)]
    if not len(row):
        return names, []
    svg = row["svg"].iloc[0]
    extra = row["extra"].iloc[0] if isinstance(row["extra"].iloc[0], dict) else {}
    if not names and extra.get("keypoints"):
        names = [str(n) for n in extra["keypoints"]]
    index = {n: i for i, n in enumerate(names)}
    edges: list[tuple[int, int]] = []
    if isinstance(svg, str) and svg:
        node = {}
        lines = []
        for tag, body in _TAG.findall(svg):
            attrs = dict(_ATTR.findall(body))
            if tag.lower() == "circle" and "data-node-id" in attrs:
                node[attrs["data-node-id"]] = attrs.get("data-label-name", "")
            elif tag.lower() == "line" and "data-node-from" in attrs and "data-node-to" in attrs:
                lines.append((attrs["data-node-from"], attrs["data-node-to"]))
        for a, b in lines:
            ia, ib = index.get(node.get(a, "")), index.get(node.get(b, ""))
            if ia is not None and ib is not None:
                edges.append((ia, ib))
    elif extra.get("skeleton"):
        for a, b in extra["skeleton"]:
            if 1 <= int(a) <= len(names) and 1 <= int(b) <= len(names):
                edges.append((int(a) - 1, int(b) - 1))
    return names, edges


def drawable(ann: pd.DataFrame) -> np.ndarray:
    """Rows the preview draws: geometry types, minus skeleton children (drawn inside their skeleton)."""
    kind = ann["type"].astype(object).to_numpy()
    ok = np.isin(kind, list(TYPE_CODES))
    skel_ids = ann.loc[kind == "skeleton", "ann_id"]
    if len(skel_ids):
        ok &= ~ann["parent_id"].isin(skel_ids).to_numpy()
    return ok


def item_columns(rows: pd.DataFrame, *, label_index: dict[str, int], layer_index: dict[str, int],
                 layers: np.ndarray, status: np.ndarray, children: pd.DataFrame | None = None,
                 labels: pd.DataFrame | None = None) -> dict:
    """Columns of the drawable ``rows`` of one item (see the module docstring).

    ``layers`` and ``status`` are row-aligned with ``rows``; ``children`` holds the item's
    skeleton child rows (``parent_id`` set), used to fill each skeleton's points.
    """
    n = len(rows)
    kind = rows["type"].astype(object).to_numpy()
    per_row_pts: list[np.ndarray] = [_EMPTY] * n
    per_row_runs: list[np.ndarray] = [np.zeros(0, np.uint32)] * n
    per_row_edges: list[np.ndarray] = [np.zeros(0, np.uint16)] * n
    points = rows["points"].to_numpy()
    special = np.flatnonzero(np.isin(kind, [*_POINT_TYPES, "mask", "skeleton"]))
    skeleton_cache: dict[str, tuple[list[str], list[tuple[int, int]]]] = {}
    for i in special:
        k = kind[i]
        if k in _POINT_TYPES:
            p = points[i]
            if p is not None and len(p):
                per_row_pts[i] = np.asarray(p, dtype=np.float32).ravel()
        elif k == "mask":
            got = mask_runs(rows["mask"].iat[i])
            if got is not None:
                per_row_pts[i], per_row_runs[i] = got
        else:
            per_row_pts[i], per_row_edges[i] = _skeleton(rows.iloc[i], children, labels, skeleton_cache)

    def offsets(parts) -> np.ndarray:
        off = np.zeros(n + 1, dtype=np.uint32)
        if n:
            off[1:] = np.cumsum([len(p) for p in parts])
        return off

    def cat(parts, dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if n else np.zeros(0, dtype)

    f = lambda col, fill=np.nan: rows[col].to_numpy(np.float64, na_value=fill)  # noqa: E731
    return {
        "n": n,
        "x": _mv(f("x"), "f4"),
        "y": _mv(f("y"), "f4"),
        "w": _mv(f("w"), "f4"),
        "h": _mv(f("h"), "f4"),
        "rotation": _mv(f("rotation", 0.0), "f4"),
        "score": _mv(f("score"), "f4"),
        "label": _mv([label_index.get(str(v), -1) for v in rows["label"]], "i4"),
        "layer": _mv([layer_index.get(v, 0) for v in layers], "u1"),
        "type": _mv([TYPE_CODES[k] for k in kind], "u1"),
        "status": _mv(status, "u1"),
        "ann_id": _mv(rows["ann_id"].to_numpy(np.int64, na_value=-1), "i4"),
        "poff": _mv(offsets(per_row_pts), "u4"),
        "pts": _mv(cat(per_row_pts, np.float32), "f4"),
        "moff": _mv(offsets(per_row_runs), "u4"),
        "runs": _mv(cat(per_row_runs, np.uint32), "u4"),
        "eoff": _mv(offsets(per_row_edges), "u4"),
        "edges": _mv(cat(per_row_edges, np.uint16), "u2"),
    }


def _skeleton(row, children, labels, cache) -> tuple[np.ndarray, np.ndarray]:
    """A skeleton's node points (NaN where missing/outside) and flat 0-based edge pairs."""
    name = str(row["label"])
    if name not in cache:
        cache[name] = skeleton_layout(labels, name)
    names, edges = cache[name]
    kids = children[children["parent_id"] == row["ann_id"]] if children is not None and len(children) else None
    if kids is None or not len(kids):
        return _EMPTY, np.zeros(0, np.uint16)
    if not names:
        names = [str(n) for n in kids["label"]]
    pts = np.full(2 * len(names), np.nan, dtype=np.float32)
    where = {n: i for i, n in enumerate(names)}
    for label, p, outside in zip(kids["label"], kids["points"], kids["outside"], strict=True):
        i = where.get(str(label))
        if i is None or outside or p is None or len(p) < 2:
            continue
        pts[2 * i], pts[2 * i + 1] = float(p[0]), float(p[1])
    flat_edges = np.asarray(edges, dtype=np.uint16).ravel()
    return pts, flat_edges
