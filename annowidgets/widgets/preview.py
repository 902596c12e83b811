"""``Preview(dataset)``: annotations and predictions over the images, one item at a time.

Python holds the dataset and does the work (which items match the filters, IoU matching, image
bytes, shape columns); the front end (``js/preview.ts``) draws one item on one canvas and reports
the user's choices through the synced traits below or ``{"kind": ...}`` messages.
"""
from __future__ import annotations

import posixpath

import numpy as np
import pandas as pd
import traitlets as t

from ..core import matching as _matching
from ..core.dataset import Dataset
from ..core.top_view import as_top_view
from ._base import BaseWidget, static_asset
from ._colors import label_colors
from ._columns import drawable, item_columns
from ._media import dataset_images, workspace_images

#: How many rows of the item list the front end gets at once (a window around the current item).
LIST_WINDOW = 200


class Preview(BaseWidget):
    """Predictions against annotations on the images of a :class:`~annowidgets.Dataset` or of a
    workspace project, task or job (media read with its storage's credentials, video frames decoded;
    point clouds seen from above, their 3D cuboids as footprints matched by IoU).

    >>> import annowidgets as aw
    >>> aw.Preview(ds, score_threshold=0.3, color_by="match")  # doctest: +SKIP

    Keys while the widget has focus: ←/→ previous/next item, e / Shift+E next/previous item
    with errors, +/- zoom, 0 fit. Wheel zooms, dragging pans, hovering a shape names it.
    """

    _esm = static_asset("preview.js")
    _css = static_asset("preview.css")

    position = t.Int(0).tag(sync=True)
    """int: index of the shown item in the (filtered) item list. Default 0."""
    score_threshold = t.Float(0.0, min=0.0, max=1.0).tag(sync=True)
    """float: predictions scoring below this are hidden and not matched. Default 0.0."""
    iou_threshold = t.Float(0.5, min=0.0, max=1.0).tag(sync=True)
    """float: minimum IoU for a prediction to match an annotation of its label. Default 0.5."""
    compare_layer = t.Unicode("").tag(sync=True)
    """str: prediction layer whose misses colour annotations FN, e.g. ``"prediction:v2"``. Default: the first."""
    hidden_layers = t.List(t.Unicode()).tag(sync=True)
    """list[str]: layers not drawn, e.g. ``["annotation"]`` or ``["prediction:v1"]``. Default: none."""
    color_by = t.Enum(["label", "match"], "label").tag(sync=True)
    """str: ``"label"`` (per-label colours) or ``"match"`` (TP green, FP red, FN orange). Default "label"."""
    label_filter = t.Unicode("").tag(sync=True)
    """str: only list items that have a shape with this label; ``""`` lists all. Default ""."""
    errors_only = t.Bool(False).tag(sync=True)
    """bool: only list items with a false positive or false negative. Default False."""
    height = t.Int(520).tag(sync=True)
    """int: canvas height in pixels. Default 520."""

    # Filled by Python for the front end (read them, don't set them).
    item = t.Dict().tag(sync=True)
    image = t.Bytes(b"").tag(sync=True)
    shapes = t.Dict().tag(sync=True)
    labels = t.List().tag(sync=True)
    layers = t.List().tag(sync=True)
    summary = t.Dict().tag(sync=True)
    item_list = t.Dict().tag(sync=True)

    def __init__(self, dataset, **kwargs) -> None:
        if isinstance(dataset, Dataset):
            dataset, frame = as_top_view(dataset)
            self._read_image = dataset_images(dataset, frame)
        elif hasattr(dataset, "dataset") and hasattr(dataset, "_ws"):  # a workspace project/task/job
            ws = dataset._ws
            dataset, frame = as_top_view(dataset.dataset())
            self._read_image = workspace_images(ws, frame)
        else:
            raise TypeError(f"Preview() needs an annowidgets Dataset or a workspace node, got {type(dataset).__name__}")
        self._ds = dataset
        self._prepare()
        kwargs.setdefault("compare_layer", self._prediction_layers[0] if self._prediction_layers else "")
        super().__init__(**kwargs)
        self._image_for: object = None
        self._rematch()
        self._refilter()
        self._show()
        self.observe(self._on_match_change, names=["score_threshold", "iou_threshold", "compare_layer"])
        self.observe(self._on_filter_change, names=["label_filter", "errors_only"])
        self.observe(lambda _: self._show(), names=["position"])

    # -- one-off preparation -------------------------------------------------------------------
    def _prepare(self) -> None:
        ds = self._ds
        ann = ds.annotations.reset_index(drop=True)
        self._ann = ann
        self._draw = drawable(ann)
        self._layer = _matching.layer_keys(ann)
        keys = sorted(set(self._layer[self._draw]) - {_matching.ANNOTATION_LAYER})
        self._prediction_layers = keys
        layer_order = [_matching.ANNOTATION_LAYER, *keys]
        counts = pd.Series(self._layer[self._draw]).value_counts()
        self.layers = [
            {"key": k, "source": "annotation" if k == _matching.ANNOTATION_LAYER else "prediction",
             "model_version": k.split(":", 1)[1] if ":" in k else None, "count": int(counts.get(k, 0))}
            for k in layer_order
        ]
        self._layer_index = {k: i for i, k in enumerate(layer_order)}

        table_names = [str(n) for n in ds.labels["name"]] if len(ds.labels) else []
        seen = set(table_names)
        extra = sorted({str(n) for n in ann["label"].dropna().unique()} - seen)
        names = table_names + extra
        colors = label_colors(names, ds.labels)
        self.labels = [{"name": n, "color": colors[n]} for n in names]
        self._label_index = {n: i for i, n in enumerate(names)}

        items = ds.items.reset_index(drop=True)
        self._items = items
        self._item_pos = {v: i for i, v in enumerate(items["item_id"].tolist())}
        # rows of item k: self._rows_sorted[self._rows_start[k]:self._rows_start[k + 1]] (no dict of arrays)
        self._ann_item_pos = pd.Index(items["item_id"]).get_indexer(ann["item_id"]).astype(np.int64)
        self._rows_sorted = np.argsort(self._ann_item_pos, kind="stable")
        self._rows_start = np.searchsorted(self._ann_item_pos[self._rows_sorted], np.arange(len(items) + 1))
        self._is_child = ann["parent_id"].notna().to_numpy() & ~self._draw
        self._matcher = _matching.Matcher(ann, self._layer)

    # -- matching and filtering --------------------------------------------------------------------
    def _rematch(self) -> None:
        self._match = self._matcher.run(self.iou_threshold, self.score_threshold)
        errors = np.zeros(len(self._items), dtype=np.int64)
        layer = self.compare_layer
        if layer and len(self._ann):
            pos = self._ann_item_pos
            fp = (self._match.layer == layer) & (self._match.status == _matching.FP)
            fn = self._match.gt_status(layer) == _matching.FN
            bad = (fp | fn) & (pos >= 0)
            errors = np.bincount(pos[bad], minlength=len(self._items))
        self._errors = errors

    def _refilter(self) -> None:
        keep = np.ones(len(self._items), dtype=bool)
        if self.label_filter:
            with_label = self._ann.loc[self._ann["label"] == self.label_filter, "item_id"].unique()
            keep &= self._items["item_id"].isin(with_label).to_numpy()
        if self.errors_only:
            keep &= self._errors > 0
        self._order = np.flatnonzero(keep)

    def _on_match_change(self, _change) -> None:
        current = self._current_item_pos()
        self._rematch()
        if self.errors_only:
            self._refilter()
        self._goto_item_pos(current)

    def _on_filter_change(self, _change) -> None:
        current = self._current_item_pos()
        self._refilter()
        self._goto_item_pos(current)

    def _current_item_pos(self) -> int | None:
        order = getattr(self, "_order", None)
        if order is None or not len(order):
            return None
        return int(order[min(max(self.position, 0), len(order) - 1)])

    def _goto_item_pos(self, item_pos: int | None) -> None:
        """Show the item at row ``item_pos`` of the items table if the list has it, else the first."""
        hit = np.flatnonzero(self._order == item_pos) if item_pos is not None else []
        new = int(hit[0]) if len(hit) else 0
        if new != self.position:
            self.position = new  # the observer redraws
        else:
            self._show()

    @t.validate("position")
    def _valid_position(self, proposal) -> int:
        order = getattr(self, "_order", None)
        total = len(order) if order is not None else 0
        return int(min(max(proposal["value"], 0), max(total - 1, 0)))

    # -- the shown item ---------------------------------------------------------------------------
    def _show(self) -> None:
        total = len(self._order)
        if not total:
            with self.hold_sync():
                self.item = {"item_id": None, "name": "", "width": 0, "height": 0, "position": 0, "total": 0,
                             "image_error": ""}
                self.image = b""
                self.shapes = item_columns(self._ann.iloc[0:0], label_index={}, layer_index={},
                                           layers=np.zeros(0, object), status=np.zeros(0, np.uint8))
                self.summary = {}
                self.item_list = {"start": 0, "total": 0, "rows": []}
            return
        pos = min(max(self.position, 0), total - 1)
        k = int(self._order[pos])
        row = self._items.iloc[k]
        item_id = row["item_id"]
        rows = self._rows_sorted[self._rows_start[k]:self._rows_start[k + 1]]
        shown = rows[self._draw[rows]]
        status = self._match.status[shown].copy()
        if self.compare_layer:
            gt = self._match.gt_status(self.compare_layer)[shown]
            is_gt = self._layer[shown] == _matching.ANNOTATION_LAYER
            status[is_gt] = gt[is_gt]
        children = self._ann.iloc[rows[self._is_child[rows]]]
        shapes = item_columns(self._ann.iloc[shown], label_index=self._label_index, layer_index=self._layer_index,
                              layers=self._layer[shown], status=status, children=children, labels=self._ds.labels)
        summary = {k: self._match.counts(rows, k) for k in self._prediction_layers}

        image, error = self.image, self.item.get("image_error", "")
        if self._image_for != item_id:
            image, error = self._read_image(row)
            self._image_for = item_id
        with self.hold_sync():
            self.item = {
                "item_id": _int(item_id), "name": _name(row), "width": _int(row["width"]) or 0,
                "height": _int(row["height"]) or 0, "position": pos, "total": total, "image_error": error,
                **({} if image or _int(row["width"]) else _extent(self._ann.iloc[shown])),
            }
            self.image = image
            self.shapes = shapes
            self.summary = summary
            self.item_list = self._window(pos)

    def _window(self, pos: int) -> dict:
        total = len(self._order)
        start = max(0, min(pos - LIST_WINDOW // 2, total - LIST_WINDOW))
        idx = self._order[start:start + LIST_WINDOW]
        sub = self._items.iloc[idx]
        rows = [[_int(i), _name(r), int(e)] for i, (_, r), e in zip(sub["item_id"], sub.iterrows(), self._errors[idx], strict=True)]
        return {"start": int(start), "total": int(total), "rows": rows}

    # -- front-end requests ------------------------------------------------------------------------
    def _msg_goto_item(self, content: dict, _buffers) -> None:
        """Show item ``content["item_id"]`` (a click in the item list)."""
        pos = self._item_pos.get(content.get("item_id"))
        hit = np.flatnonzero(self._order == pos) if pos is not None else []
        if not len(hit):
            self.send({"kind": "error", "message": f"item {content.get('item_id')!r} is not in the list"})
            return
        self.position = int(hit[0])

    def _msg_next_error(self, content: dict, _buffers) -> None:
        """Jump to the next (``direction`` 1) or previous (-1) listed item with FP or FN."""
        step = -1 if content.get("direction", 1) < 0 else 1
        errs = self._errors[self._order] > 0
        idx = np.flatnonzero(errs)
        cand = idx[idx > self.position] if step > 0 else idx[idx < self.position][::-1]
        if len(cand):
            self.position = int(cand[0])

    # -- Python conveniences -------------------------------------------------------------------------
    @property
    def dataset(self) -> Dataset:
        return self._ds

    def matches(self) -> pd.DataFrame:
        """Every drawable annotation row with its layer, match status (TP/FP/FN/"") and partner ann_id."""
        names = {0: "", 1: "TP", 2: "FP", 3: "FN"}
        st = self._match.status.copy()
        if self.compare_layer:
            gt = self._layer == _matching.ANNOTATION_LAYER
            st[gt] = self._match.gt_status(self.compare_layer)[gt]
        partner = self._match.partner
        ann_ids = self._ann["ann_id"].to_numpy(np.float64, na_value=np.nan)
        out = self._ann[["ann_id", "item_id", "label", "source", "model_version", "score"]].copy()
        out["layer"] = self._layer
        out["status"] = [names[int(s)] for s in st]
        out["matched_ann_id"] = pd.array(np.where(partner >= 0, ann_ids[np.maximum(partner, 0)], np.nan), dtype="Int64")
        return out[self._draw].reset_index(drop=True)


def _int(v) -> int | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else int(v)


def _name(row) -> str:
    name = row.get("name")
    if isinstance(name, str) and name:
        return name
    media = row.get("media")
    return posixpath.basename(media) if isinstance(media, str) else f"#{row['item_id']}"


def _extent(rows: pd.DataFrame) -> dict:
    """A canvas size for an item with no media and no size: the extent of its shapes, else 640x480."""
    x1 = (rows["x"] + rows["w"]).max() if len(rows) else np.nan
    y1 = (rows["y"] + rows["h"]).max() if len(rows) else np.nan
    w = int(np.ceil(x1)) if np.isfinite(x1) and x1 > 0 else 640
    h = int(np.ceil(y1)) if np.isfinite(y1) and y1 > 0 else 480
    return {"width": w, "height": h}
