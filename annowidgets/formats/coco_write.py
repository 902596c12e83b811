"""Our tables -> COCO JSON documents, shared by CVAT's COCO 1.0 / Keypoints 1.0 and Label Studio's COCO.

The annotation dicts are built in one pass per shape type from column arrays, then put in
item order and dumped with orjson. Choices (and why):
- rotated boxes: ``bbox`` is the axis-aligned box around the rotated one, computed in
  pixels (Label Studio does it in percent and gets it wrong on non-square images); the
  angle stays in ``attributes.rotation`` and the exact box in ``unrotated_bbox``.
  ``rotated_boxes="cvat"`` writes the unrotated box instead, as CVAT does.
- ellipses are rasterised to RLE masks in pixels (``iscrowd=1``), as CVAT does.
- grouped objects are NOT merged into one instance (CVAT/Datumaro merge them and lose the
  second label); the group id goes to ``attributes.group``. The exception is a skeleton
  written as keypoints: the first box and the polygons (else the first mask) of its group
  are its annotation's ``bbox`` and ``segmentation``, as COCO keypoints have it, and are not
  written again on their own (the reader gives them back as rows in the skeleton's group).
  Without them the bbox is the skeleton's own, marked ``bbox_from: "skeleton"`` so that our
  reader does not make a box row of it. Polygon rows that share a
  ``region_id`` (the parts of one COCO instance) are written back as one instance.
- every annotation set is written; predictions carry ``score``; ``annotator`` is kept.
- ``area``: box w*h, polygon shoelace, mask pixel count (pycocotools).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd

from ..core import geometry
from ..core.dataset import Dataset
from ..core.gcpause import gc_paused
from ..core.loss import LossReport
from ..core.masks import coco_encode, rle_area, rle_bbox
from . import coco_rle
from ._media import unique_file_names
from .coco_skeleton import skeleton_spec

WRITABLE = {"bbox", "polygon", "mask", "ellipse"}


@dataclass
class Flavour:
    """What differs between the COCO layouts we write."""

    name: str  # "cvat" | "keypoints" | "ls"
    first_id: int = 1  # categories, images and annotations are numbered from here
    keypoints: bool = False  # skeletons become keypoint annotations
    only_keypoints: bool = False  # everything but skeletons (and their boxes) is a loss
    ls_fields: bool = False  # Label Studio's ``ignore: 0`` and its ``info`` block

    @property
    def format(self) -> str:
        return {"cvat": "COCO 1.0", "keypoints": "COCO Keypoints 1.0", "ls": "COCO"}[self.name]


CVAT = Flavour("cvat")
KEYPOINTS = Flavour("keypoints", keypoints=True, only_keypoints=True)
LS = Flavour("ls", first_id=0, keypoints=True, ls_fields=True)


def dumps(doc: dict) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str)


def _isna(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def categories(ds: Dataset, fl: Flavour, used: pd.Series) -> tuple[list[dict], dict[str, int]]:
    """COCO categories in label order (labels table first, then labels only annotations use)."""
    labels = ds.labels
    top = labels[labels["parent"].isna()]
    names = list(dict.fromkeys(top["name"].tolist() + [n for n in used.tolist() if n not in set(top["name"])]))
    if fl.only_keypoints:
        sk = set(top.loc[top["type"] == "skeleton", "name"]) | set(used)
        names = [n for n in names if n in sk]
    extra_of = dict(zip(top["name"], top["extra"], strict=False))
    cats, ids = [], {}
    for k, name in enumerate(names):
        cid = k + fl.first_id
        ids[name] = cid
        ex = extra_of.get(name)
        ex = ex if isinstance(ex, dict) else {}
        cat = {"id": cid, "name": name}
        if not fl.ls_fields or ex.get("supercategory"):
            cat["supercategory"] = ex.get("supercategory", "")
        cats.append(cat)
    return cats, ids


def _attributes(rows: pd.DataFrame, fl: Flavour) -> list:
    """CVAT's per-annotation ``attributes``: user attributes plus occluded, rotation, track, group."""
    occ = rows["occluded"].tolist()
    rot = rows["rotation"].astype(float).tolist()
    user = rows["attributes"].tolist()
    track = rows["track_id"].astype(object).where(rows["track_id"].notna(), None).tolist()
    key = rows["keyframe"].tolist()
    grp = rows["group"].astype(object).where(rows["group"].notna(), None).tolist()
    out = []
    for o, r, u, t, k, g in zip(occ, rot, user, track, key, grp, strict=False):
        d = dict(u) if isinstance(u, dict) else {}
        if fl.ls_fields and not d and not o and not r and t is None and g is None:
            out.append(None)
            continue
        d["occluded"] = bool(o)
        d["rotation"] = r
        if t is not None:
            d["track_id"] = int(t)
            d["keyframe"] = bool(k)
        if g is not None:
            d["group"] = int(g)
        out.append(d)
    return out


def _finish(dicts: list[dict], rows: pd.DataFrame, fl: Flavour) -> None:
    """Add what every annotation carries besides geometry: attributes, score, annotator, extra."""
    attrs = _attributes(rows, fl)
    pred = (rows["source"] == "prediction").to_numpy()
    score = rows["score"].to_numpy(dtype=float)
    who_col = rows["annotator"]
    annot = who_col.astype(object).where(who_col.notna(), None).tolist()
    extra = rows["extra"].tolist()
    for d, a, p, s, who, ex in zip(dicts, attrs, pred, score, annot, extra, strict=False):
        if a is not None:
            d["attributes"] = a
        if p:
            d["score"] = None if np.isnan(s) else float(s)
        if who is not None:
            d["annotator"] = who
        if isinstance(ex, dict) and ex:
            if "iscrowd" in ex:
                d["iscrowd"] = ex["iscrowd"]
            for k, v in ex.items():
                if k not in d:
                    d[k] = v


class _Writer:
    def __init__(self, ds: Dataset, fl: Flavour, report: LossReport, options: dict):
        self.ds, self.fl, self.report, self.options = ds, fl, report, options
        self.rotated = options.get("rotated_boxes", "enclose")

    def annotations(self, a: pd.DataFrame, item_pos: dict, cat_ids: dict, sizes: dict) -> tuple[list, np.ndarray]:
        """``(dicts, item order key)`` of every writable row of ``a``; losses reported."""
        fl, rep = self.fl, self.report
        out: list[tuple[np.ndarray, list]] = []
        t = a["type"]
        child = a["parent_id"].notna() & a["parent_id"].isin(a.loc[t == "skeleton", "ann_id"])
        is_sk = t == "skeleton"
        skip_outside = a["outside"].to_numpy(dtype=bool) & ~child.to_numpy()
        hidden_sk = a.loc[skip_outside & is_sk.to_numpy(), "ann_id"]
        skip_outside |= child.to_numpy() & a["parent_id"].isin(hidden_sk).to_numpy()  # points of a hidden skeleton
        if skip_outside.any():
            rep.add("annotations", a.loc[skip_outside, "ann_id"], "outside (hidden) track frames are not objects in COCO")
        live = ~skip_outside
        consumed = np.zeros(len(a), bool)
        if fl.keypoints and is_sk.any():
            dicts, pos, used = self._keypoints(a, is_sk.to_numpy() & live, child.to_numpy(), cat_ids, sizes)
            out.append((pos, dicts))
            consumed |= used  # a skeleton's box and segment are in its keypoint annotation: not again on their own
        elif is_sk.any() or child.any():
            rep.add("annotations", a.loc[(is_sk | child).to_numpy() & live, "ann_id"],
                    f"skeletons are not carried by {fl.format} (use COCO Keypoints 1.0)")
        consumed |= child.to_numpy() | is_sk.to_numpy()
        rest = live & ~consumed
        if fl.only_keypoints:
            rep.add("annotations", a.loc[rest, "ann_id"], "COCO Keypoints 1.0 carries only skeletons and the boxes "
                                                          "grouped with them")
            rest[:] = False
        tt = t.to_numpy()
        other = rest & ~np.isin(tt, list(WRITABLE))
        for kind in pd.unique(tt[other]):
            rep.add("annotations", a.loc[other & (tt == kind), "ann_id"], f"{kind} rows have no COCO representation")
        z = rest & np.isin(tt, list(WRITABLE)) & (a["z_order"].to_numpy() != 0)
        if z.any():
            rep.add("annotations", a.loc[z, "ann_id"], "z_order has no place in COCO")
        for kind, fn in (("bbox", self._boxes), ("polygon", self._polygons), ("mask", self._masks),
                         ("ellipse", self._ellipses)):
            sel = rest & (tt == kind)
            if sel.any():
                pos, dicts = fn(a[sel], np.flatnonzero(sel), cat_ids, sizes)
                out.append((pos, dicts))
        if not out:
            return [], np.zeros(0, dtype=np.int64)
        pos = np.concatenate([p for p, _ in out])
        dicts = [d for _, ds_ in out for d in ds_]
        order = np.argsort(pos, kind="stable")
        dicts = [dicts[i] for i in order]
        key = np.asarray([item_pos[i] for i in a["item_id"].to_numpy()[pos[order]]], dtype=np.int64)
        return dicts, key

    # -- one function per shape type ---------------------------------------------------------
    def _boxes(self, rows, pos, cat_ids, sizes):
        x, y, w, h = (rows[c].to_numpy(dtype=float) for c in ("x", "y", "w", "h"))
        r = rows["rotation"].to_numpy(dtype=float)
        rot = (r % 360) != 0
        unrot = None
        if rot.any() and self.rotated != "cvat":
            unrot = np.stack([x, y, w, h], 1)
            ex, ey, ew, eh = geometry.enclosing_box(x[rot], y[rot], w[rot], h[rot], r[rot])
            x, y, w, h = x.copy(), y.copy(), w.copy(), h.copy()
            x[rot], y[rot], w[rot], h[rot] = ex, ey, ew, eh
        cat = [cat_ids[n] for n in rows["label"].tolist()]
        area = (w * h).tolist()
        ign = self.fl.ls_fields
        dicts = [{"id": 0, "image_id": 0, "category_id": c, "segmentation": [], "area": ar,
                  "bbox": [bx, by, bw, bh], "iscrowd": 0} for c, ar, bx, by, bw, bh in
                 zip(cat, area, x.tolist(), y.tolist(), w.tolist(), h.tolist(), strict=False)]
        if ign:
            for d in dicts:
                d["ignore"] = 0
        if unrot is not None:
            for i in np.flatnonzero(rot):
                dicts[i]["unrotated_bbox"] = unrot[i].tolist()
        _finish(dicts, rows, self.fl)
        return pos, dicts

    def _polygons(self, rows, pos, cat_ids, sizes):
        n_pts = rows["points"].map(lambda p: len(p) if isinstance(p, (list, tuple, np.ndarray)) else 0).to_numpy()
        bad = (n_pts < 6) | (n_pts % 2 == 1)
        if bad.any():  # pycocotools cannot rasterise them (and reads 4 numbers as a box)
            self.report.add("annotations", rows.loc[bad, "ann_id"], "polygon with fewer than 3 points")
            rows, pos = rows[~bad], pos[~bad]
            if not len(rows):
                return pos, []
        # parts of one COCO instance share item, set, region and label: one annotation again
        key = [f"{i}\x1f{s}\x1f{r}\x1f{lab}" if isinstance(r, str) else f"\x1e{a}" for i, s, r, lab, a in
               zip(rows["item_id"].tolist(), rows["set_id"].tolist(), rows["region_id"].tolist(),
                   rows["label"].tolist(), rows["ann_id"].tolist(), strict=False)]
        codes, _ = pd.factorize(np.asarray(key, dtype=object))
        pts = rows["points"].tolist()
        area = np.bincount(codes, geometry.polygon_area(pts))
        x, y, w, h = geometry.points_bbox(pts)
        g = pd.DataFrame({"c": codes, "x0": x, "y0": y, "x1": x + w, "y1": y + h})
        agg = g.groupby("c", sort=True).agg(x0=("x0", "min"), y0=("y0", "min"), x1=("x1", "max"), y1=("y1", "max"))
        first = np.unique(codes, return_index=True)[1]
        segs: list[list] = [[] for _ in range(len(first))]
        for c, p in zip(codes, pts, strict=False):
            segs[c].append([float(v) for v in p])
        lead = rows.iloc[first]
        cat = [cat_ids[n] for n in lead["label"].tolist()]
        dicts = [{"id": 0, "image_id": 0, "category_id": c, "segmentation": s, "area": float(ar),
                  "bbox": [float(a0), float(b0), float(a1 - a0), float(b1 - b0)], "iscrowd": 0}
                 for c, s, ar, a0, b0, a1, b1 in zip(cat, segs, area, agg["x0"], agg["y0"], agg["x1"], agg["y1"], strict=False)]
        if self.fl.ls_fields:
            for d in dicts:
                d["ignore"] = 0
        _finish(dicts, lead, self.fl)
        return pos[first], dicts

    def _masks(self, rows, pos, cat_ids, sizes):
        rles, ok = [], []
        for m in rows["mask"].tolist():
            try:
                rles.append(coco_rle.normalize_rle(m))
                ok.append(True)
            except coco_rle.RLEError:
                ok.append(False)
        ok = np.asarray(ok, bool)
        if not ok.all():
            self.report.add("annotations", rows.loc[~ok, "ann_id"], "mask is not a valid COCO RLE for its size")
            rows, pos = rows[ok], pos[ok]
        return pos, self._rle_dicts(rows, rles, cat_ids)

    def _rle_dicts(self, rows, rles, cat_ids):
        area = rle_area(rles).tolist()
        box = rle_bbox(rles).tolist()
        cat = [cat_ids[n] for n in rows["label"].tolist()]
        dicts = [{"id": 0, "image_id": 0, "category_id": c, "segmentation": r, "area": ar, "bbox": b, "iscrowd": 1}
                 for c, r, ar, b in zip(cat, rles, area, box, strict=False)]
        if self.fl.ls_fields:
            for d in dicts:
                d["ignore"] = 0
        _finish(dicts, rows, self.fl)
        return dicts

    def _ellipses(self, rows, pos, cat_ids, sizes):
        rles, ok = [], []
        for iid, x, y, w, h, r in zip(rows["item_id"], rows["x"], rows["y"], rows["w"], rows["h"], rows["rotation"], strict=False):
            hw = sizes.get(iid)
            if hw is None:
                ok.append(False)
                continue
            rles.append(coco_encode(coco_rle.ellipse_mask(x, y, w, h, r, hw[0], hw[1])))
            ok.append(True)
        ok = np.asarray(ok, bool)
        if not ok.all():
            self.report.add("annotations", rows.loc[~ok, "ann_id"], "ellipse on an item of unknown size: cannot "
                                                                    "rasterise it")
        self.report.add("annotations", rows.loc[ok, "ann_id"], "ellipse written as an RLE mask (iscrowd=1); the "
                                                              "ellipse shape type is not kept")
        rows, pos = rows[ok], pos[ok]
        return pos, self._rle_dicts(rows, rles, cat_ids)

    def _keypoints(self, a, is_sk, child, cat_ids, sizes):
        """One keypoint annotation per skeleton row; returns dicts, positions, rows consumed."""
        used = np.zeros(len(a), bool)
        sk_pos = np.flatnonzero(is_sk)
        kids = a[child]
        by_parent = {p: g for p, g in kids.groupby(kids["parent_id"].astype("int64"), sort=False)}
        tt = a["type"].to_numpy()
        grp = a["group"]
        in_group = a[grp.notna().to_numpy() & np.isin(tt, ["bbox", "polygon", "mask"]) & ~a["outside"].to_numpy(bool)]
        grp_rows = {k: g for k, g in in_group.groupby([in_group["item_id"].astype("int64"),
                                                       in_group["group"].astype("int64")], sort=False)}
        row_of = pd.Series(np.arange(len(a)), index=a["ann_id"].to_numpy())
        spec_cache: dict[str, tuple] = {}
        child_labels = kids.groupby(kids["parent_id"].astype("int64"))["label"].agg(list) if len(kids) else {}
        dicts, relabelled = [], []
        sk_rows = a.iloc[sk_pos]
        for (_, s) in sk_rows.iterrows():
            label = s["label"]
            if label not in spec_cache:
                fallback = []
                for pid in sk_rows.loc[sk_rows["label"] == label, "ann_id"]:
                    fallback.extend(n for n in child_labels.get(int(pid), []) if n not in fallback)
                spec_cache[label] = skeleton_spec(self.ds.labels, label, fallback)
            names, _edges = spec_cache[label]
            kp = [0.0] * (3 * len(names))
            pts = by_parent.get(int(s["ann_id"]))
            vis_xy = []
            if pts is not None:
                used[row_of.loc[pts["ann_id"].to_numpy()].to_numpy()] = True
                for lab, p, x, y, out, occ in zip(pts["label"], pts["points"], pts["x"], pts["y"], pts["outside"],
                                                  pts["occluded"], strict=False):
                    j = names.index(lab)
                    if isinstance(p, (list, np.ndarray)) and len(p) >= 2:
                        x, y = float(p[0]), float(p[1])
                    if out or _isna(x):
                        continue
                    kp[3 * j:3 * j + 3] = [float(x), float(y), 1 if occ else 2]
                    vis_xy.append((float(x), float(y)))
            seg, box, area, crowd, extent, parts = [], None, None, 0, None, []
            g = None if _isna(s["group"]) else grp_rows.get((int(s["item_id"]), int(s["group"])))
            if g is not None:  # the instance's box and segment: each row goes into one annotation only
                g = g[~used[row_of.loc[g["ann_id"].to_numpy()].to_numpy()]]
                boxes, polys, masks = (g[g["type"] == k] for k in ("bbox", "polygon", "mask"))
                if len(boxes):
                    b = boxes.iloc[0]
                    box = [float(b["x"]), float(b["y"]), float(b["w"]), float(b["h"])]
                    parts.append(boxes.iloc[:1])
                if len(polys):
                    seg = [[float(v) for v in p] for p in polys["points"]]
                    area = float(geometry.polygon_area(polys["points"].tolist()).sum())
                    px, py, pw, ph = geometry.points_bbox([np.concatenate(polys["points"].tolist())])
                    extent = [float(px[0]), float(py[0]), float(pw[0]), float(ph[0])]
                    parts.append(polys)
                elif len(masks):
                    try:
                        rle = coco_rle.normalize_rle(masks["mask"].iloc[0])
                    except coco_rle.RLEError:
                        rle = None  # left to _masks, which reports it
                    if rle is not None:
                        seg, crowd = rle, 1
                        area = float(rle_area([rle])[0])
                        extent = [float(v) for v in rle_bbox([rle])[0]]
                        parts.append(masks.iloc[:1])
                for part in parts:
                    used[row_of.loc[part["ann_id"].to_numpy()].to_numpy()] = True
                    own = (part["label"] != label) | part["attributes"].map(
                        lambda d, sa=s["attributes"]: bool(d) and d != sa).to_numpy(dtype=bool)
                    relabelled.extend(part.loc[own, "ann_id"].tolist())
            if box is None:
                if not any(_isna(s[k]) for k in ("x", "y", "w", "h")):
                    box = [float(s["x"]), float(s["y"]), float(s["w"]), float(s["h"])]
                elif extent is not None:
                    box = extent
                elif vis_xy:
                    xy = np.asarray(vis_xy)
                    lo, hi = xy.min(0), xy.max(0)
                    box = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
                else:
                    box = [0.0, 0.0, 0.0, 0.0]
            d = {"id": 0, "image_id": 0, "category_id": cat_ids[label], "segmentation": seg,
                 "area": area if area is not None else box[2] * box[3], "bbox": box, "iscrowd": crowd,
                 "keypoints": kp, "num_keypoints": int(sum(1 for v in kp[2::3] if v > 0))}
            if not parts:  # no box row is written here: our reader makes none (others ignore the key)
                d["bbox_from"] = "skeleton"
            dicts.append(d)
        _finish(dicts, sk_rows, self.fl)
        self.report.add("annotations", relabelled, "grouped with a skeleton: written as the box or segment of its "
                                                   "keypoint annotation, under the skeleton's label and attributes")
        return dicts, sk_pos, used


def keypoint_categories(ds: Dataset, cats: list[dict], a: pd.DataFrame) -> None:
    """Add ``keypoints`` names and 1-based ``skeleton`` edges to the categories of skeleton labels."""
    labels = ds.labels
    sk_labels = set(labels.loc[labels["type"] == "skeleton", "name"]) | set(a.loc[a["type"] == "skeleton", "label"])
    kids = a[a["parent_id"].notna()]
    parents = a.set_index("ann_id")["label"]
    for c in cats:
        if c["name"] not in sk_labels:
            continue
        fallback: list[str] = []
        if len(kids):
            mine = kids[kids["parent_id"].map(parents) == c["name"]]
            fallback = list(dict.fromkeys(mine["label"].tolist()))
        names, edges = skeleton_spec(labels, c["name"], fallback)
        c["keypoints"] = names
        c["skeleton"] = edges


def file_names_cvat(items: pd.DataFrame, groups=None, rename_given: bool = False) -> tuple[list[str], list]:
    """CVAT layout: the item's name (it may hold sub-folders), else the media's base name.

    Names are unique within each of ``groups`` (the subsets: each has its own images folder);
    see :func:`._media.unique_file_names`. Returns the names and the items whose name changed.
    """
    given = [n.lstrip("/") if isinstance(n, str) else None for n in items["name"].tolist()]
    return unique_file_names(items, groups, given=given, rename_given=rename_given, fallback="{}")


def build_doc(ds: Dataset, items: pd.DataFrame, ann: pd.DataFrame, fl: Flavour, report: LossReport,
              options: dict, file_names: list[str], image_ids: list[int], cats: list[dict],
              cat_ids: dict) -> dict:
    """One COCO document for ``items`` and their annotations ``ann``."""
    item_pos = dict(zip(items["item_id"].tolist(), range(len(items)), strict=False))
    sizes = {iid: (int(h), int(w)) for iid, h, w in zip(items["item_id"], items["height"], items["width"], strict=False)
             if not _isna(h) and not _isna(w)}
    with gc_paused():
        dicts, key = _Writer(ds, fl, report, options).annotations(ann, item_pos, cat_ids, sizes)
    if len(dicts):
        order = np.argsort(key, kind="stable")
        img = np.asarray(image_ids, dtype=np.int64)[key[order]].tolist()
        dicts = [dicts[i] for i in order]
        for n, (d, im) in enumerate(zip(dicts, img, strict=False)):
            d["id"] = n + fl.first_id + options.get("_ann_base", 0)
            d["image_id"] = im
    images = []
    extras = items["extra"].tolist()
    for iid, fn, w, h, ex in zip(image_ids, file_names, items["width"], items["height"], extras, strict=False):
        im = {"width": None if _isna(w) else int(w), "height": None if _isna(h) else int(h), "id": iid,
              "file_name": fn}
        if isinstance(ex, dict):
            for k, v in ex.items():
                if k not in im and k != "coco_id":
                    im[k] = v
        images.append(im)
    coco = ds.info.get("coco") if isinstance(ds.info.get("coco"), dict) else {}
    now = _dt.datetime.now()
    if fl.ls_fields:
        info = {"year": now.year, "version": "1.0", "description": "", "contributor": "annowidgets", "url": "",
                "date_created": str(now)}
        return {"images": images, "categories": cats, "annotations": dicts, "info": coco.get("info") or info}
    info = coco.get("info") or {"contributor": "", "date_created": "", "description": "", "url": "", "version": "",
                                "year": ""}
    licenses = coco.get("licenses") or [{"name": "", "id": 0, "url": ""}]
    return {"licenses": licenses, "info": info, "categories": cats, "images": images, "annotations": dicts}
