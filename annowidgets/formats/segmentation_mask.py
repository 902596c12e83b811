"""CVAT's "Segmentation mask 1.1" (Datumaro ``voc_segmentation``): class and instance PNGs.

Layout: ``labelmap.txt`` (``name:r,g,b::``), ``ImageSets/Segmentation/<subset>.txt``,
``SegmentationClass/<id>.png`` (colour = label, from the labelmap) and
``SegmentationObject/<id>.png`` (colour = instance, VOC colour map).

Export rasterises boxes (rotated ones in pixel space), polygons, ellipses and masks in
``z_order``; shapes sharing a ``group`` become one instance, as CVAT merges them. A
``background`` label is put first in black when the dataset has none, as CVAT does; shapes
labelled ``background`` paint class 0. Import gives one mask row per instance (label = the
class most of its pixels have), or one per class when there are no instance PNGs, never
one for background pixels; ``to_polygons=True`` gives pixel-exact outlines instead.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.io import Sink, Source
from . import _voc_common as vc
from ._carry import report_scores
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register
from .voc import _ann_with_pos, _prepare_items, find_root, read_voc


def read_segmentation_mask(source: Source, to_polygons: bool = False, **options) -> Dataset:
    """Read class/instance PNGs; items come from the subset lists and the PNGs themselves."""
    return read_voc(source, to_polygons=to_polygons, **options)


def write_segmentation_mask(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    """Rasterise every area shape into the two PNGs per item; report what has no area."""
    report = ctx.report
    items, ids, files = _prepare_items(ds, report)
    a = _ann_with_pos(ds, items)
    kind = a["type"].to_numpy()
    paintable = np.isin(kind, vc.raster.RASTER_TYPES)
    for t, g in a[~paintable].groupby("type"):
        report.add("annotations", g["ann_id"], f"{t} has no area to paint into a segmentation mask")
    rows = a[paintable]
    has_attrs = rows["attributes"].map(lambda d: bool(d) if isinstance(d, dict) else False).astype(bool)
    report.add("annotations", rows["ann_id"][has_attrs.to_numpy()], "Segmentation mask carries no attributes")
    report_scores(report, rows, "Segmentation mask")
    entries = vc.labelmap_from_dataset(ds, extra_names=pd.unique(rows["label"]).tolist())
    entries = [(n, c, [], []) for n, c, _, _ in entries]  # this format has no parts or actions
    vc.write_masks(ds, sink, ctx, rows, items, ids, entries, progress=(0.05, 0.9))
    subsets = items["subset"].fillna("default").to_numpy()
    item_ids = items["item_id"].to_numpy()
    for subset in pd.unique(subsets):
        sel = np.nonzero(subsets == subset)[0]
        # every item is listed, so an image with nothing on it still comes back
        sink.write_text(f"ImageSets/Segmentation/{subset}.txt", "".join(f"{ids.iloc[p]}\n" for p in sel))
    sink.write_text("labelmap.txt", vc.format_labelmap(entries))
    if ctx.save_images:
        copy_media(ds, sink, zip(item_ids, items["media"], ("JPEGImages/" + files).tolist(), strict=True), report)


def detect_segmentation_mask(source: Source) -> float:
    root = find_root(source.files)
    has_png = any(f.startswith(f"{root}SegmentationClass/") or f.startswith(f"{root}SegmentationObject/")
                  for f in source.files)
    has_xml = any(f.startswith(f"{root}Annotations/") for f in source.files)
    if has_png and not has_xml:
        return 0.9
    if not has_xml and any(f.startswith(f"{root}ImageSets/Segmentation/") for f in source.files):
        return 0.7
    return 0.0


register(FormatSpec(
    name="Segmentation mask 1.1", aliases=("segmentation_mask", "voc_segmentation", "segmentation mask"),
    read=read_segmentation_mask, write=write_segmentation_mask, detect=detect_segmentation_mask,
    shapes=("mask", "polygon", "bbox", "ellipse"), family="cvat",
    description="SegmentationClass/ and SegmentationObject/ PNGs with labelmap.txt",
))
