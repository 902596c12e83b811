"""CVAT's "Datumaro 1.0": ``annotations/<subset>.json`` per subset (+ ``images/<subset>/<name>``).

Each file is ``{"info"|"infos", "categories", "items"}``: ``categories.label.labels`` lists the
labels (``parent`` names a skeleton's point labels), ``categories.mask.colormap`` their colours,
``categories.points.items`` each skeleton's point names and 1-based ``joints``. An item has an
``id``, ``image`` ``{path, size: [h, w]}`` (or ``media``), ``attr`` (CVAT: ``frame``) and
``annotations``, each with ``id``, ``type``, ``attributes``, ``group`` (0 = none), ``label_id``
(an index into the label list), ``z_order`` and its geometry.

Mapping (and why):
- ``label`` -> ``tag``; ``bbox`` ``[x, y, w, h]`` -> ``bbox`` (CVAT writes the unrotated box and the
  angle in ``attributes.rotation``); ``polygon``/``polyline``/``points`` -> flat ``points``;
  ``ellipse`` ``[x1, y1, x2, y2]`` (its box) -> ``ellipse``; ``mask`` (compressed COCO RLE of the
  whole image) -> ``mask``; ``skeleton`` -> a ``skeleton`` row plus one ``points`` row per element
  (``parent_id``; visibility 0 -> ``outside``, 1 -> ``occluded``); ``caption`` -> ``text``;
  ``cuboid_2d`` (8 corners) -> ``cuboid``. ``cuboid_3d`` (point clouds) is skipped and the skip
  recorded in ``dataset.loss``.
- CVAT's attributes ``occluded``, ``rotation``, ``track_id``, ``keyframe``, ``outside`` -> their
  columns; the others stay in ``attributes``. Tracks are one row per visible frame, as CVAT writes
  them (its importer rebuilds the outside frames; we keep the rows as they are).
The writer is :mod:`.datumaro_write`.
"""
from __future__ import annotations

import posixpath

import numpy as np
import orjson
import pandas as pd

from ..core import geometry
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from ..core.io import Source
from ..core.loss import LossReport
from ..core.parsing import json_error
from . import coco_rle
from .coco_skeleton import svg_from_edges
from .registry import FormatSpec, register

NAME = "Datumaro 1.0"
SHAPES = ("tag", "bbox", "polygon", "polyline", "points", "ellipse", "mask", "skeleton")
SPECIAL = frozenset({"occluded", "rotation", "track_id", "keyframe", "outside"})
KNOWN = frozenset({"id", "type", "attributes", "group", "label_id", "z_order", "bbox", "points", "rle",
                   "visibility", "elements", "caption"})
_MISSING = object()


# -- finding and sniffing the files ------------------------------------------------------------
def _head(source: Source, rel: str | None, n: int = 65536) -> bytes:
    try:
        with source.open(rel) as f:
            return f.read(n)
    except OSError:
        return b""


def looks_like_datumaro(head: bytes) -> bool:
    """A JSON object with Datumaro's ``categories`` and ``items`` (COCO's ``images`` is not one)."""
    h = head.lstrip()
    return h[:1] == b"{" and b'"categories"' in h and b'"items"' in h and b'"images"' not in h[:4096]


def find_files(source: Source) -> list[tuple[str, str]]:
    """``(rel, subset)`` of the annotation files: ``annotations/<subset>.json`` at any depth."""
    if source.kind == "file":
        return [(source.name, posixpath.splitext(source.name)[0])]
    out = []
    for rel in source.glob("*.json"):
        parent = posixpath.basename(posixpath.dirname(rel))
        if parent == "annotations":
            out.append((rel, posixpath.splitext(posixpath.basename(rel))[0]))
    return out


def detect(source: Source) -> float:
    if source.kind == "file":
        if not source.name.lower().endswith(".json"):
            return 0.0
        return 0.6 if looks_like_datumaro(_head(source, None)) else 0.0
    files = find_files(source)
    if files and all(looks_like_datumaro(_head(source, rel)) for rel, _ in files[:3]):
        return 0.9
    return 0.0


# -- reading -------------------------------------------------------------------------------------
def _load(source: Source, rel: str) -> dict:
    where = source.display(rel)
    data = source.read_bytes(rel)
    try:
        with gc_paused():
            doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise json_error(where, exc, "not valid Datumaro JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list) \
            or not isinstance(doc.get("categories", {}), dict):
        raise FormatError(where, "expected a JSON object with 'categories' (an object) and 'items' (a list)")
    return doc


class _Labels:
    """The label list of one file: ``label_id`` -> (name, parent), plus the labels table rows."""

    def __init__(self, cats: dict, where: str, rows: dict):
        lab = cats.get("label") or {}
        entries = lab.get("labels") or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e for e in entries):
            raise FormatError(where, "categories.label.labels must be a list of objects with a 'name'",
                              element="categories")
        self.names = [str(e["name"]) for e in entries]
        self.parents = [str(e.get("parent") or "") for e in entries]
        self.where = where
        colors = {}
        for c in (cats.get("mask") or {}).get("colormap") or []:
            try:
                colors[int(c["label_id"])] = "#{:02x}{:02x}{:02x}".format(int(c["r"]), int(c["g"]), int(c["b"]))
            except (KeyError, TypeError, ValueError):
                raise FormatError(where, f"colormap entry {c!r} needs label_id, r, g, b",
                                  element="categories") from None
        skeletons = {}
        for s in (cats.get("points") or {}).get("items") or []:
            try:
                skeletons[int(s["label_id"])] = ([str(n) for n in s.get("labels") or []],
                                                 [[int(a), int(b)] for a, b in s.get("joints") or []])
            except (KeyError, TypeError, ValueError):
                raise FormatError(where, f"points category {s!r} needs label_id, labels and joints",
                                  element="categories") from None
        has_kids = set(self.parents)
        for i, (e, name, parent) in enumerate(zip(entries, self.names, self.parents, strict=True)):
            key = (name, parent)
            if key in rows:
                continue
            attrs = e.get("attributes") or []
            row = {"name": name, "parent": parent or pd.NA, "color": colors.get(i, pd.NA),
                   "attributes": [{"name": str(a)} for a in attrs] or None,
                   "type": "points" if parent else ("skeleton" if (i in skeletons or name in has_kids) else "any")}
            if i in skeletons:
                kp, edges = skeletons[i]
                row["svg"] = svg_from_edges(kp, edges)
                row["extra"] = {"keypoints": kp, "skeleton": edges}
            rows[key] = row

    def label(self, label_id, ann_id) -> str:
        if label_id is None:
            return ""
        if type(label_id) is not int or not 0 <= label_id < len(self.names):
            raise FormatError(self.where, f"annotation id {ann_id!r}: label_id {label_id!r} is not an index into "
                              f"categories.label.labels ({len(self.names)} labels)", element="annotations")
        return self.names[label_id]


class _Rows:
    """Column lists for the annotation rows of every file."""

    COLS = ("item_row", "frame", "label", "type", "region_id", "group", "z_order", "x", "y", "w", "h", "rotation",
            "points", "mask", "text", "occluded", "outside", "keyframe", "track_id", "attributes", "extra", "parent")

    def __init__(self):
        self.c = {k: [] for k in self.COLS}

    def add(self, item_row, frame, label, kind, ann, *, x=np.nan, y=np.nan, w=np.nan, h=np.nan, points=None,
            mask=None, text=pd.NA, parent=-1, visibility=None) -> int:
        c = self.c
        attrs = ann.get("attributes")
        occluded = outside = keyframe = False
        rotation, track = 0.0, None
        user = None
        if isinstance(attrs, dict) and attrs:
            user = {k: v for k, v in attrs.items() if k not in SPECIAL}
            occluded = bool(attrs.get("occluded", False))
            outside = bool(attrs.get("outside", False))
            keyframe = bool(attrs.get("keyframe", False))
            r = attrs.get("rotation")
            if r is not None:
                try:
                    rotation = float(r)
                except (TypeError, ValueError):
                    user["rotation"] = r
            t = attrs.get("track_id")
            if type(t) is int:
                track = t
            elif t is not None:
                user["track_id"] = t
        if visibility is not None:
            outside = outside or visibility == 0
            occluded = occluded or visibility == 1
        grp = ann.get("group")
        rest = {k: v for k, v in ann.items() if k not in KNOWN}
        c["item_row"].append(item_row)
        c["frame"].append(frame)
        c["label"].append(label)
        c["type"].append(kind)
        aid = ann.get("id")
        c["region_id"].append(None if aid is None else str(aid))
        c["group"].append(grp if type(grp) is int and grp != 0 else None)
        z = ann.get("z_order")
        c["z_order"].append(z if type(z) is int else 0)
        for k, v in (("x", x), ("y", y), ("w", w), ("h", h)):
            c[k].append(v)
        c["rotation"].append(rotation)
        c["points"].append(points)
        c["mask"].append(mask)
        c["text"].append(text)
        c["occluded"].append(occluded)
        c["outside"].append(outside)
        c["keyframe"].append(keyframe)
        c["track_id"].append(track)
        c["attributes"].append(user or None)
        c["extra"].append(rest or None)
        c["parent"].append(parent)
        return len(c["type"]) - 1


def _floats(v, n: int | None, what: str, where: str, aid) -> list[float]:
    ok = isinstance(v, list) and all(type(p) in (int, float) for p in v) and (len(v) == n if n else len(v) % 2 == 0)
    if not ok:
        want = f"{n} numbers" if n else "a flat list of x, y numbers"
        raise FormatError(where, f"annotation id {aid!r}: '{what}' must be {want}, got {v!r}"[:300],
                          element="annotations")
    return [float(p) for p in v]


def _annotation(rows: _Rows, labels: _Labels, item_row: int, frame, ann, where: str, loss: list) -> None:
    if type(ann) is not dict or "type" not in ann:
        raise FormatError(where, f"annotation {str(ann)[:80]} is not an object with a 'type'", element="annotations")
    kind, aid = ann["type"], ann.get("id")
    label = labels.label(ann.get("label_id"), aid)
    if kind == "label":
        rows.add(item_row, frame, label, "tag", ann)
    elif kind == "bbox":
        x, y, w, h = _floats(ann.get("bbox"), 4, "bbox", where, aid)
        rows.add(item_row, frame, label, "bbox", ann, x=x, y=y, w=w, h=h)
    elif kind in ("polygon", "polyline", "points"):
        pts = _floats(ann.get("points"), None, "points", where, aid)
        x, y, w, h = (v[0] for v in geometry.points_bbox([pts]))
        rows.add(item_row, frame, label, kind, ann, x=x, y=y, w=w, h=h, points=pts)
    elif kind == "ellipse":
        x1, y1, x2, y2 = _floats(ann.get("points"), 4, "points", where, aid)
        rows.add(item_row, frame, label, "ellipse", ann, x=x1, y=y1, w=x2 - x1, h=y2 - y1)
    elif kind == "mask":
        try:
            rle = coco_rle.normalize_rle(ann.get("rle"))
        except coco_rle.RLEError as exc:
            raise FormatError(where, f"annotation id {aid!r}: {exc}", element="rle") from None
        x, y, w, h = coco_rle.bboxes([rle])[0]
        rows.add(item_row, frame, label, "mask", ann, x=x, y=y, w=w, h=h, mask=rle)
    elif kind == "skeleton":
        elements = ann.get("elements") or []
        parent = rows.add(item_row, frame, label, "skeleton", ann)
        xs, ys = [], []
        for el in elements:
            if type(el) is not dict:
                raise FormatError(where, f"skeleton id {aid!r}: element {str(el)[:60]} is not an object",
                                  element="elements")
            pts = _floats(el.get("points"), 2, "points", where, el.get("id"))
            vis = el.get("visibility")
            v = vis[0] if isinstance(vis, list) and vis and type(vis[0]) is int else 2
            rows.add(item_row, frame, labels.label(el.get("label_id"), el.get("id")), "points", el, x=pts[0],
                     y=pts[1], w=0.0, h=0.0, points=pts, parent=parent, visibility=v)
            if v != 0:
                xs.append(pts[0])
                ys.append(pts[1])
        if xs:
            c = rows.c
            c["x"][parent], c["y"][parent] = min(xs), min(ys)
            c["w"][parent], c["h"][parent] = max(xs) - min(xs), max(ys) - min(ys)
    elif kind == "caption":
        rows.add(item_row, frame, label, "text", ann, text=str(ann.get("caption", "")))
    elif kind == "cuboid_2d":
        pts = ann.get("points")
        flat = [p for xy in pts for p in xy] if isinstance(pts, list) and all(isinstance(p, list) for p in pts) else pts
        flat = _floats(flat, 16, "points", where, aid)
        x, y, w, h = (v[0] for v in geometry.points_bbox([flat]))
        rows.add(item_row, frame, label, "cuboid", ann, x=x, y=y, w=w, h=h, points=flat)
    else:
        loss.append((kind, aid))


def _media(source: Source, rel: str, subset: str, path: str, index: set) -> str:
    d = posixpath.dirname(posixpath.dirname(rel)) if source.kind != "file" else ""
    pre = d + "/" if d else ""
    if source.kind != "file":
        for cand in (f"{pre}images/{subset}/{path}", f"{pre}images/{path}"):
            if cand in index:
                return source.url_of(cand)
    return path


def read(source: Source, **options) -> Dataset:
    files = find_files(source)
    if not files:
        raise FormatError(source.url, "no Datumaro annotation files found (expected annotations/<subset>.json); "
                          f"files: {', '.join(source.files[:8])}")
    index = source._index() if source.kind != "file" else set()
    label_rows: dict[tuple[str, str], dict] = {}
    items = {k: [] for k in ("name", "subset", "frame", "media", "width", "height", "extra")}
    rows = _Rows()
    loss = LossReport(NAME)
    info = {}
    for rel, subset in files:
        where = source.display(rel)
        doc = _load(source, rel)
        if not info:
            for key in ("info", "infos"):
                if isinstance(doc.get(key), dict) and doc[key]:
                    info["datumaro_info"] = doc[key]
        cats = doc.get("categories") or {}
        groups = (cats.get("label") or {}).get("label_groups")
        if groups and "datumaro_label_groups" not in info:
            info["datumaro_label_groups"] = groups
        labels = _Labels(cats, where, label_rows)
        skipped: list = []
        for it in doc["items"]:
            if type(it) is not dict or "id" not in it:
                raise FormatError(where, f"item {str(it)[:80]} is not an object with an 'id'", element="items")
            iid = str(it["id"])
            image = it.get("image") if isinstance(it.get("image"), dict) else None
            media = image or (it.get("media") if isinstance(it.get("media"), dict) else None) or {}
            path = media.get("path")
            size = image.get("size") if image else None
            h, w = (size if isinstance(size, list) and len(size) == 2 else (None, None))
            attr = it.get("attr") if isinstance(it.get("attr"), dict) else {}
            frame = attr.get("frame") if type(attr.get("frame")) is int else None
            extra = {}
            name = str(path) if path else iid
            if posixpath.splitext(name)[0] != iid or not path:  # the writer derives the id from the name
                extra["id"] = iid
            rest = {k: v for k, v in attr.items() if k != "frame"}
            if rest:
                extra["attr"] = rest
            for k, v in it.items():
                if k not in ("id", "annotations", "image", "media", "attr"):
                    extra[k] = v
            item_row = len(items["name"])
            items["name"].append(name)
            items["subset"].append(subset)
            items["frame"].append(frame)
            items["media"].append(_media(source, rel, subset, str(path), index) if path else None)
            items["width"].append(w)
            items["height"].append(h)
            items["extra"].append(extra or None)
            anns = it.get("annotations") or []
            if not isinstance(anns, list):
                raise FormatError(where, f"item {iid!r}: 'annotations' must be a list", element="items")
            for ann in anns:
                _annotation(rows, labels, item_row, frame, ann, where, skipped)
        for kind in dict.fromkeys(k for k, _ in skipped):
            loss.add("annotations", [a for k, a in skipped if k == kind],
                     f"{where}: Datumaro annotation type {kind!r} is not supported; skipped")
    return _dataset(items, rows, label_rows, info, loss, source)


def _dataset(items: dict, rows: _Rows, label_rows: dict, info: dict, loss: LossReport, source: Source) -> Dataset:
    n_items = len(items["name"])
    item_df = pd.DataFrame({
        "item_id": np.arange(n_items), "name": items["name"], "subset": items["subset"],
        "frame": pd.array(items["frame"], dtype="Int64"), "media": pd.array(items["media"], dtype="str"),
        "width": pd.array(items["width"], dtype="Int64"), "height": pd.array(items["height"], dtype="Int64"),
        "extra": pd.Series(items["extra"], dtype=object)})
    c = rows.c
    n = len(c["type"])
    parent = np.asarray(c["parent"], dtype=np.int64)
    ann = pd.DataFrame({
        "ann_id": np.arange(n), "item_id": np.asarray(c["item_row"], dtype=np.int64),
        "frame": pd.array(c["frame"], dtype="Int64"), "region_id": pd.array(c["region_id"], dtype="str"),
        "track_id": pd.array(c["track_id"], dtype="Int64"), "group": pd.array(c["group"], dtype="Int64"),
        "parent_id": pd.array(np.where(parent >= 0, parent, 0), dtype="Int64"),
        "label": c["label"], "type": c["type"],
        **{k: np.asarray(c[k], dtype=np.float64) for k in ("x", "y", "w", "h", "rotation")},
        "points": pd.Series(c["points"], dtype=object), "mask": pd.Series(c["mask"], dtype=object),
        "z_order": np.asarray(c["z_order"], dtype=np.int64),
        "occluded": np.asarray(c["occluded"], dtype=bool), "outside": np.asarray(c["outside"], dtype=bool),
        "keyframe": np.asarray(c["keyframe"], dtype=bool), "text": pd.array(c["text"], dtype="str"),
        "attributes": pd.Series(c["attributes"], dtype=object), "extra": pd.Series(c["extra"], dtype=object)})
    if n:
        ann.loc[parent < 0, "parent_id"] = pd.NA
    labels = pd.DataFrame(list(label_rows.values())) if label_rows else None
    media_root = source.folder if source.kind == "file" else None
    return Dataset(items=item_df, annotations=ann, labels=labels, info={"format": NAME, **info},
                   media_root=media_root, loss=loss)


def _write(ds, sink, ctx):
    from .datumaro_write import write

    write(ds, sink, ctx)


register(FormatSpec(
    name=NAME, aliases=("datumaro", "datumaro_1.0"), read=read, write=_write, detect=detect, shapes=SHAPES,
    family="cvat",
    description="Datumaro JSON: annotations/<subset>.json (+ images/<subset>/); tags, boxes (rotation as an "
                "attribute), polygons, polylines, points, ellipses, RLE masks, skeletons; tracks as per-frame shapes "
                "with track_id/keyframe attributes"))
