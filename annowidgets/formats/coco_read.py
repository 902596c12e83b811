"""COCO JSON -> our tables, shared by every COCO flavour (CVAT's, Label Studio's, Roboflow's…).

One call turns a list of parsed COCO files (each with its subset and task kind) into a
:class:`Dataset`. The hot path (boxes) is a handful of list comprehensions and numpy
arrays per file; polygons, masks and keypoints, which are rarer, get a per-annotation step.

Mapping (and why):
- ``images`` -> items; an image listed by several files of one subset (``instances_`` and
  ``person_keypoints_`` side by side) is one item.
- a box -> one ``bbox`` row; CVAT's ``attributes.rotation`` turns it into a rotated box
  (CVAT writes the unrotated box there); our own ``unrotated_bbox`` key wins when present.
- polygon lists -> one ``polygon`` row per list; the rows of one instance share
  ``region_id`` (the COCO id) and ``group``, so the writer puts them back into one instance.
- RLE (compressed or not) -> one ``mask`` row with a checked, compressed RLE.
- ``keypoints`` -> a ``skeleton`` row plus one ``points`` row per keypoint (``parent_id``;
  v=0 -> ``outside``, v=1 -> ``occluded``); the instance box/segment is kept as its own row
  in the skeleton's group, unless ``bbox_from: "skeleton"`` (our writer) says the box is
  only the skeleton's.
- captions -> ``text`` rows; ``labels_`` files -> ``tag`` rows; ``image_info_`` -> items only.
- ``score`` -> a prediction; ``annotator`` -> the annotator column; CVAT's ``attributes``
  (``occluded``, ``rotation``, ``track_id``, ``keyframe``, ``group``) -> their columns;
  anything else on an annotation or image -> ``extra``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd

from ..core import geometry
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from ..core.io import Source
from ..core.loss import LossReport
from ..core.masks import rle_bbox
from . import coco_rle
from .coco_skeleton import normalize_edges, svg_from_edges

KNOWN_ANN = frozenset({"id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd", "attributes",
                       "score", "keypoints", "num_keypoints", "caption", "annotator", "unrotated_bbox", "bbox_from"})
KNOWN_IMG = frozenset({"id", "file_name", "width", "height"})
_MISSING = object()
SPECIAL_ATTRS = ("occluded", "rotation", "track_id", "keyframe", "group")
TASKS = ("instances", "person_keypoints", "labels", "captions", "image_info", "stuff", "panoptic")


@dataclass
class CocoFile:
    """One parsed COCO JSON file and what its name says about it."""

    rel: str
    display: str
    subset: str
    task: str  # one of TASKS, or "instances" for files that do not say
    doc: dict = field(repr=False)


def load_json(source: Source, rel: str | None) -> dict:
    """Parse a COCO file with orjson (GC paused); name the file and position on errors."""
    data = source.read_bytes(rel)
    try:
        with gc_paused():
            doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FormatError(source.display(rel), f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                          line=exc.lineno, position=exc.pos) from exc
    if not isinstance(doc, dict):
        raise FormatError(source.display(rel), f"expected a JSON object with 'images', 'annotations' and "
                          f"'categories', got a {type(doc).__name__}")
    if not any(k in doc for k in ("images", "annotations", "categories")):  # another format's JSON object
        keys = ", ".join(repr(k) for k in list(doc)[:6]) or "no keys"
        raise FormatError(source.display(rel), f"expected a COCO object with 'images', 'annotations' and "
                          f"'categories', found {keys}")
    return doc


def _list(doc: dict, key: str, display: str) -> list:
    v = doc.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise FormatError(display, f"'{key}' must be a list, got {type(v).__name__}", element=key)
    return v


def _ids(rows: list, key: str, display: str, what: str) -> list:
    try:
        return [r[key] for r in rows]
    except (KeyError, TypeError):
        for i, r in enumerate(rows):
            if not isinstance(r, dict) or key not in r:
                raise FormatError(display, f"{what} #{i} has no '{key}'", element=what) from None
        raise


class _Builder:
    """Accumulates items, labels and annotation chunks over several COCO files."""

    def __init__(self, media_for: Callable[[CocoFile, str], str]):
        self.media_for = media_for
        self.item_key: dict[tuple[str, object], int] = {}
        self.items: dict[str, list] = {k: [] for k in ("coco_id", "name", "subset", "media", "width", "height",
                                                       "extra")}
        self.labels: dict[str, dict] = {}  # name -> row (insertion order = label order)
        self.sublabels: list[dict] = []
        self.chunks: list[pd.DataFrame] = []
        self.info: dict = {}
        self.loss = LossReport("COCO")

    # -- items and labels ----------------------------------------------------------------
    def add_images(self, f: CocoFile) -> np.ndarray:
        images = _list(f.doc, "images", f.display)
        ids = _ids(images, "id", f.display, "image")
        out = np.empty(len(ids), dtype=np.int64)
        it = self.items
        for i, (iid, im) in enumerate(zip(ids, images, strict=False)):
            key = (f.subset, iid)
            pos = self.item_key.get(key)
            if pos is None:
                pos = self.item_key[key] = len(it["coco_id"])
                fn = im.get("file_name")
                fn = str(fn) if fn is not None else str(iid)
                it["coco_id"].append(iid)
                it["name"].append(fn)
                it["subset"].append(f.subset)
                it["media"].append(self.media_for(f, fn))
                it["width"].append(im.get("width"))
                it["height"].append(im.get("height"))
                ex = {k: v for k, v in im.items() if k not in KNOWN_IMG}
                it["extra"].append(ex or None)
            out[i] = pos
        return out

    def add_categories(self, f: CocoFile) -> tuple[list, list[str], dict]:
        cats = _list(f.doc, "categories", f.display)
        ids = _ids(cats, "id", f.display, "category")
        names = []
        kp_of = {}
        for cid, c in zip(ids, cats, strict=False):
            name = str(c.get("name", cid))
            names.append(name)
            if name not in self.labels:
                extra = {"coco_id": cid}
                if c.get("supercategory") not in (None, ""):
                    extra["supercategory"] = c["supercategory"]
                for k, v in c.items():
                    if k not in ("id", "name", "supercategory", "keypoints", "skeleton"):
                        extra[k] = v
                self.labels[name] = {"name": name, "type": "any", "extra": extra}
            if "keypoints" in c:
                kp_of[cid] = (list(c.get("keypoints") or []), c.get("skeleton") or [])
        return ids, names, kp_of

    def skeleton_label(self, name: str, kp_names: list[str], skeleton) -> None:
        row = self.labels[name]
        if row["type"] == "skeleton":
            return
        edges = normalize_edges(skeleton, len(kp_names))
        row["type"] = "skeleton"
        row["svg"] = svg_from_edges(kp_names, edges)
        row["extra"] = {**row["extra"], "keypoints": kp_names, "skeleton": edges}
        for kp in kp_names:
            self.sublabels.append({"name": kp, "type": "points", "parent": name})

    # -- annotations --------------------------------------------------------------------------
    def add_file(self, f: CocoFile) -> None:
        if not self.info and isinstance(f.doc.get("info"), dict):
            self.info = {"info": f.doc["info"], "licenses": f.doc.get("licenses")}
        item_pos = self.add_images(f)
        cat_ids, cat_names, kp_of = self.add_categories(f)
        anns = _list(f.doc, "annotations", f.display)
        if not anns:
            return
        if f.task == "panoptic":
            raise FormatError(f.display, "COCO panoptic annotations (segments_info + PNG) are not supported; "
                              "read the instances_/stuff_ files instead", element="annotations")
        if not all(type(a) is dict for a in anns):
            bad = next(i for i, a in enumerate(anns) if type(a) is not dict)
            raise FormatError(f.display, f"annotation #{bad} is not an object", element="annotations")
        ids = [a.get("id", i) for i, a in enumerate(anns)]
        img_index = pd.Index(_ids(f.doc.get("images") or [], "id", f.display, "image"))
        if not img_index.is_unique:
            dup = img_index[img_index.duplicated()].tolist()[0]
            raise FormatError(f.display, f"image id {dup!r} is listed twice", element="images")
        img_ref = [a.get("image_id") for a in anns]
        pos = img_index.get_indexer(pd.Index(img_ref, dtype=object)) if len(img_index) else np.full(len(anns), -1)
        if (pos < 0).any():
            b = int(np.flatnonzero(pos < 0)[0])
            raise FormatError(f.display, f"annotation id {ids[b]!r} points to image_id {img_ref[b]!r}, which is not "
                              f"in 'images'", element="annotations")
        item_rows = item_pos[pos]
        cat_ref = [a.get("category_id") for a in anns]
        if f.task == "captions":
            labels = np.full(len(anns), "", dtype=object)
        else:
            cindex = pd.Index(cat_ids)
            cpos = cindex.get_indexer(pd.Index(cat_ref, dtype=object)) if len(cindex) else np.full(len(anns), -1)
            if (cpos < 0).any():
                b = int(np.flatnonzero(cpos < 0)[0])
                raise FormatError(f.display, f"annotation id {ids[b]!r} points to category_id {cat_ref[b]!r}, which "
                                  f"is not in 'categories'", element="annotations")
            labels = np.asarray(cat_names, dtype=object)[cpos]
        common = _common(anns, ids)
        common["item_row"] = item_rows
        common["label"] = labels
        if f.task == "captions":
            caps = [a.get("caption") for a in anns]
            self.chunks.append(_rows(common, np.arange(len(anns)), type="text", text=caps))
            return
        if f.task in ("labels", "image_info"):
            self.chunks.append(_rows(common, np.arange(len(anns)), type="tag"))
            return
        self._instances(f, anns, ids, common, cat_ref, kp_of)

    def _instances(self, f: CocoFile, anns: list, ids: list, common: dict, cat_ref: list, kp_of: dict) -> None:
        n = len(anns)
        segs = [a.get("segmentation") for a in anns]
        bbs = [a.get("bbox") for a in anns]
        kps = [a.get("keypoints") for a in anns]
        kind = np.array([type(s) is dict or (2 if type(s) is list and s else 0) for s in segs], dtype=np.int8)
        is_rle, is_poly = kind == 1, kind == 2
        has_kp = np.array([type(k) is list and len(k) > 0 for k in kps], dtype=bool)
        has_box = np.array([b is not None for b in bbs], dtype=bool)
        is_box = ~is_rle & ~is_poly & has_box
        if has_kp.any():  # our writer's mark: this bbox is the skeleton's own, not an object grouped with it
            is_box &= ~np.array([k and a.get("bbox_from") == "skeleton" for a, k in zip(anns, has_kp, strict=True)])
        lost = ~is_rle & ~is_poly & ~has_box & ~has_kp
        if lost.any():
            b = int(np.flatnonzero(lost)[0])
            raise FormatError(f.display, f"annotation id {ids[b]!r} has no bbox, segmentation or keypoints",
                              element="annotations")
        multi = np.zeros(n, bool)
        parts: list[pd.DataFrame] = []
        # boxes: the hot path, one numpy array for all of them
        bi = np.flatnonzero(is_box)
        if len(bi):
            arr = _boxes([bbs[i] for i in bi], [ids[i] for i in bi], f.display)
            unrot = [i for i in bi if "unrotated_bbox" in anns[i]]
            rot = common["rotation"][bi]
            if unrot:
                where = {int(i): k for k, i in enumerate(bi)}
                for i in unrot:
                    arr[where[int(i)]] = _boxes([anns[i]["unrotated_bbox"]], [ids[i]], f.display)[0]
            parts.append(_rows(common, bi, type="bbox", x=arr[:, 0], y=arr[:, 1], w=arr[:, 2], h=arr[:, 3],
                               rotation=rot))
        # polygons: one row per list
        pi = np.flatnonzero(is_poly)
        if len(pi):
            src, pts = [], []
            for i in pi:
                s = segs[i]
                lists = [s] if not isinstance(s[0], list) else s
                for part in lists:
                    if not isinstance(part, list) or len(part) % 2 or len(part) < 2:
                        raise FormatError(f.display, f"annotation id {ids[i]!r}: polygon must be a flat list of "
                                          f"x, y pairs", element="segmentation")
                    src.append(i)
                    pts.append([float(v) for v in part])
                if len(lists) > 1:
                    multi[i] = True
            src = np.asarray(src, dtype=np.int64)
            x, y, w, h = geometry.points_bbox(pts)
            parts.append(_rows(common, src, type="polygon", x=x, y=y, w=w, h=h, points=pts))
        # masks: checked and compressed RLE
        mi = np.flatnonzero(is_rle)
        if len(mi):
            rles = []
            for i in mi:
                try:
                    rles.append(coco_rle.normalize_rle(segs[i]))
                except coco_rle.RLEError as exc:
                    raise FormatError(f.display, f"annotation id {ids[i]!r}: {exc}", element="segmentation") from None
            box = rle_bbox(rles)
            parts.append(_rows(common, mi, type="mask", x=box[:, 0], y=box[:, 1], w=box[:, 2], h=box[:, 3],
                               mask=rles))
        ki = np.flatnonzero(has_kp)
        if len(ki):
            multi[ki] = True
            parts.extend(self._keypoints(f, anns, ids, common, cat_ref, kp_of, ki, bbs, kps))
        chunk = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        src = chunk["_src"].to_numpy()
        parent_local = np.full(len(chunk), -1, dtype=np.int64)
        if len(ki):  # each keypoint row's skeleton row, by the annotation they both come from
            t = chunk["type"].to_numpy()
            sk = np.flatnonzero(t == "skeleton")
            child = chunk["_kp_child"].to_numpy(dtype=bool, na_value=False)
            parent_local[child] = pd.Series(sk, index=src[sk]).loc[src[child]].to_numpy()
        chunk["_parent_local"] = parent_local
        need = multi[src]
        chunk["_need_group"] = np.where(need, chunk["_src"].to_numpy(), -1)
        self.chunks.append(chunk)

    def _keypoints(self, f, anns, ids, common, cat_ref, kp_of, ki, bbs, kps) -> list[pd.DataFrame]:
        skel_src, skel_box, pt_src, pt_xy, pt_v, pt_label = [], [], [], [], [], []
        for i in ki:
            kp = kps[i]
            if len(kp) % 3:
                raise FormatError(f.display, f"annotation id {ids[i]!r}: keypoints must be [x, y, v] triples",
                                  element="keypoints")
            k = len(kp) // 3
            names, skeleton = kp_of.get(cat_ref[i], ([], []))
            names = list(names) + [str(j + 1) for j in range(len(names), k)]
            label = common["label"][i]
            self.skeleton_label(label, names, skeleton)
            a = np.asarray(kp, dtype=np.float64).reshape(k, 3)
            vis = a[:, 2] > 0
            if bbs[i] is not None:
                box = _boxes([bbs[i]], [ids[i]], f.display)[0]
            elif vis.any():
                lo, hi = a[vis, :2].min(0), a[vis, :2].max(0)
                box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
            else:
                box = np.full(4, np.nan)
            skel_src.append(i)
            skel_box.append(box)
            for j in range(k):
                pt_src.append(i)
                pt_xy.append([float(a[j, 0]), float(a[j, 1])])
                pt_v.append(int(a[j, 2]))
                pt_label.append(names[j])
        sb = np.asarray(skel_box, dtype=np.float64).reshape(-1, 4)
        skel = _rows(common, np.asarray(skel_src), type="skeleton", x=sb[:, 0], y=sb[:, 1], w=sb[:, 2], h=sb[:, 3])
        v = np.asarray(pt_v)
        xy = np.asarray(pt_xy, dtype=np.float64).reshape(-1, 2)
        pts = _rows(common, np.asarray(pt_src), type="points", x=xy[:, 0], y=xy[:, 1], w=np.zeros(len(v)),
                    h=np.zeros(len(v)), points=pt_xy, label=np.asarray(pt_label, dtype=object))
        pts["outside"] = v == 0
        pts["occluded"] = v == 1
        pts["attributes"] = None
        pts["_kp_child"] = True
        return [skel, pts]

    # -- the result ---------------------------------------------------------------------------
    def dataset(self, media_root: str | None, info: dict) -> Dataset:
        it = self.items
        coco_ids = it["coco_id"]
        if all(type(v) is int for v in coco_ids) and len(set(coco_ids)) == len(coco_ids):
            item_ids = np.asarray(coco_ids, dtype=np.int64)
            extras = it["extra"]
        else:  # ids clash between subsets (each starts at 1) or are not ints: number them, keep the original
            item_ids = np.arange(len(coco_ids), dtype=np.int64)
            extras = [{**(e or {}), "coco_id": c} for e, c in zip(it["extra"], coco_ids, strict=False)]
        items = pd.DataFrame({"item_id": item_ids, "name": it["name"], "subset": it["subset"],
                              "frame": np.arange(len(coco_ids)), "media": it["media"],
                              "width": pd.array(it["width"], dtype="Int64"),
                              "height": pd.array(it["height"], dtype="Int64"), "kind": "image",
                              "extra": pd.Series(extras, dtype=object)})
        ann = self._annotations(item_ids)
        labels = pd.DataFrame(list(self.labels.values()) + self.sublabels)
        info = {**info, **({"coco": self.info} if self.info else {})}
        ds = Dataset(items=items, annotations=ann, labels=labels if len(labels) else None, info=info,
                     media_root=media_root)
        ds.loss.extend(self.loss)
        return ds

    def _annotations(self, item_ids: np.ndarray) -> pd.DataFrame | None:
        if not self.chunks:
            return None
        offsets, start, need_keys = [], 0, []
        for ci, c in enumerate(self.chunks):
            offsets.append(start)
            start += len(c)
            if "_need_group" in c:
                need_keys.append(np.where(c["_need_group"].to_numpy() >= 0,
                                          ci * (1 << 32) + c["_need_group"].to_numpy(), -1))
            else:
                need_keys.append(np.full(len(c), -1))
        df = pd.concat(self.chunks, ignore_index=True)
        n = len(df)
        df["ann_id"] = np.arange(n, dtype=np.int64)
        df["item_id"] = item_ids[df.pop("item_row").to_numpy()]
        # parent_id: the skeleton row of each keypoint row, by position within its chunk
        parent = np.full(n, -1, dtype=np.int64)
        for off, c in zip(offsets, self.chunks, strict=False):
            if "_parent_local" in c:
                loc = c["_parent_local"].to_numpy()
                has = loc >= 0
                parent[off + np.flatnonzero(has)] = off + loc[has]
        df["parent_id"] = pd.array(np.where(parent >= 0, parent, 0), dtype="Int64")
        df.loc[parent < 0, "parent_id"] = pd.NA
        # groups for multi-polygon instances and keypoint instances that had none
        keys = np.concatenate(need_keys)
        grp = df["group"].astype("Int64")
        needs = (keys >= 0) & grp.isna().to_numpy()
        if needs.any():
            base = int(grp.max()) if grp.notna().any() else 0
            codes, _ = pd.factorize(keys[needs])
            grp = grp.to_numpy(dtype=object, na_value=None)
            grp[needs] = base + 1 + codes
            df["group"] = pd.array(grp, dtype="Int64")
        return df.drop(columns=[c for c in df.columns if c.startswith("_")])


def _boxes(bbs: list, ids: list, display: str) -> np.ndarray:
    try:
        arr = np.asarray(bbs, dtype=np.float64)
        if arr.ndim == 2 and arr.shape[1] == 4:
            return arr
    except (ValueError, TypeError):
        pass
    for b, i in zip(bbs, ids, strict=False):
        if not (isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)):
            raise FormatError(display, f"annotation id {i!r}: bbox must be [x, y, w, h] numbers, got {b!r}",
                              element="bbox")
    raise FormatError(display, "bbox values must be numbers", element="bbox")


def _common(anns: list, ids: list) -> dict:
    """Per-annotation columns every row type shares: provenance, attributes, extra."""
    n = len(anns)
    score = [a.get("score", _MISSING) for a in anns]
    is_pred = np.array([v is not _MISSING for v in score], dtype=bool)
    annotator = [a.get("annotator") for a in anns]
    attrs = [a.get("attributes") for a in anns]
    occluded = np.zeros(n, bool)
    rotation = np.zeros(n)
    keyframe = np.zeros(n, bool)
    track: list = [None] * n
    group: list = [None] * n
    user: list = [None] * n
    for i, at in enumerate(attrs):
        if not at or type(at) is not dict:
            continue
        rest = {k: v for k, v in at.items() if k not in SPECIAL_ATTRS}
        if "occluded" in at:
            occluded[i] = bool(at["occluded"])
        if "rotation" in at:
            try:
                rotation[i] = float(at["rotation"])
            except (TypeError, ValueError):
                rest["rotation"] = at["rotation"]
        if "keyframe" in at:
            keyframe[i] = bool(at["keyframe"])
        for key, out in (("track_id", track), ("group", group)):
            v = at.get(key)
            if type(v) is int:
                out[i] = v
            elif v is not None:
                rest[key] = v
        user[i] = rest or None
    extra = [None if a.keys() <= KNOWN_ANN else {k: v for k, v in a.items() if k not in KNOWN_ANN} for a in anns]
    # iscrowd is implied by the kind (1 for RLE, 0 otherwise); keep it only where it says otherwise
    crowd = np.array([a.get("iscrowd", -1) for a in anns], dtype=object)
    has = crowd != -1
    if has.any():
        rle = np.array([type(a.get("segmentation")) is dict for a in anns], dtype=bool)
        for i in np.flatnonzero(has & (crowd.astype(bool) != rle)):
            extra[i] = {**(extra[i] or {}), "iscrowd": anns[i]["iscrowd"]}
    if is_pred.any():
        score_arr = np.array([np.nan if (v is None or v is _MISSING) else v for v in score], dtype=np.float64)
    else:
        score_arr = np.full(n, np.nan)
    return {
        "src_id": ids, "score": score_arr,
        "source": np.where(is_pred, "prediction", "annotation"), "annotator": annotator,
        "occluded": occluded, "rotation": rotation, "keyframe": keyframe,
        "track_id": track, "group": group, "attributes": user, "extra": extra,
    }


def _region_ids(ids: list, idx: np.ndarray):
    """The COCO ids of rows as strings (vectorised when they are all ints, as they should be)."""
    if ids and all(type(v) is int for v in ids):
        return pd.array(np.asarray(ids, dtype=np.int64)[idx].astype(str), dtype="str")
    return pd.array([str(ids[i]) for i in idx], dtype="str")


def _take(col, idx: np.ndarray):
    if isinstance(col, np.ndarray):
        return col[idx]
    return [col[i] for i in idx]


def _rows(common: dict, idx: np.ndarray, type: str, **cols) -> pd.DataFrame:
    """Rows for annotations ``idx`` (positions in the file) of one ``type``; ``cols`` per row."""
    idx = np.asarray(idx, dtype=np.int64)
    data = {
        "_src": idx,
        "item_row": common["item_row"][idx],
        "label": common["label"][idx],
        "type": type,
        "source": common["source"][idx],
        "score": common["score"][idx],
        "annotator": pd.array(_take(common["annotator"], idx), dtype="str") if any(
            v is not None for v in common["annotator"]) else pd.NA,
        "region_id": _region_ids(common["src_id"], idx),
        "occluded": common["occluded"][idx],
        "keyframe": common["keyframe"][idx],
        "track_id": pd.array(_take(common["track_id"], idx), dtype="Int64"),
        "group": pd.array(_take(common["group"], idx), dtype="Int64"),
        "attributes": pd.Series(_take(common["attributes"], idx), dtype=object),
        "extra": pd.Series(_take(common["extra"], idx), dtype=object),
    }
    for k, v in cols.items():
        data[k] = pd.Series(v, dtype=object) if isinstance(v, list) else v
    return pd.DataFrame(data)


def build(files: list[CocoFile], media_for: Callable[[CocoFile, str], str], media_root: str | None = None,
          info: dict | None = None) -> Dataset:
    """A :class:`Dataset` from parsed COCO files (images, categories, annotations of each)."""
    b = _Builder(media_for)
    with gc_paused():
        for f in files:
            b.add_file(f)
            f.doc = None  # the parsed JSON is the largest thing alive; let it go before the tables are built
        return b.dataset(media_root, info or {})
