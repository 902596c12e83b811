"""Ultralytics YOLO Classification 1.0: ``<subset>/<label>/<image>`` plus ``<subset>/labels.json``.

Tags only. The folders *are* the labels, so the layout needs the images: an export without
``save_images`` still writes ``labels.json`` (our record of every item's tags and size, the
CVAT extension file) but reports the items whose images it could not place. An item with
several tags gets its image in each label folder; an item without tags is only listed in
``labels.json``. Import reads ``labels.json`` when present, else the folders.
"""
from __future__ import annotations

import posixpath

import numpy as np
import orjson
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.parsing import json_error
from . import yolo_ultralytics as ul
from ._media import copy_media
from .registry import FormatSpec, register
from .yolo_common import class_list, item_names, select_rows
from .yolo_layout import is_image


def write(ds, sink, ctx) -> None:
    items = ds.items
    a = select_rows(ds, ctx)
    wrong = (a["type"] != "tag").to_numpy()
    ctx.report.add_mask("annotations", a, wrong, "Ultralytics YOLO Classification carries only tags", key="ann_id")
    a = a[~wrong]
    names = item_names(items)
    subsets = items["subset"].fillna("default").astype(str).replace("default", "train")
    classes = class_list(ds, types=("tag", "any"))
    classes += [n for n in dict.fromkeys(a["label"].tolist()) if n not in set(classes)]
    pos = pd.Index(items["item_id"]).get_indexer(a["item_id"])
    tags: dict[int, list[str]] = {}
    for p, lab in zip(pos.tolist(), a["label"].tolist(), strict=True):
        lst = tags.setdefault(p, [])
        if lab not in lst:
            lst.append(lab)
    w = items["width"].tolist()
    h = items["height"].tolist()
    per_subset: dict[str, dict] = {}
    copies = []
    for i, (nm, s) in enumerate(zip(names.tolist(), subsets.tolist(), strict=True)):
        rec = {"labels": tags.get(i, []), "width": None if w[i] is pd.NA else int(w[i]),
               "height": None if h[i] is pd.NA else int(h[i])}
        per_subset.setdefault(s, {})[nm] = rec
        for lab in rec["labels"]:
            copies.append((int(items["item_id"].iat[i]), items["media"].iat[i], f"{s}/{lab}/{nm}"))
    for s, recs in per_subset.items():
        sink.write_bytes(f"{s}/labels.json", orjson.dumps({"labels": classes, "items": recs},
                                                           option=orjson.OPT_INDENT_2))
    if ctx.save_images:
        copy_media(ds, sink, copies, ctx.report)
    else:
        tagged = sorted({c[0] for c in copies})
        ctx.report.add("items", tagged, "images not saved: the classification layout keeps labels as image "
                                        "folders (only labels.json records them); use save_images=True")


def read(source, **options) -> Dataset:
    """Items and tags from ``<subset>/labels.json``, else from ``<subset>/<label>/<image>`` folders."""
    jsons = {posixpath.dirname(r): r for r in source.glob("*/labels.json", "*/*/labels.json")}
    images: dict[tuple[str, str], dict] = {}  # (subset dir, name) -> {label: rel}
    for f in source.files:
        parts = f.split("/")
        if len(parts) >= 3 and is_image(f):
            for cut in (1, 2):  # <subset>/<label>/<name> or <root>/<subset>/<label>/<name>
                sdir = "/".join(parts[:cut])
                if len(parts) > cut + 1 and (sdir in jsons or cut == 1):
                    images.setdefault((sdir, "/".join(parts[cut + 1:])), {})[parts[cut]] = f
                    break
    if not jsons and not images:
        raise FormatError(source.display(), "no Ultralytics classification layout here: expected "
                                            "<subset>/<label>/<image> folders or <subset>/labels.json")
    rows_items, rows_tags, classes = [], [], []
    for sdir in sorted(set(jsons) | {k[0] for k in images}):
        recs = {}
        if sdir in jsons:
            try:
                doc = orjson.loads(source.read_bytes(jsons[sdir]))
                recs = doc["items"]
                classes += [c for c in doc.get("labels", []) if c not in classes]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise json_error(source.display(jsons[sdir]), exc, "expected {labels, items}") from exc
        names = list(recs) + [n for (s, n) in images if s == sdir and n not in recs]
        for nm in names:
            found = images.get((sdir, nm), {})
            rec = recs.get(nm) or {"labels": sorted(found)}
            iid = len(rows_items)
            media = next(iter(found.values()), None)
            rows_items.append({"item_id": iid, "name": nm, "subset": posixpath.basename(sdir),
                               "media": source.url_of(media) if media else None,
                               "width": rec.get("width"), "height": rec.get("height"), "frame": iid})
            for lab in rec.get("labels", []):
                rows_tags.append({"item_id": iid, "label": lab, "type": "tag"})
                if lab not in classes:
                    classes.append(lab)
    ann = pd.DataFrame(rows_tags)
    if len(ann):
        ann.insert(0, "ann_id", np.arange(len(ann), dtype=np.int64))
        for c in ("x", "y", "w", "h"):
            ann[c] = np.nan
    ds = Dataset(items=pd.DataFrame(rows_items) if rows_items else None, annotations=ann if len(ann) else None,
                 labels=pd.DataFrame({"name": classes, "type": "tag"}) if classes else None)
    ds.media_root = source.url_of("") if source.kind != "file" else source.folder
    return ds


SPLITS = {"train", "val", "valid", "validation", "test"}  # Ultralytics' (and Roboflow's "valid")


def _harmless(rel: str) -> bool:
    """Files a classification folder may hold besides its images: READMEs, licences, OS litter."""
    base = posixpath.basename(rel).lower()
    if base.startswith(".") or base in ("thumbs.db", "desktop.ini"):
        return True
    return "/" not in rel and base.startswith(("readme", "license", "licence"))


def detect(source) -> float:
    """``<subset>/labels.json`` (ours), or nothing but images at ``<split>/<class>/<image>``.

    A folder of image folders alone is no evidence: MOT, KITTI, WIDER Face, VGGFace2, LFW ...
    keep images in sub-folders too, beside their annotation files (``gt/gt.txt``, label
    ``.txt``, ``.xml``, ``.json``, ``.csv``). So without ``labels.json`` the top folders must
    be split names and every other file must be an image two levels down.
    """
    if source.glob("*/labels.json"):
        return 0.7
    yml = source.glob("data.yaml", "*/data.yaml", "data.yml", "*/data.yml")
    if yml and ul.detect_task(source) != "classify":  # the other Ultralytics tasks' layout
        return 0.0
    if source.glob("classes.txt", "obj.names", "*/obj.names"):
        return 0.0
    images = 0
    for f in source.files:
        if _harmless(f) or f in yml:
            continue
        parts = f.split("/")
        if len(parts) != 3 or parts[0].lower() not in SPLITS or not is_image(f):
            return 0.0
        images += 1
    return 0.3 if images else 0.0


register(FormatSpec(
    name="Ultralytics YOLO Classification 1.0",
    aliases=("yolo_ultralytics_classification", "ultralytics classification"),
    read=read, write=write, detect=detect, shapes=("tag",), family="cvat",
    description="Ultralytics YOLO classification: <subset>/<label>/<image> + <subset>/labels.json",
))
