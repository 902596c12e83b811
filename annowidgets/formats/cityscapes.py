"""CVAT's "Cityscapes 1.0" (Datumaro ``cityscapes``): semantic and instance masks.

Layout: ``gtFine/<subset>/<id>_gtFine_{instanceIds,labelIds,color}.png`` (``<id>`` usually
``<city>/<city>_<seq>_<frame>``), ``label_colors.txt`` (``r g b name``) and, with "save images",
``imgsFine/leftImg8bit/<subset>/<id>_leftImg8bit<ext>`` (``leftImg8bit/<subset>/…`` at the top
is read too; the writer option ``images_dir="leftImg8bit"`` writes there, as upstream Datumaro
1.x expects). ``labelIds`` holds the class index per pixel, ``color`` its colour, and
``instanceIds`` the class index for crowd/stuff regions or ``class * 1000 + n`` for instance
``n``; the first black class (class 0 in our exports) is the background. Without ``label_colors.txt`` the classes are Cityscapes' own
34 (or its 19 training classes plus background when ``*_gtFine_labelTrainIds.png`` are given).

Export rasterises boxes (rotated too), polygons, ellipses and masks in ``z_order``; shapes that
share a ``group`` are one instance, and the checkbox attribute ``is_crowd`` makes a region
crowd (class id only, no instance). Import gives a mask per segment of ``instanceIds`` with
``is_crowd`` set, or polygons with ``to_polygons=True``; background pixels give no row.
"""
from __future__ import annotations

import posixpath

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from . import _semseg as ss
from . import _voc_common as vc
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

GT = "gtFine"
IMAGES = "imgsFine/leftImg8bit"
LEFT = "_leftImg8bit"
SUFFIXES = ("_gtFine_labelTrainIds.png", "_gtFine_instanceIds.png", "_gtFine_labelIds.png")
CROWD = "is_crowd"

# Cityscapes' classes (cityscapesScripts labels.py, names without spaces as Datumaro spells them)
CITYSCAPES_LABELS = (
    ("unlabeled", (0, 0, 0)), ("egovehicle", (0, 0, 0)), ("rectificationborder", (0, 0, 0)),
    ("outofroi", (0, 0, 0)), ("static", (0, 0, 0)), ("dynamic", (111, 74, 0)), ("ground", (81, 0, 81)),
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("parking", (250, 170, 160)),
    ("railtrack", (230, 150, 140)), ("building", (70, 70, 70)), ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)), ("guardrail", (180, 165, 180)), ("bridge", (150, 100, 100)),
    ("tunnel", (150, 120, 90)), ("pole", (153, 153, 153)), ("polegroup", (153, 153, 153)),
    ("trafficlight", (250, 170, 30)), ("trafficsign", (220, 220, 0)), ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)), ("person", (220, 20, 60)), ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)), ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("caravan", (0, 0, 90)),
    ("trailer", (0, 0, 110)), ("train", (0, 80, 100)), ("motorcycle", (0, 0, 230)), ("bicycle", (119, 11, 32)),
    ("licenseplate", (0, 0, 142)),
)
TRAIN_LABELS = (
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("building", (70, 70, 70)), ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)), ("pole", (153, 153, 153)), ("trafficlight", (250, 170, 30)),
    ("trafficsign", (220, 220, 0)), ("vegetation", (107, 142, 35)), ("terrain", (152, 251, 152)),
    ("sky", (70, 130, 180)), ("person", (220, 20, 60)), ("rider", (255, 0, 0)), ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("train", (0, 80, 100)), ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)), ("background", (0, 0, 0)),
)
CROWD_SPEC = {"name": CROWD, "input_type": "checkbox", "values": ["false", "true"], "default": "false",
              "mutable": False}


# == reading ===================================================================================
def _masks(source) -> dict[tuple[str, str], dict[str, str]]:
    """(subset, id) -> {suffix: path} of the gtFine PNGs."""
    out: dict = {}
    for f in source.files:
        if not f.startswith(GT + "/"):
            continue
        parts = f.split("/")
        for suf in SUFFIXES:
            if len(parts) >= 3 and f.endswith(suf):
                out.setdefault((parts[1], "/".join(parts[2:])[: -len(suf)]), {})[suf] = f
    return out


def _images(source) -> dict[tuple[str, str], str]:
    out = {}
    for base in (IMAGES + "/", "leftImg8bit/"):
        for f in source.files:
            if f.startswith(base) and posixpath.splitext(f)[1].lower() in vc.IMAGE_EXTS:
                parts = f[len(base):].split("/")
                stem = posixpath.splitext("/".join(parts[1:]))[0]
                if len(parts) >= 2 and stem.endswith(LEFT):
                    out.setdefault((parts[0], stem[: -len(LEFT)]), f)
    return out


def read(source, to_polygons: bool = False, **options) -> Dataset:
    """Items from gtFine PNGs and leftImg8bit images; a mask (or polygons) per segment."""
    masks = _masks(source) if source.kind != "file" else {}
    images = _images(source) if source.kind != "file" else {}
    if not masks and not images:
        raise FormatError(source.display(), "no Cityscapes layout here: expected gtFine/<subset>/…_gtFine_"
                                            "instanceIds.png or (imgsFine/)leftImg8bit/<subset>/…_leftImg8bit.*")
    train_ids = any(SUFFIXES[0] in m for m in masks.values())
    if source.exists(ss.LABEL_COLORS):
        entries = ss.parse_label_colors(source.read_text(ss.LABEL_COLORS), source.display(ss.LABEL_COLORS))
    else:
        entries = list(TRAIN_LABELS if train_ids else CITYSCAPES_LABELS)
    entries, implicit, bg = ss.with_background(entries, move=False)
    names = [n for n, _ in entries]
    keys = sorted(set(masks) | set(images))
    items, rows, unknown, holes = [], [], {}, []
    group = 1
    for subset, ident in keys:
        iid = len(items)
        img = images.get((subset, ident))
        width = height = None
        found = masks.get((subset, ident), {})
        suf = next((s for s in SUFFIXES if s in found), None)
        if suf is not None:
            rel = found[suf]
            ids = ss.index_png(source.read_bytes(rel), source.display(rel))
            height, width = ids.shape
            instanced = suf == SUFFIXES[1]
            for v, rle, (x, y, w, h), idx in ss.segments(ids):
                label_id, inst = (v // 1000, v % 1000) if instanced and v >= 1000 else (v, None)
                if label_id == bg:
                    continue
                if label_id >= len(names):
                    unknown.setdefault(label_id, []).append(iid)
                    continue
                r = {"type": "mask", "label": names[label_id], "mask": rle, "x": x, "y": y, "w": w, "h": h,
                     "attributes": {CROWD: inst is None},
                     "extra": {"instance_id": inst} if inst is not None else None}
                if to_polygons:
                    r["_bitmap"] = ss.bitmap(idx, ids.shape)
                    polys, n_holes = vc.to_polygon_rows([r], group)
                    group += 1
                    if n_holes:
                        holes.append(iid)
                    for p in polys:
                        p["attributes"] = r["attributes"]
                    found_rows = polys
                else:
                    found_rows = [r]
                for fr in found_rows:
                    fr = {k: x for k, x in fr.items() if k != "_bitmap"}
                    fr["item_id"] = iid
                    rows.append(fr)
        elif img is not None:
            size = vc.image_size(source.read_bytes(img))
            if size:
                width, height = size
        name = ident + (posixpath.splitext(img)[1] if img else ".png")
        items.append({"item_id": iid, "name": name, "subset": subset, "width": width, "height": height,
                      "media": source.url_of(img) if img else name})
    ann = pd.DataFrame(rows) if rows else None
    if ann is not None:
        ann.insert(0, "ann_id", np.arange(len(ann), dtype=np.int64))
        for c in ("extra", "points", "mask", "attributes"):
            if c in ann:
                ann[c] = ann[c].astype(object).where(ann[c].notna(), None)
        ann["group"] = ann["group"].astype("Int64") if "group" in ann else pd.NA
    it = pd.DataFrame(items, columns=["item_id", "name", "subset", "width", "height", "media"])
    for c in ("width", "height"):
        it[c] = pd.to_numeric(it[c]).astype("Int64")
    labels = ss.labels_table(entries, implicit)
    labels["attributes"] = [[dict(CROWD_SPEC)] for _ in range(len(labels))]
    ds = Dataset(items=it, annotations=ann, labels=labels)
    ds.media_root = source.url_of("")
    for label_id, ids in unknown.items():
        ds.loss.add("items", ids, f"pixels of class id {label_id} (not in the label list) read as unlabelled")
    if holes:
        ds.loss.add("items", holes, "mask holes cannot be polygons; holes filled (to_polygons=True)")
    return ds


# == writing ===================================================================================
def _truthy(v) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() in ("true", "1", "yes")) or \
        (isinstance(v, (int, float, np.integer)) and not isinstance(v, bool) and v == 1)


def write(ds: Dataset, sink, ctx: WriteContext) -> None:
    report = ctx.report
    items = ds.items.reset_index(drop=True)
    ids, files, renamed = vc.item_ids(items)
    report.add("items", renamed, "file name collides with another item's; written as <name>__<n>")
    rows = ss.paintable_rows(ds, items, report, "Cityscapes")
    attrs = rows["attributes"].map(lambda d: d if isinstance(d, dict) else {})
    other = attrs.map(lambda d: any(k != CROWD for k in d)).to_numpy(dtype=bool)
    report.add("annotations", rows["ann_id"][other], "attributes other than is_crowd are not carried by Cityscapes")
    crowd = attrs.map(lambda d: _truthy(d.get(CROWD))).to_numpy(dtype=bool)
    entries = ss.export_entries(ds, pd.unique(rows["label"]).tolist())
    if len(entries) > 256:
        raise ValueError(f"Cityscapes labelIds PNGs hold at most 256 classes, the dataset has {len(entries)}")
    index_of = {n: i for i, n in enumerate(n for n, _ in entries)}
    colors = np.array([c for _, c in entries], dtype=np.uint8)
    cls = rows["label"].map(index_of).fillna(0).astype(np.int64).to_numpy()
    # instance number per item and class, from 1: one per group (CVAT merges a group into one
    # instance), else per row; crowd rows take none
    g = rows["group"]
    key = np.where(g.notna(), "g" + g.astype(str), "r" + rows["ann_id"].astype(str))
    pos = rows["_pos"].to_numpy()
    first = pd.Series(np.arange(len(rows))).groupby([pos, cls, key]).transform("min").to_numpy()
    n = np.zeros(len(rows), dtype=np.int64)
    solo = ~crowd
    if solo.any():
        n[solo] = pd.Series(first[solo]).groupby([pos[solo], cls[solo]]).rank(method="dense").to_numpy(np.int64)
    inst = np.where(crowd | (cls == 0), cls, cls * 1000 + n)
    over = ~crowd & (cls > 0) & ((n > 999) | (inst > 65535))
    report.add("annotations", rows["ann_id"][over], "instance id over Cityscapes' 16-bit class*1000+n range; "
                                                    "written as a crowd region of its class")
    inst = np.where(over, cls, inst)
    subsets = items["subset"].fillna("default").astype(str).to_numpy()
    done = set()

    def put(p: int, cls_map: np.ndarray, inst_map: np.ndarray) -> None:
        base = f"{GT}/{subsets[p]}/{ids.iloc[p]}_gtFine"
        sink.write_bytes(f"{base}_color.png", vc.encode_rgb_png(cls_map, colors))
        sink.write_bytes(f"{base}_labelIds.png", ss.id_png(cls_map, np.uint8))
        sink.write_bytes(f"{base}_instanceIds.png", ss.id_png(inst_map, np.uint16))
        done.add(p)

    for p, cls_map, inst_map, _ in ss.paint_items(ds, rows, items, cls, inst, report, ctx):
        put(p, cls_map, inst_map)
    widths, heights = vc.item_sizes(ds, items)
    for p in range(len(items)):  # items without shapes get empty masks, so they come back
        if p not in done and not np.isnan(widths[p]) and not np.isnan(heights[p]):
            z = np.zeros((int(heights[p]), int(widths[p])), np.int64)
            put(p, z, z)
    lost = [items["item_id"].iat[p] for p in range(len(items)) if p not in done]
    if not ctx.save_images:
        report.add("items", lost, "item has no width/height: no masks written, so without images it is not kept")
    sink.write_text(ss.LABEL_COLORS, ss.format_label_colors(entries))  # background included, as CVAT writes it
    if ctx.save_images:
        images_dir = ctx.options.get("images_dir", IMAGES)
        if images_dir not in (IMAGES, "leftImg8bit"):
            raise ValueError(f"images_dir={images_dir!r}: expected {IMAGES!r} (CVAT) or 'leftImg8bit' (Datumaro 1.x)")
        targets = []
        for p in range(len(items)):
            ext = posixpath.splitext(files.iloc[p])[1] or ".png"
            targets.append(f"{images_dir}/{subsets[p]}/{ids.iloc[p]}{LEFT}{ext}")
        copy_media(ds, sink, zip(items["item_id"], items["media"], targets, strict=True), report)


# == detection =================================================================================
def detect(source) -> float:
    """gtFine/<subset>/…_gtFine_{instanceIds,labelIds,labelTrainIds}.png or leftImg8bit images."""
    if source.kind == "file":
        return 0.0
    if _masks(source):
        return 0.8
    return 0.6 if _images(source) else 0.0


register(FormatSpec(
    name="Cityscapes 1.0", aliases=("cityscapes",),
    read=read, write=write, detect=detect, shapes=("mask", "polygon", "bbox", "ellipse"), family="cvat",
    description="Cityscapes: gtFine/<subset>/*_gtFine_{instanceIds,labelIds,color}.png + label_colors.txt",
))
