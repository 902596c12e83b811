"""CVAT's "COCO 1.0" and "COCO Keypoints 1.0": ``annotations/<task>_<subset>.json`` (+ ``images/<subset>/``).

Reading accepts every COCO layout Datumaro knows: CVAT's (``annotations/instances_<subset>.json``
with ``images/<subset>/``), mmdetection's (``<subset>/`` beside ``annotations/``), Roboflow's
(``<subset>/_annotations.coco.json``), a lone JSON file, and the task files besides instances
(``person_keypoints_``, ``labels_``, ``captions_``, ``image_info_``, ``stuff_``). Panoptic files
are not read: alone they raise a FormatError, next to other task files they are skipped and
the skip is recorded in ``dataset.loss``. Writing makes one JSON per subset.
"""
from __future__ import annotations

import posixpath
import re

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ._media import copy_media
from .coco_read import TASKS, CocoFile, build, load_json
from .coco_write import (
    CVAT,
    KEYPOINTS,
    WRITABLE,
    Flavour,
    build_doc,
    categories,
    dumps,
    file_names_cvat,
    keypoint_categories,
)
from .registry import FormatSpec, WriteContext, register

TASK_FILE = re.compile(r"^({})_(.+)\.json$".format("|".join(TASKS)), re.I)
ROBOFLOW = "_annotations.coco.json"
SHAPES = ("bbox", "polygon", "mask", "ellipse")


def _sniff(source: Source, rel: str | None, n: int = 65536) -> bytes:
    try:
        with source.open(rel) as f:
            return f.read(n)
    except OSError:
        return b""


def looks_like_coco(head: bytes) -> bool:
    """Cheap content check: a JSON object naming COCO's ``images`` and ``annotations``/``categories``."""
    h = head.lstrip()
    return h[:1] == b"{" and b'"images"' in h and (b'"annotations"' in h or b'"categories"' in h)


def find_files(source: Source) -> list[tuple[str, str, str]]:
    """``(rel, task, subset)`` of the COCO JSON files of ``source``, in a stable order."""
    if source.kind == "file":
        m = TASK_FILE.match(source.name)
        if m:
            return [(source.name, m.group(1).lower(), m.group(2))]
        return [(source.name, "instances", "default")]
    out = []
    for rel in source.glob("*.json"):
        base = posixpath.basename(rel)
        parent = posixpath.basename(posixpath.dirname(rel))
        m = TASK_FILE.match(base)
        if m and (parent.lower() == "annotations" or "/" not in rel):
            out.append((rel, m.group(1).lower(), m.group(2)))
        elif base.lower() == ROBOFLOW:
            out.append((rel, "instances", parent or "default"))
    if not out:  # any COCO-looking JSON (a single instances file under another name)
        for rel in source.glob("*.json"):
            if looks_like_coco(_sniff(source, rel)):
                out.append((rel, "instances", "default"))
    return out


def media_resolver(source: Source):
    """Find an image named in a COCO file among the input's files, in the layouts we know."""
    index = source._index()
    dirs_of: dict[str, list[str]] = {}
    local_root = None
    if source.kind == "folder" and source.url_of("x") == posixpath.join(source.root, "x"):
        local_root = source.root.rstrip("/") + "/"

    def media_for(f: CocoFile, fn: str) -> str:
        if source.kind == "file" or "://" in fn or fn.startswith("/"):
            return fn
        dirs = dirs_of.get(f.rel)
        if dirs is None:  # the folders an image of this file may be in, most specific first
            d = posixpath.dirname(f.rel)
            prefix = posixpath.dirname(d) if posixpath.basename(d).lower() == "annotations" else d
            pre = prefix + "/" if prefix else ""
            dirs = dirs_of[f.rel] = list(dict.fromkeys([f"{pre}images/{f.subset}/", f"{pre}{f.subset}/",
                                                        f"{pre}images/", f"{d}/" if d else "", pre]))
        for dd in dirs:
            cand = dd + fn
            if cand in index:
                return local_root + cand if local_root else source.url_of(cand)
        return fn
    return media_for


def read_files(source: Source, files: list[tuple[str, str, str]], fmt: str, media_for=None,
               tasks: tuple[str, ...] | None = None) -> Dataset:
    if tasks:
        files = [f for f in files if f[1] in tasks]
    if not files:
        raise FormatError(source.url, f"no COCO annotation files found (expected annotations/<task>_<subset>.json, "
                          f"result.json or _annotations.coco.json); files: {', '.join(source.files[:8])}")
    panoptic = [f for f in files if f[1] == "panoptic"]
    others = [f for f in files if f[1] != "panoptic"]
    parsed = [CocoFile(rel, source.display(rel), subset, task, load_json(source, rel))
              for rel, task, subset in (others or panoptic)]
    media_root = source.folder if source.kind == "file" else None
    ds = build(parsed, media_for or media_resolver(source), media_root, {"format": fmt})
    if panoptic and others:
        ds.loss.add("files", [rel for rel, _, _ in panoptic], "COCO panoptic annotations are not supported; skipped")
    return ds


def read(source: Source, tasks: tuple[str, ...] | None = None, **options) -> Dataset:
    """Read any COCO task files of ``source`` (all of them unless ``tasks`` names some)."""
    return read_files(source, find_files(source), "COCO 1.0", tasks=tasks)


def read_keypoints(source: Source, **options) -> Dataset:
    files = find_files(source)
    kp = [f for f in files if f[1] == "person_keypoints"]
    return read_files(source, kp or files, "COCO Keypoints 1.0")


def write_subsets(ds: Dataset, sink: Sink, ctx: WriteContext, fl: Flavour, prefix: str) -> None:
    """One ``annotations/<prefix>_<subset>.json`` per subset, plus ``images/<subset>/`` on request."""
    items, a = ds.items, ds.annotations
    kinds = {"skeleton"} if fl.only_keypoints else WRITABLE | {"skeleton"}
    used = a.loc[a["type"].isin(kinds) & a["parent_id"].isna(), "label"].drop_duplicates()
    cats, cat_ids = categories(ds, fl, used)
    if fl.keypoints:
        keypoint_categories(ds, cats, a)
    sub_col = items["subset"].fillna("default")
    names, renamed = file_names_cvat(items, sub_col, rename_given=ctx.save_images)
    ctx.report.add("items", renamed, "file name collides with another item's in its subset; written as "
                                     "<name>__<item_id> so that each image is saved")
    image_ids = list(range(fl.first_id, fl.first_id + len(items)))
    subsets = list(dict.fromkeys(sub_col.tolist())) or ["default"]
    item_subset = dict(zip(items["item_id"], sub_col, strict=False))
    orphan = ~a["item_id"].isin(items["item_id"])
    ctx.report.add("annotations", a.loc[orphan, "ann_id"], "annotation on an item that does not exist")
    a_sub = a["item_id"].map(item_subset)
    for k, subset in enumerate(subsets):
        m = (sub_col == subset).to_numpy()
        sel_items = items[m]
        doc = build_doc(ds, sel_items, a[(a_sub == subset).to_numpy()], fl, ctx.report, ctx.options,
                        [n for n, keep in zip(names, m, strict=False) if keep], [i for i, keep in zip(image_ids, m, strict=False) if keep],
                        cats, cat_ids)
        sink.write_bytes(f"annotations/{prefix}_{subset}.json", dumps(doc))
        ctx.step((k + 1) / (len(subsets) + 1), f"{prefix}_{subset}.json")
    sink.add_dir("images")  # Datumaro (and CVAT's importer through it) looks for this folder
    if ctx.save_images:
        copy_media(ds, sink, ((iid, media, f"images/{sub}/{fn}") for iid, media, sub, fn in
                              zip(items["item_id"], items["media"], sub_col, names, strict=False)), ctx.report)


def write(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    write_subsets(ds, sink, ctx, CVAT, "instances")


def write_keypoints(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    write_subsets(ds, sink, ctx, KEYPOINTS, "person_keypoints")


def _task_files(source: Source) -> list[str]:
    if source.kind == "file":
        m = TASK_FILE.match(source.name)
        return [m.group(1).lower()] if m else []
    out = []
    for rel in source.glob("*.json"):
        base = posixpath.basename(rel)
        m = TASK_FILE.match(base)
        if m and (posixpath.basename(posixpath.dirname(rel)).lower() == "annotations" or "/" not in rel):
            out.append(m.group(1).lower())
        elif base.lower() == ROBOFLOW:
            out.append("instances")
    return out


def detect(source: Source) -> float:
    tasks = _task_files(source)
    if tasks:
        if set(tasks) == {"person_keypoints"}:
            return 0.8
        if set(tasks) <= {"panoptic"}:
            return 0.3
        return 0.9
    if source.kind == "file" and source.name.lower().endswith(".json"):
        if source.name.lower() in ("result.json", "result_coco.json"):
            return 0.0  # Label Studio's COCO layouts (coco_ls) own these names
        return 0.5 if looks_like_coco(_sniff(source, None)) else 0.0
    return 0.0


def detect_keypoints(source: Source) -> float:
    tasks = _task_files(source)
    return 0.9 if tasks and set(tasks) == {"person_keypoints"} else 0.0


register(FormatSpec(
    name="COCO 1.0", aliases=("coco_instances", "coco instances", "coco_1.0"), read=read, write=write,
    detect=detect, shapes=SHAPES, family="cvat",
    description="COCO instances: annotations/instances_<subset>.json (+ images/<subset>/); boxes, polygons, RLE "
                "masks, ellipses as masks; reads keypoints/labels/captions/stuff files too"))
register(FormatSpec(
    name="COCO Keypoints 1.0", aliases=("coco_person_keypoints", "coco keypoints"), read=read_keypoints,
    write=write_keypoints, detect=detect_keypoints, shapes=("skeleton", "points", "bbox"), family="cvat",
    description="COCO person keypoints: annotations/person_keypoints_<subset>.json; skeletons with their boxes"))


