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
  ``cuboid_2d`` (8 corners) -> ``cuboid``; ``cuboid_3d`` ``position``/``rotation``/``scale`` -> one
  9-number ``points`` (x/y/w/h NaN).
- An item with ``point_cloud`` ``{path}`` is a ``point_cloud`` item, its ``related_images`` go to
  ``extra["related_images"]`` (see :mod:`.datumaro_pcd` for where the files are looked for).
  Datumaro has one format for images and point clouds, so both of our names read both; they differ
  in writing (CVAT keeps "Datumaro 1.0" for image tasks and "Datumaro 3D 1.0" for point-cloud
  tasks) and in what a media-less item is (an image, or a cloud of an annotations-only 3D export).
- CVAT's attributes ``occluded``, ``rotation``, ``track_id``, ``keyframe``, ``outside`` -> their
  columns; the others stay in ``attributes``. Tracks are one row per visible frame, as CVAT writes
  them (its importer rebuilds the outside frames; we keep the rows as they are).
The writer is :mod:`.datumaro_write`.
"""
from __future__ import annotations

import posixpath
import re

import numpy as np
import orjson
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from ..core.io import Source
from ..core.loss import LossReport
from ..core.parsing import json_error
from . import datumaro_pcd, datumaro_read
from .coco_skeleton import svg_from_edges
from .registry import FormatSpec, register

NAME = "Datumaro 1.0"
SHAPES = ("tag", "bbox", "polygon", "polyline", "points", "ellipse", "mask", "skeleton", "text")


# -- finding and sniffing the files ------------------------------------------------------------
def _head(source: Source, rel: str | None, n: int = 65536) -> bytes:
    try:
        with source.open(rel) as f:
            return f.read(n)
    except OSError:
        return b""


_COCO_KEY = re.compile(rb'"(images|annotations)"\s*:')
_ITEMS_KEY = re.compile(rb'"items"\s*:\s*\[')


def looks_like_datumaro(head: bytes) -> bool:
    """A JSON object with Datumaro's ``categories`` and ``items`` (or upstream's version key), and
    without COCO's ``images``/``annotations`` lists (an item's ``annotations`` sits inside ``items``)."""
    h = head.lstrip()
    if h[:1] != b"{" or b'"categories"' not in h:
        return False
    m = _ITEMS_KEY.search(h)
    if m is None and b'"dm_format_version"' not in h:
        return False
    return _COCO_KEY.search(h, 0, m.start() if m else len(h)) is None


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


def _is_datumaro(source: Source, rel: str | None) -> bool:
    head = _head(source, rel)
    if looks_like_datumaro(head):
        return True
    # a long label list can push "items" past the first 64 KiB: look further, once, when the
    # head is a Datumaro-like object with categories and nothing of COCO's
    h = head.lstrip()
    if len(head) == 65536 and h[:1] == b"{" and b'"categories"' in h and not _COCO_KEY.search(h):
        return looks_like_datumaro(_head(source, rel, 8 << 20))
    return False


_3D_KEYS = re.compile(rb'"point_cloud"\s*:\s*\{|"type"\s*:\s*"cuboid_3d"|"media_type"\s*:\s*6\b')


def is_3d(source: Source, files: list[tuple[str, str]]) -> bool:
    """A point-cloud export: a cloud entry, a 3D cuboid or upstream's point-cloud media type near the
    top of a file, or Datumaro's ``point_clouds/`` / ``related_images/`` folder beside ``annotations/``."""
    if source.kind != "file":
        roots = {_root(source, rel) for rel, _ in files}
        if any(f.startswith((f"{r}point_clouds/", f"{r}related_images/")) for r in roots for f in source.files):
            return True
    return any(_3D_KEYS.search(_head(source, rel if source.kind != "file" else None)) for rel, _ in files[:3])


def detect_kind(source: Source) -> tuple[float, bool]:
    """How sure it is Datumaro JSON, and whether it holds point clouds."""
    if source.kind == "file":
        if not source.name.lower().endswith(".json") or not _is_datumaro(source, None):
            return 0.0, False
        return 0.6, is_3d(source, [(source.name, "")])
    files = find_files(source)
    if files and all(_is_datumaro(source, rel) for rel, _ in files[:3]):
        return 0.9, is_3d(source, files)
    return 0.0, False


def detect(source: Source) -> float:
    score, three_d = detect_kind(source)
    return 0.0 if three_d else score


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


def _media(source: Source, rel: str, subset: str, path: str, index: set) -> str:
    pre = _root(source, rel)
    if source.kind != "file":
        for cand in (f"{pre}images/{subset}/{path}", f"{pre}images/{path}"):
            if cand in index:
                return source.url_of(cand)
    return path


def read(source: Source, **options) -> Dataset:
    return read_as(source, NAME)


def read_as(source: Source, fmt: str) -> Dataset:
    """Read Datumaro JSON as ``fmt``: "Datumaro 1.0" or "Datumaro 3D 1.0" (items without media are
    point clouds in the latter)."""
    bare_kind = "point_cloud" if fmt != NAME else "image"
    files = find_files(source)
    if not files:
        raise FormatError(source.url, "no Datumaro annotation files found (expected annotations/<subset>.json); "
                          f"files: {', '.join(source.files[:8])}")
    index = source._index() if source.kind != "file" else set()
    label_rows: dict[tuple[str, str], dict] = {}
    items = {k: [] for k in ("name", "subset", "frame", "media", "width", "height", "kind", "extra")}
    parts: list[pd.DataFrame] = []
    loss = LossReport(fmt)
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
        anns: list = []
        ann_items: list = []
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
            kind = "image" if image else bare_kind
            if "point_cloud" in it:
                if image:
                    raise FormatError(where, f"item {iid!r} has both 'image' and 'point_cloud'", element="items")
                path, cloud, related = datumaro_pcd.read_item(it, iid, subset, _root(source, rel), source, index,
                                                              where)
                kind = "point_cloud"
                if related is not None:
                    extra["related_images"] = related
            name = str(path) if path else iid
            if posixpath.splitext(name)[0] != iid or not path:  # the writer derives the id from the name
                extra["id"] = iid
            rest = {k: v for k, v in attr.items() if k != "frame"}
            if rest:
                extra["attr"] = rest
            for k, v in it.items():
                if k not in ("id", "annotations", "image", "media", "attr") and not (
                        k in ("point_cloud", "related_images") and "point_cloud" in it):
                    extra[k] = v
            item_row = len(items["name"])
            items["name"].append(name)
            items["subset"].append(subset)
            items["frame"].append(frame)
            items["media"].append(cloud if kind == "point_cloud" and "point_cloud" in it else
                                  _media(source, rel, subset, str(path), index) if path else None)
            items["width"].append(w)
            items["height"].append(h)
            items["kind"].append(kind)
            items["extra"].append(extra or None)
            mine = it.get("annotations") or []
            if not isinstance(mine, list):
                raise FormatError(where, f"item {iid!r}: 'annotations' must be a list", element="items")
            anns += mine
            ann_items += [item_row] * len(mine)
        df = datumaro_read.rows(anns, np.asarray(ann_items, dtype=np.int64), labels.names, where, skipped)
        top = (df["_parent"] < 0).to_numpy()
        local = pd.Series(np.flatnonzero(top), index=df.loc[top, "_pos"].to_numpy())
        base = sum(len(p) for p in parts)
        parent = np.full(len(df), -1, dtype=np.int64)
        parent[~top] = local.loc[df.loc[~top, "_parent"].to_numpy()].to_numpy() + base
        df["parent_id"] = pd.array(np.where(parent >= 0, parent, 0), dtype="Int64")
        df.loc[parent < 0, "parent_id"] = pd.NA
        parts.append(df.drop(columns=["_pos", "_parent"]))
        for kind in dict.fromkeys(k for k, _ in skipped):
            loss.add("annotations", [a for k, a in skipped if k == kind],
                     f"{where}: Datumaro annotation type {kind!r} is not supported; skipped")
    return _dataset(items, parts, label_rows, {"format": fmt, **info}, loss, source)


def _root(source: Source, rel: str) -> str:
    """The folder holding ``annotations/``, as a prefix ("" or "<folder>/")."""
    d = posixpath.dirname(posixpath.dirname(rel)) if source.kind != "file" else ""
    return d + "/" if d else ""


def _dataset(items: dict, parts: list[pd.DataFrame], label_rows: dict, info: dict, loss: LossReport, source: Source) -> Dataset:
    n_items = len(items["name"])
    item_df = pd.DataFrame({
        "item_id": np.arange(n_items), "name": items["name"], "subset": items["subset"],
        "frame": pd.array(items["frame"], dtype="Int64"), "media": pd.array(items["media"], dtype="str"),
        "width": pd.array(items["width"], dtype="Int64"), "height": pd.array(items["height"], dtype="Int64"),
        "kind": pd.array(items["kind"], dtype="str"), "extra": pd.Series(items["extra"], dtype=object)})
    ann = pd.concat(parts, ignore_index=True) if parts else None
    if ann is not None:
        ann.insert(0, "ann_id", np.arange(len(ann)))
        ann["frame"] = item_df["frame"].to_numpy()[ann["item_id"].to_numpy()]
    labels = pd.DataFrame(list(label_rows.values())) if label_rows else None
    media_root = source.folder if source.kind == "file" else None
    return Dataset(items=item_df, annotations=ann, labels=labels, info=info,
                   media_root=media_root, loss=loss)


def _write(ds, sink, ctx):
    from .datumaro_write import write

    write(ds, sink, ctx)


register(FormatSpec(
    name=NAME, aliases=("datumaro", "datumaro_1.0"), read=read, write=_write, detect=detect, shapes=SHAPES,
    family="cvat",
    description="Datumaro JSON: annotations/<subset>.json (+ images/<subset>/); tags, boxes (rotation as an "
                "attribute), polygons, polylines, points, ellipses, RLE masks, skeletons, captions; tracks as per-frame "
                "shapes with track_id/keyframe attributes"))
