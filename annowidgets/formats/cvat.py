"""CVAT XML 1.1: "CVAT for images 1.1" and "CVAT for video 1.1" (one reader, two writers).

The reader (:mod:`.cvat_read`) takes a bare ``.xml``, a folder or a zip holding any number
of CVAT XML documents and media under ``images/``; the writers (:mod:`.cvat_write`)
reproduce CVAT's own layout byte for byte. Track semantics live in ``core/tracks.py``,
mask RLE in ``core/masks.py``.
"""
from __future__ import annotations

import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Source
from . import cvat_read
from .registry import FormatSpec, register

SHAPES = ("bbox", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag")


def read(source: Source, keyframes_only: bool = False, **options) -> Dataset:
    """Every CVAT XML document of ``source`` as one Dataset (ids renumbered across documents)."""
    xmls = cvat_read.find_xmls(source)
    if not xmls:
        raise FormatError(source.url, "no CVAT XML (<annotations> root) found in this input")
    parts = [cvat_read.read_document(source, rel, keyframes_only=keyframes_only) for rel in xmls]
    if len(parts) == 1:
        ds = parts[0]
    else:
        ds = _concat(parts)
    ds.info.setdefault("files", xmls)
    ds.info["format"] = "CVAT for video 1.1" if ds.info.get("flavour") == "video" else "CVAT for images 1.1"
    return ds


def _concat(parts: list[Dataset]) -> Dataset:
    items, anns, tasks, jobs = [], [], [], []
    item_off = ann_off = 0
    for p in parts:
        it, a = p.items.copy(), p.annotations.copy()
        it["item_id"] += item_off
        a["item_id"] += item_off
        a["ann_id"] += ann_off
        a["parent_id"] += ann_off
        items.append(it)
        anns.append(a)
        tasks.append(p.tasks)
        jobs.append(p.jobs)
        item_off += len(it)
        ann_off += len(a)
    labels = pd.concat([p.labels for p in parts], ignore_index=True).drop_duplicates("name", keep="first")
    tasks_df = pd.concat(tasks, ignore_index=True)
    tasks_df = tasks_df[~(tasks_df["task_id"].duplicated() & tasks_df["task_id"].notna())]
    return Dataset(items=pd.concat(items, ignore_index=True), annotations=pd.concat(anns, ignore_index=True),
                   labels=labels, tasks=tasks_df, jobs=pd.concat(jobs, ignore_index=True).drop_duplicates("job_id"),
                   info=dict(parts[0].info))


def detect(source: Source) -> float:
    """0.9 when an XML of the input has an ``<annotations>`` root with CVAT's first elements."""
    try:
        if source.kind == "file":
            if not source.name.lower().endswith(".xml"):
                return 0.0
            with source.open() as f:
                return 0.9 if cvat_read.looks_like_cvat(f.read(1 << 16)) else 0.0
        for rel in source.glob("*.xml")[:20]:
            with source.open(rel) as f:
                if cvat_read.looks_like_cvat(f.read(1 << 16)):
                    return 0.9
    except (OSError, ValueError):
        return 0.0
    return 0.0


def _write_images(dataset, sink, ctx):
    from . import cvat_write

    cvat_write.write(dataset, sink, ctx, flavour="images")


def _write_video(dataset, sink, ctx):
    from . import cvat_write

    cvat_write.write(dataset, sink, ctx, flavour="video")


register(FormatSpec(
    name="CVAT for images 1.1", aliases=("cvat_images", "CVAT 1.1", "cvat"), read=read, write=_write_images,
    detect=detect, shapes=SHAPES, media=("image",), family="cvat",
    description="CVAT XML, <image> elements; tracks cut into per-frame shapes"))
register(FormatSpec(
    name="CVAT for video 1.1", aliases=("cvat_video",), read=read, write=_write_video, detect=None,
    shapes=SHAPES[:-1], media=("image", "video"), family="cvat",
    description="CVAT XML, <track> elements with keyframes; tags cannot be carried"))
