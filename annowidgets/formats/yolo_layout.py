"""Where YOLO files go, shared by every YOLO layout: the export plan and the import pairing.

Export: each item gets a subset, a name, a key (``item_keys``), a label file and an image
path; the label texts are grouped per file in one pass and written with the side file of
sizes (``image_info.json``) and, with ``save_images``, the media.
Import: label files and images are paired by key (path under their folder, without the
extension); the result is built into one :class:`Dataset` from whole columns.
"""
from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.media_types import IMAGE_EXTS
from ._media import copy_media
from .yolo_common import (
    IMAGE_INFO,
    image_info_bytes,
    item_keys,
    item_names,
    join_files,
    read_image_info,
    resolve_sizes,
)


# -- export -------------------------------------------------------------------------------------
@dataclass
class Plan:
    items: pd.DataFrame
    names: list[str]
    subsets: list[str]
    keys: list[str]
    label_rels: list[str]
    image_rels: list[str]


def plan(ds, label_rel: Callable[[str, str], str], image_rel: Callable[[str, str, str], str],
         default_subset: str | None = "train", per_subset: bool = True) -> Plan:
    """Paths of every item's label file and image. ``label_rel(subset, key)``,
    ``image_rel(subset, key, ext)``; subset "default" becomes ``default_subset`` if given.
    Keys are unique within a subset, or over the whole export when not ``per_subset``."""
    items = ds.items
    names = item_names(items)
    subsets = items["subset"].fillna("default").astype(str)
    if default_subset is not None:
        subsets = subsets.where(subsets != "default", default_subset)
    keys = item_keys(items, names, subsets if per_subset else None)
    exts = [posixpath.splitext(n)[1] or ".jpg" for n in names.tolist()]
    s_list, k_list = subsets.tolist(), keys.tolist()
    return Plan(items, names.tolist(), s_list, k_list,
                [label_rel(s, k) for s, k in zip(s_list, k_list, strict=False)],
                [image_rel(s, k, e) for s, k, e in zip(s_list, k_list, exts, strict=False)])


def write_labels(ds, sink, ctx, p: Plan, pos: np.ndarray, lines: list[str], W, H) -> None:
    """Write one label file per item (empty for items without lines), the side file and images."""
    keys = np.asarray(p.label_rels, dtype=object)[pos] if len(pos) else np.zeros(0, dtype=object)
    texts = join_files(keys, lines, p.label_rels)
    for i, (rel, text) in enumerate(texts.items()):
        sink.write_text(rel, text)
        if i % 2000 == 0:
            ctx.step(0.2 + 0.6 * i / max(len(texts), 1), "labels")
    if ctx.options.get("image_info", True):
        sink.write_bytes(IMAGE_INFO, image_info_bytes(p.label_rels, p.names, W, H))
    if ctx.save_images:
        copy_media(ds, sink, zip(p.items["item_id"].tolist(), p.items["media"].tolist(), p.image_rels, strict=False), ctx.report)


# -- import ---------------------------------------------------------------------------------------
def is_image(rel: str) -> bool:
    return posixpath.splitext(rel)[1].lower() in IMAGE_EXTS


def strip(rel: str, root: str) -> str:
    return rel[len(root) + 1:] if root and rel.startswith(root + "/") else rel


@dataclass
class Found:
    """Items found in an input: parallel lists."""

    label: list
    image: list
    name: list
    subset: list
    width: list
    height: list

    def __len__(self) -> int:
        return len(self.label)


def pair(source, groups: list[tuple[str, str, str, list[str]]], info: dict | None = None,
         image_names: dict | None = None) -> Found:
    """Pair label files with images per group ``(subset, label_root, image_root, label_rels)``.

    A label ``<label_root>/a/b.txt`` pairs with ``<image_root>/a/b.<image ext>``; images
    without a label file become items too. ``info`` is the side file (label rel -> name, w, h).
    """
    info = info if info is not None else read_image_info(source)
    files = source.files
    f = Found([], [], [], [], [], [])
    for subset, lroot, iroot, lrels in groups:
        images = {}
        prefix = iroot + "/" if iroot else ""
        for r in files:
            if r.startswith(prefix) and is_image(r):
                images.setdefault(posixpath.splitext(r[len(prefix):])[0], r)
        seen = set()
        for lrel in lrels:
            key = posixpath.splitext(strip(lrel, lroot))[0]
            img = images.get(key)
            seen.add(key)
            nm, w, h = info.get(lrel, (None, None, None))
            if nm is None:
                nm = strip(img, iroot) if img else key
            f.label.append(lrel)
            f.image.append(img)
            f.name.append(nm)
            f.subset.append(subset)
            f.width.append(w)
            f.height.append(h)
        for key, img in images.items():
            if key in seen:
                continue
            lrel = (lroot + "/" if lroot else "") + key + ".txt"
            nm, w, h = info.get(lrel, (strip(img, iroot), None, None))
            f.label.append(None)
            f.image.append(img)
            f.name.append(nm)
            f.subset.append(subset)
            f.width.append(w)
            f.height.append(h)
    return f


def sizes(source, found: Found, used_items: np.ndarray, options: dict) -> tuple[np.ndarray, np.ndarray]:
    d = {"label": [lbl or img for lbl, img in zip(found.label, found.image, strict=False)], "image": found.image,
         "name": found.name, "width": found.width, "height": found.height}
    return resolve_sizes(source, d, used_items, options)


def build(source, found: Found, W: np.ndarray, H: np.ndarray, parts: list[dict], classes: list[str],
          label_types: dict[str, str] | None = None, labels: pd.DataFrame | None = None,
          info: dict | None = None) -> Dataset:
    """A Dataset from found items and annotation column dicts (each with an ``item`` position)."""
    n = len(found)
    media = [source.url_of(i) if i else None for i in found.image]
    items = pd.DataFrame({
        "item_id": np.arange(n, dtype=np.int64), "name": found.name, "subset": found.subset,
        "media": media, "width": np.where(np.isnan(W), np.nan, W), "height": np.where(np.isnan(H), np.nan, H),
        "frame": np.arange(n, dtype=np.int64),
    })
    items["width"] = items["width"].astype("Float64").round().astype("Int64")
    items["height"] = items["height"].astype("Float64").round().astype("Int64")
    frames = [pd.DataFrame(p) for p in parts if len(p.get("item", ()))]
    if frames:
        ann = pd.concat(frames, ignore_index=True)
        ann["item_id"] = ann.pop("item").astype(np.int64)
        ann.insert(0, "ann_id", np.arange(len(ann), dtype=np.int64))
        if "parent_ref" in ann:  # pose children name their skeleton by its ``ref`` (e.g. line index)
            ref = ann.pop("ref").to_numpy(dtype=float, na_value=np.nan)
            pref = ann.pop("parent_ref").to_numpy(dtype=float, na_value=np.nan)
            has = ~np.isnan(ref)
            lut = pd.Series(ann["ann_id"].to_numpy()[has], index=ref[has])
            pid = lut.reindex(pref).to_numpy(dtype=float)
            ann["parent_id"] = pd.array([pd.NA if v != v else int(v) for v in pid.tolist()], dtype="Int64")
        elif "ref" in ann:
            ann.pop("ref")
    else:
        ann = None
    if labels is None:
        labels = pd.DataFrame({"name": classes, "type": [(label_types or {}).get(c, "any") for c in classes]})
    ds = Dataset(items=items, annotations=ann, labels=labels, info=dict(info or {}))
    ds.media_root = source.url_of("") if source.kind != "file" else source.folder
    return ds


def line_items(lines, found: Found) -> np.ndarray:
    """Item position (in ``found``) of every parsed line."""
    pos = {rel: i for i, rel in enumerate(found.label) if rel is not None}
    per_file = np.array([pos[r] for r in lines.rels], dtype=np.int64)
    return per_file[lines.file] if len(lines) else np.zeros(0, dtype=np.int64)
