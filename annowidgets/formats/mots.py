"""CVAT's "MOTS PNG 1.0" (Datumaro ``mots_png`` / ``mots``): instance PNGs of mask tracks.

Layout: ``<subset>/instances/<id>.png`` (16-bit, value ``class * 1000 + instance``, 0 the
background), ``<subset>/instances/labels.txt`` (one label per line; class ``c`` is line ``c``)
and, with "save images", ``<subset>/images/<id><ext>``. ``instances/`` at the top (no subset
folder) is read too, as subset ``default``. Without ``labels.txt`` the classes are MOTS' own
(1 car, 2 pedestrian); class 10 is ``ignored`` whenever fewer than 10 labels are listed (as
Datumaro reads it, painted over the others: ``z_order`` 1).

Import (as CVAT does): items in order (subsets by name, ids in natural order) are the frames
0, 1, …; each (class, instance) pair is a track whose ``track_id`` is the instance id (a new id
after the largest when another class already uses it; ``extra["instance_id"]`` keeps the PNG's
number), a mask keyframe per frame it shows in (polygons with ``to_polygons=True``; a mask of
several parts gives a polygon track per part, sharing a ``group``), and an ``outside`` keyframe
after each visible run that is not at the last frame.

Export (as CVAT does through Datumaro): tracks only, on every frame they are visible
(interpolated between keyframes); boxes, polygons, ellipses and masks are rasterised in
``z_order``, instance = track id. Everything else (shapes outside tracks, other shape types,
attributes, ``occluded``, groups, scores, keyframe flags) is reported.
"""
from __future__ import annotations

import posixpath
import re

import numpy as np
import pandas as pd

from ..core import raster
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.loss import LossReport
from ..core.media_types import IMAGE_EXTS
from . import _semseg as ss
from . import _voc_common as vc
from . import mot
from ._carry import report_attributes
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register
from .yolo_common import select_rows

NAME = "MOTS PNG 1.0"
INSTANCES = "instances"
IMAGES = "images"
LABELS = "labels.txt"
MAX_INSTANCES = 1000
IGNORED_CLASS = 10
IGNORED = "ignored"
MOTS_LABELS = ("car", "pedestrian")
DEFAULT_SUBSET = "default"


# == layout ====================================================================================
def _layout(files) -> dict[str, dict]:
    """prefix ('' or '<subset>/') -> {"pngs": {id: rel}, "images": {id: rel}, "labels": rel or None}."""
    out: dict[str, dict] = {}

    def entry(prefix):
        return out.setdefault(prefix, {"pngs": {}, "images": {}, "labels": None})

    for f in files:
        parts = f.split("/")
        if len(parts) >= 2 and parts[0] in (INSTANCES, IMAGES):
            prefix, kind, rest = "", parts[0], parts[1:]
        elif len(parts) >= 3 and parts[1] in (INSTANCES, IMAGES):
            prefix, kind, rest = parts[0] + "/", parts[1], parts[2:]
        else:
            continue
        rel = "/".join(rest)
        stem, ext = posixpath.splitext(rel)
        if kind == INSTANCES:
            if rel == LABELS:
                entry(prefix)["labels"] = f
            elif ext.lower() == ".png":
                entry(prefix)["pngs"][stem] = f
        elif ext.lower() in IMAGE_EXTS:
            entry(prefix).setdefault("_img", {})[stem] = f
    # images alone make no MOTS dataset: keep them only beside an instances/ folder
    for prefix in list(out):
        e = out[prefix]
        if not e["pngs"] and e["labels"] is None:
            del out[prefix]
        else:
            e["images"] = e.pop("_img", {})
    return out


def _natural(s: str):
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", s) if t]


def _labels(source, rel: str | None) -> list[str] | None:
    if rel is None:
        return None
    out: list[str] = []
    for lineno, raw in enumerate(source.read_text(rel).splitlines(), 1):
        name = raw.strip()
        if not name:
            continue
        if name in out:  # class ids index the lines: a repeated name makes two classes one
            raise FormatError(source.display(rel), f"label {name!r} is listed twice (class ids are line numbers)",
                              line=lineno)
        out.append(name)
    return out


# == reading ===================================================================================
def read(source, to_polygons: bool = False, **options) -> Dataset:
    """Items from ``<subset>/instances/*.png`` (and images); a mask (or polygon) track per instance."""
    layout = _layout(source.files) if source.kind != "file" else {}
    if not layout:
        raise FormatError(source.display(), "no MOTS PNG layout here: expected <subset>/instances/<id>.png and "
                                            "<subset>/instances/labels.txt")
    subset_labels = {p: _labels(source, e["labels"]) for p, e in layout.items()}
    names: list[str] = []
    for lab in subset_labels.values():
        names += [n for n in (lab if lab is not None else MOTS_LABELS) if n not in names]
    items, rows, unknown, holes = [], [], {}, []
    track_of: dict[tuple[str, int], int] = {}
    used_ids: set[int] = set()
    group = 1
    for prefix in sorted(layout, key=lambda p: p.rstrip("/") or DEFAULT_SUBSET):
        e = layout[prefix]
        subset = prefix.rstrip("/") or DEFAULT_SUBSET
        labels = subset_labels[prefix] if subset_labels[prefix] is not None else list(MOTS_LABELS)
        for ident in sorted(set(e["pngs"]) | set(e["images"]), key=_natural):
            pos = len(items)
            img = e["images"].get(ident)
            width = height = None
            png = e["pngs"].get(ident)
            if png is not None:
                where = source.display(png)
                ids = ss.index_png(source.read_bytes(png), where)
                height, width = ids.shape
                for v, rle, (x, y, w, h), idx in ss.segments(ids):
                    cls, inst = divmod(v, MAX_INSTANCES)
                    if cls == 0:
                        continue
                    z = 0
                    if cls == IGNORED_CLASS and len(labels) < IGNORED_CLASS:
                        label, z = IGNORED, 1
                        if IGNORED not in names:
                            names.append(IGNORED)
                    elif cls - 1 < len(labels):
                        label = labels[cls - 1]
                    else:
                        unknown.setdefault(cls, []).append(pos)
                        continue
                    tid = track_of.get((label, inst))
                    if tid is None:
                        if inst not in used_ids:
                            tid = inst
                        else:
                            tid = max(used_ids) + 1
                        track_of[(label, inst)] = tid
                        used_ids.add(tid)
                    r = {"type": "mask", "label": label, "mask": rle, "x": x, "y": y, "w": w, "h": h,
                         "z_order": z, "extra": {"instance_id": inst}, "track_id": tid}
                    if to_polygons:
                        r["_bitmap"] = ss.bitmap(idx, ids.shape)
                        polys, n_holes = vc.to_polygon_rows([r], group)
                        if len(polys) > 1:
                            group += 1
                        if n_holes:
                            holes.append(pos)
                        for k, p in enumerate(polys):
                            p["z_order"] = z
                            if k == 0:
                                p["track_id"] = tid
                            else:  # a track has one shape per frame: further parts are tracks of their own
                                p["track_id"] = max(used_ids) + 1
                                used_ids.add(p["track_id"])
                        found = polys
                    else:
                        found = [r]
                    for fr in found:
                        fr.pop("_bitmap", None)
                        fr.update(item_id=pos, frame=pos, keyframe=True, outside=False)
                        rows.append(fr)
            elif img is not None:
                size = vc.image_size(source.read_bytes(img))
                if size:
                    width, height = size
            name = ident + (posixpath.splitext(img)[1] if img else ".png")
            items.append({"item_id": pos, "name": name, "subset": subset, "width": width, "height": height,
                          "task": 0, "frame": pos, "media": source.url_of(img) if img else name})
    it = pd.DataFrame(items, columns=["item_id", "name", "subset", "width", "height", "task", "frame", "media"])
    for c in ("width", "height"):
        it[c] = pd.to_numeric(it[c]).astype("Int64")
    stop = max(len(items) - 1, 0)
    ann = None
    if rows:
        ann = pd.DataFrame(rows)
        ann["_line"] = np.arange(len(ann))
        ann["_mot_track"] = ann["track_id"].to_numpy(np.int64)
        ann["track_id"] = ann["track_id"].astype("Int64")
        ann = mot._outside_rows(ann, stop)  # CVAT's import: outside after each visible run
        miss = ann["item_id"].isna()
        ann.loc[miss, "item_id"] = ann.loc[miss, "frame"]  # frames are item positions
        ann = ann.sort_values(["item_id", "_line", "outside"], kind="stable").drop(columns=["_line", "_mot_track"])
        ann = ann.reset_index(drop=True)
        ann.insert(0, "ann_id", np.arange(len(ann), dtype=np.int64))
        ann["item_id"] = ann["item_id"].astype(np.int64)
        for c in ("extra", "points", "mask"):
            if c in ann:
                ann[c] = ann[c].astype(object).where(ann[c].notna(), None)
        ann["group"] = ann["group"].astype("Int64") if "group" in ann else pd.NA
    tasks = pd.DataFrame([{"task_id": 0, "name": "mots", "mode": "interpolation", "size": len(items),
                           "start_frame": 0, "stop_frame": stop}])
    ds = Dataset(items=it, annotations=ann, labels=pd.DataFrame({"name": names}), tasks=tasks)
    ds.media_root = source.url_of("")
    for cls, positions in unknown.items():
        ds.loss.add("items", positions, f"pixels of class id {cls} (not a line of labels.txt) read as background")
    if holes:
        ds.loss.add("items", holes, "mask holes cannot be polygons; holes filled (to_polygons=True)")
    return ds


# == writing ===================================================================================
def _class_names(ds: Dataset, used) -> list[str]:
    """labels.txt lines: the dataset's labels (not skeleton points), then labels only rows use."""
    lab = ds.labels
    names = [n for n, p in zip(lab["name"].tolist(), lab["parent"].tolist(), strict=True)
             if isinstance(n, str) and n and not (isinstance(p, str) and p)]
    names = list(dict.fromkeys(names))
    names += [n for n in used if isinstance(n, str) and n and n not in names]
    return names


def _keyframe_of(rows: pd.DataFrame, known: pd.Series) -> dict:
    """ann_id of each row interpolated between keyframes (not in ``known``, the ids before
    interpolation) -> ann_id of the keyframe it comes from."""
    own = rows["ann_id"].isin(known).to_numpy()
    if own.all():
        return {}
    s = rows.assign(_src=np.where(own, rows["ann_id"].to_numpy(np.float64), np.nan))
    s = s.sort_values(["track_id", "frame"], kind="stable")
    src = s.groupby("track_id")["_src"].ffill().fillna(s["ann_id"].astype(np.float64))
    gen = ~s["ann_id"].isin(known).to_numpy()
    return dict(zip(s["ann_id"].to_numpy()[gen].tolist(), src.to_numpy()[gen].astype(np.int64).tolist(),
                    strict=True))


def write(ds: Dataset, sink, ctx: WriteContext) -> None:
    report = ctx.report
    items = ds.items.reset_index(drop=True)
    if items["frame"].notna().any():
        items = items.sort_values("frame", kind="stable").reset_index(drop=True)
    ids, files, renamed = vc.item_ids(items)
    report.add("items", renamed, "file name collides with another item's; written as <name>__<n>")
    a = select_rows(ds, ctx)
    tracked = a["track_id"].notna().to_numpy()
    report.add_mask("annotations", a, ~tracked, "MOTS PNG carries tracks only (CVAT exports only tracks): "
                                                "shapes outside a track are not written", key="ann_id")
    a = a[tracked]
    area = np.isin(a["type"].to_numpy(), raster.RASTER_TYPES)
    for t, g in a[~area].groupby("type"):  # on the keyframes, before interpolation makes new rows
        report.add("annotations", g["ann_id"], f"{t} has no area to paint into a MOTS PNG mask")
    a = a[area]
    known = a["ann_id"]  # interpolation numbers its new rows after these (they may reuse other rows' ids)
    a = mot._per_frame(ds, a, items, report, "MOTS PNG")
    a = a[~a["outside"].to_numpy(dtype=bool)]  # outside keyframes are not shapes
    rows = ss.paintable_rows(ds, items, report, "MOTS PNG", rows=a)
    # rows interpolated between keyframes are new: their keyframes are the ones reported
    own = rows[rows["ann_id"].isin(known).to_numpy()]
    for t in ("bbox", "polygon", "ellipse"):
        report.add_mask("annotations", own, (own["type"] == t).to_numpy(),
                        f"MOTS PNG stores pixels: the {t} is rasterised and reads back as a mask (polygons with "
                        f"to_polygons=True)", key="ann_id")
    report_attributes(report, own, "MOTS PNG")
    report.add_mask("annotations", own, own["occluded"].to_numpy(dtype=bool),
                    "occluded is not carried by MOTS PNG", key="ann_id")
    report.add_mask("annotations", own, own["group"].notna().to_numpy(), "groups are not carried by MOTS PNG "
                    "(the instance is the track)", key="ann_id")

    names = _class_names(ds, pd.unique(rows["label"]).tolist())
    cls = rows["label"].map({n: i + 1 for i, n in enumerate(names)}).fillna(0).to_numpy(np.int64)
    too_many = (cls == 0) | (cls * MAX_INSTANCES + MAX_INSTANCES - 1 > np.iinfo(np.uint16).max)
    orig = rows["ann_id"].isin(known).to_numpy()  # not rows made by interpolation
    report.add_mask("annotations", rows, too_many & orig, "label beyond the 65th (or none): class * 1000 + instance does "
                    "not fit MOTS' 16-bit PNG, not written", key="ann_id")
    rows, cls, orig = rows[~too_many], cls[~too_many], orig[~too_many]
    tid = rows["track_id"].to_numpy(dtype=np.int64)
    out_of_range = (tid < 0) | (tid >= MAX_INSTANCES)
    if out_of_range.any():  # renumber every track 1, 2, … per class, in order of first appearance
        report.add_mask("annotations", rows, out_of_range & orig, "track id outside MOTS' 0..999 instance range: tracks "
                        "renumbered from 1 per label", key="ann_id")
        first = pd.Series(np.arange(len(rows))).groupby(tid).transform("min").to_numpy()
        tid = pd.Series(first).groupby(cls).rank(method="dense").to_numpy(np.int64)
        over = tid >= MAX_INSTANCES
        report.add_mask("annotations", rows, over & orig, "more than 999 tracks of one label: not written", key="ann_id")
        rows, cls, tid = rows[~over], cls[~over], tid[~over]
    value = cls * MAX_INSTANCES + tid

    subsets = items["subset"].astype(object).where(items["subset"].notna() & (items["subset"] != ""),
                                                    DEFAULT_SUBSET).astype(str).to_numpy()
    done = set()

    def put(p: int, inst_map: np.ndarray) -> None:
        sink.write_bytes(f"{subsets[p]}/{INSTANCES}/{ids.iloc[p]}.png", ss.id_png(inst_map, np.uint16))
        done.add(p)

    painted = LossReport()
    for p, _, inst_map, _ in ss.paint_items(ds, rows, items, cls, value, painted, ctx):
        put(p, inst_map)
    source = _keyframe_of(rows, known)
    for e in painted.entries:  # name the dataset's own rows, not the interpolated copies
        report.add(e.table, list(dict.fromkeys(source.get(r, r) for r in e.rows)), e.reason)
    widths, heights = vc.item_sizes(ds, items)
    for p in range(len(items)):  # frames without shapes get an empty PNG, so they come back
        if p not in done and not np.isnan(widths[p]) and not np.isnan(heights[p]):
            put(p, np.zeros((int(heights[p]), int(widths[p])), np.int64))
    if not ctx.save_images:
        report.add("items", [items["item_id"].iat[p] for p in range(len(items)) if p not in done],
                   "item has no width/height: no PNG written, so without images it is not kept")
    text = "\n".join(names)
    for s in sorted(set(subsets.tolist())) or [DEFAULT_SUBSET]:
        sink.write_text(f"{s}/{INSTANCES}/{LABELS}", text)
    if ctx.save_images:
        targets = [f"{subsets[p]}/{IMAGES}/{ids.iloc[p]}{posixpath.splitext(files.iloc[p])[1] or '.jpg'}"
                   for p in range(len(items))]
        copy_media(ds, sink, zip(items["item_id"], items["media"], targets, strict=True), report)


# == detection =================================================================================
def detect(source) -> float:
    """``[<subset>/]instances/labels.txt`` beside instance PNGs, or 16-bit PNGs in ``instances/``."""
    if source.kind == "file":
        return 0.0
    layout = _layout(source.files)
    if not any(e["pngs"] for e in layout.values()):
        return 0.0
    if any(e["labels"] for e in layout.values()):
        return 0.85
    first = next(iter(next(e for e in layout.values() if e["pngs"])["pngs"].values()))
    try:
        ids = ss.index_png(source.read_bytes(first), first)
    except (FormatError, OSError):
        return 0.0
    return 0.6 if ids.max(initial=0) >= MAX_INSTANCES else 0.0


register(FormatSpec(
    name=NAME, aliases=("mots_png", "mots"),
    read=read, write=write, detect=detect, shapes=("mask", "polygon", "bbox", "ellipse"), family="cvat",
    description="MOTS: <subset>/instances/<id>.png (class*1000+track, 16-bit) + labels.txt [+ <subset>/images/]",
))
