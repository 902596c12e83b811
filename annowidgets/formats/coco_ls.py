"""Label Studio's "COCO" / "COCO_WITH_IMAGES" (``result.json`` + ``images/``) and "BRUSH_TO_COCO" (read).

Same COCO JSON as CVAT's but at the archive root, categories numbered from 0, an ``info``
block and ``ignore: 0`` on each annotation. Where Label Studio's converter is wrong we are
not: one image per item (LS lists an image once per annotation set), every annotation set
written (``annotator`` on each annotation), rotated boxes enclosed in pixel space (LS does
it in percent space), and ``file_name`` is ``images/<name>`` when images are saved (LS keeps
the server path, label-studio#7294).
"""
from __future__ import annotations

import posixpath

import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ._media import copy_media, unique_file_names
from .coco import SHAPES, looks_like_coco, read_files
from .coco_read import CocoFile
from .coco_write import LS, WRITABLE, build_doc, categories, dumps, keypoint_categories
from .registry import FormatSpec, WriteContext, register


def _find(source: Source, name: str) -> list[tuple[str, str, str]]:
    if source.kind == "file":
        return [(source.name, "instances", "default")]
    hits = [f for f in source.files if posixpath.basename(f).lower() == name]
    hits.sort(key=lambda f: f.count("/"))  # the shallowest one: LS puts it at the root
    if not hits:
        raise FormatError(source.url, f"no {name} in this input (Label Studio's COCO export has {name} at its root)")
    return [(hits[0], "instances", "default")]


def _media(source: Source):
    def media_for(f: CocoFile, fn: str) -> str:
        if source.kind == "file" or "://" in fn or fn.startswith("/"):
            return fn
        d = posixpath.dirname(f.rel)
        for cand in (posixpath.join(d, fn) if d else fn, posixpath.join(d, "images", posixpath.basename(fn))):
            if source.exists(cand):
                return source.url_of(cand)
        return fn
    return media_for


def read(source: Source, merge_images: bool = True, **options) -> Dataset:
    """Read LS ``result.json``; ``merge_images`` undoes LS's one-image-per-annotation listing."""
    ds = read_files(source, _find(source, "result.json"), "COCO", media_for=_media(source))
    return merge_duplicate_images(ds) if merge_images else ds


def merge_duplicate_images(ds: Dataset) -> Dataset:
    """One item per image file again: LS's converter lists an image once per annotation set.

    Images with the same ``file_name`` become one item; each original COCO image becomes an
    annotation set (``set_id`` = its image id) so the annotations of each set stay apart.
    """
    items = ds.items
    dup = items.duplicated("name", keep=False)
    if not dup.any():
        return ds
    first = items.groupby("name", sort=False)["item_id"].transform("first")
    to_first = dict(zip(items["item_id"], first, strict=True))
    a = ds.annotations.copy()
    a["set_id"] = a["item_id"].astype("Int64")
    a["item_id"] = a["item_id"].map(to_first).astype("Int64")
    sets = pd.DataFrame({"set_id": items["item_id"], "item_id": first, "source": "annotation"})
    used = a.drop_duplicates("set_id").set_index("set_id")
    src = sets["set_id"].map(used["source"]) if len(used) else None
    if src is not None:
        sets["source"] = src.fillna("annotation")
    return Dataset(items=items[~items["item_id"].duplicated() & (items["item_id"] == first)], annotations=a,
                   labels=ds.labels, sets=sets, info=ds.info, media_root=ds.media_root, loss=ds.loss)


def read_brush(source: Source, **options) -> Dataset:
    """LS BRUSH_TO_COCO ``result_coco.json``: 1-based categories, ``path`` = the task's media URL."""
    ds = read_files(source, _find(source, "result_coco.json"), "BRUSH_TO_COCO", media_for=_media(source))
    paths = ds.items["extra"].map(lambda e: e.get("path") if isinstance(e, dict) else None)
    found = ds.items["media"].str.contains("://", regex=False).fillna(False)
    ds.items["media"] = ds.items["media"].where(found | paths.isna(), paths)
    return ds


def _file_names(items: pd.DataFrame, save_images: bool) -> list[str]:
    """``images/<base name>`` (unique) when images are saved, else the media as LS would name it."""
    src = [m if isinstance(m, str) and m else (n if isinstance(n, str) and n else str(i))
           for i, n, m in zip(items["item_id"], items["name"], items["media"], strict=False)]
    if not save_images:
        return src
    # LS overwrites same-named images; we keep both (``<stem>__<item_id><ext>``), flat as LS lays them out
    names, _ = unique_file_names(pd.DataFrame({"item_id": items["item_id"].tolist(), "media": src}),
                                 given=[None] * len(src), flat=True, fallback="{}")
    return [f"images/{n}" for n in names]


def write(ds: Dataset, sink: Sink, ctx: WriteContext, save_images: bool | None = None) -> None:
    save = ctx.save_images if save_images is None else save_images
    items, a = ds.items, ds.annotations
    used = a.loc[a["type"].isin(WRITABLE | {"skeleton"}) & a["parent_id"].isna(), "label"].drop_duplicates()
    cats, cat_ids = categories(ds, LS, used)
    keypoint_categories(ds, cats, a)
    names = _file_names(items, save)
    orphan = ~a["item_id"].isin(items["item_id"])
    ctx.report.add("annotations", a.loc[orphan, "ann_id"], "annotation on an item that does not exist")
    doc = build_doc(ds, items, a[~orphan], LS, ctx.report, ctx.options, names, list(range(len(items))), cats,
                    cat_ids)
    sink.write_bytes("result.json", dumps(doc))
    ctx.step(0.5, "result.json")
    sink.add_dir("images")  # Label Studio always ships the folder, empty without images
    if save:
        copy_media(ds, sink, zip(items["item_id"], items["media"], names, strict=False), ctx.report)


def write_with_images(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    write(ds, sink, ctx, save_images=True)


def _root_file(source: Source, name: str) -> bool:
    if source.kind == "file":
        return source.name.lower() == name
    return any(posixpath.basename(f).lower() == name and f.count("/") <= 1 for f in source.files)


def _head(source: Source, name: str) -> bytes:
    rel = None if source.kind == "file" else min(
        (f for f in source.files if posixpath.basename(f).lower() == name), key=lambda f: f.count("/"))
    try:
        with source.open(rel) as f:
            return f.read(65536)
    except OSError:
        return b""


def detect(source: Source) -> float:
    if not _root_file(source, "result.json"):
        return 0.0
    head = _head(source, "result.json")
    if not looks_like_coco(head):
        return 0.0
    return 0.95 if b"Label Studio" in head or b'"ignore"' in head else 0.85


def detect_brush(source: Source) -> float:
    if not _root_file(source, "result_coco.json"):
        return 0.0
    return 0.9 if looks_like_coco(_head(source, "result_coco.json")) else 0.0


register(FormatSpec(
    name="COCO", aliases=("label studio coco", "ls_coco"), read=read, write=write, detect=detect, shapes=SHAPES
    + ("skeleton",), family="label_studio",
    description="Label Studio's COCO: result.json at the root (+ images/ with COCO_WITH_IMAGES); categories from 0"))
register(FormatSpec(
    name="COCO_WITH_IMAGES", aliases=("coco with images",), read=read, write=write_with_images, detect=None,
    shapes=SHAPES + ("skeleton",), family="label_studio",
    description="Label Studio's COCO with the images copied into images/ (file_name images/<name>)"))
register(FormatSpec(
    name="BRUSH_TO_COCO", aliases=("brush to coco",), read=read_brush, write=None, detect=detect_brush,
    shapes=("polygon", "bbox"), family="label_studio",
    description="Label Studio's brush -> COCO (result_coco.json); import only"))
