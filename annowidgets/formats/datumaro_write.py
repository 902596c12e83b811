"""Our tables -> CVAT's "Datumaro 1.0": one ``annotations/<subset>.json`` per subset.

Written as CVAT's Datumaro fork writes it (``info``, ``categories``, ``items``; no
``dm_format_version``, which upstream Datumaro reads as its legacy layout):
- labels: every label of the labels table, skeleton point labels with their ``parent``; an
  annotation's ``label_id`` is the index of its (name, parent) pair in that list; colours go to
  ``categories.mask.colormap``, skeleton point names and 1-based edges to ``categories.points``.
- items: ``id`` is the name without its extension (or the id the file we read gave),
  ``image`` ``{path: name, size: [h, w]}``, ``attr.frame``.
- annotations: CVAT's attributes ``occluded`` (always), ``rotation`` (boxes and ellipses) and, on
  track rows, ``track_id`` + ``keyframe``; outside track frames are not written (CVAT drops them);
  skeleton points are ``elements`` of their skeleton with visibility 0 (outside), 1 (occluded)
  or 2. 2D cuboids are dropped, as CVAT does; what has no place is named in the loss report.
- ``three_d=True`` writes "Datumaro 3D 1.0" instead: point-cloud items (:mod:`.datumaro_pcd`),
  ``cuboid_3d`` (``position``/``rotation``/``scale`` from the 9 ``points``, no ``z_order``, as
  Datumaro writes them) and tags; 2D shapes have no place in a point-cloud task and are reported,
  as 3D cuboids are in the 2D format.
The dicts are built a shape type at a time from column lists, then put in item order.
"""
from __future__ import annotations

import posixpath

import numpy as np
import orjson
import pandas as pd

from ..core.dataset import Dataset
from ..core.io import Sink
from . import datumaro_pcd
from ._carry import report_predictions_as_shapes
from ._media import copy_media
from .coco_skeleton import skeleton_spec
from .registry import WriteContext

NAME = "Datumaro 1.0"
WRITTEN = ("tag", "bbox", "polygon", "polyline", "points", "ellipse", "mask", "skeleton", "text")
NAME_3D = "Datumaro 3D 1.0"
WRITTEN_3D = ("tag", "cuboid_3d")


def _na(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _label_list(ds: Dataset, a: pd.DataFrame, parent_label: pd.Series) -> tuple[list[tuple[str, str]], dict]:
    """(name, parent) pairs in label-table order, then pairs only annotations use; and their specs."""
    lab = ds.labels
    keys: list[tuple[str, str]] = []
    spec: dict[tuple[str, str], dict] = {}
    for name, parent, attrs, color, ltype in zip(lab["name"], lab["parent"], lab["attributes"], lab["color"],
                                                 lab["type"], strict=True):
        key = (str(name), "" if _na(parent) else str(parent))
        if key not in spec:
            keys.append(key)
            spec[key] = {"attributes": [str(x.get("name")) for x in attrs if isinstance(x, dict)]
                         if isinstance(attrs, list) else [], "color": color, "type": ltype}
    pl = a["parent_id"].map(parent_label)
    used = pd.DataFrame({"n": a["label"].fillna("").astype(str), "p": pl.where(pl.notna(), "").astype(str)})
    for n, p in used.drop_duplicates().itertuples(index=False):
        if n and (n, p) not in spec:
            keys.append((n, p))
            spec[(n, p)] = {"attributes": [], "color": pd.NA, "type": "points" if p else "any"}
    return keys, spec


def _categories(ds: Dataset, a: pd.DataFrame, keys, spec, index, parent_label) -> dict:
    user_attrs: dict[tuple[str, str], set] = {}
    has = a["attributes"].map(lambda d: isinstance(d, dict) and bool(d)).to_numpy(dtype=bool)
    sel = a[has]
    pl = sel["parent_id"].map(parent_label).astype(object).tolist()
    for n, p, at in zip(sel["label"].astype(object).tolist(), pl, sel["attributes"].tolist(), strict=True):
        user_attrs.setdefault((str(n), "" if _na(p) else str(p)), set()).update(map(str, at))
    labels = [{"name": n, "parent": p,
               "attributes": sorted(set(spec[(n, p)]["attributes"]) | user_attrs.get((n, p), set()))}
              for n, p in keys]
    cats: dict = {"label": {"labels": labels, "attributes": ["occluded"]}}
    groups = ds.info.get("datumaro_label_groups")
    if isinstance(groups, list) and groups:  # upstream Datumaro's label groups, kept from the file we read
        cats["label"]["label_groups"] = groups
    colormap = []
    for i, key in enumerate(keys):
        c = spec[key]["color"]
        if isinstance(c, str) and len(c) == 7 and c.startswith("#"):
            try:
                colormap.append({"label_id": i, "r": int(c[1:3], 16), "g": int(c[3:5], 16), "b": int(c[5:7], 16)})
            except ValueError:
                pass
    if colormap:
        cats["mask"] = {"colormap": colormap}
    skel_names = [k for k in keys if not k[1] and (spec[k]["type"] == "skeleton" or any(q[1] == k[0] for q in keys))]
    points = []
    for name, _ in skel_names:
        kids = [n for n, p in keys if p == name]
        names, edges = skeleton_spec(ds.labels, name, kids)
        points.append({"label_id": index[(name, "")], "labels": names, "joints": edges})
    if points:
        cats["points"] = {"items": points}
    return cats


def _region_ids(a: pd.DataFrame) -> np.ndarray:
    """Datumaro ids: the region id we read when it is a number, else the row's place in its item."""
    rid = a["region_id"].astype(object)
    num = pd.to_numeric(rid.where(rid.notna(), None), errors="coerce", downcast=None)
    place = a.groupby("item_id", sort=False).cumcount().to_numpy()
    ok = num.notna().to_numpy() & (num.fillna(0) % 1 == 0).to_numpy()
    return np.where(ok, num.fillna(0).to_numpy(), place).astype(np.int64)


def _base(a: pd.DataFrame, types: np.ndarray, label_ids: np.ndarray) -> list[dict]:
    """The fields every annotation has: id, type, attributes, group, label_id (z_order added later)."""
    ids = _region_ids(a).tolist()
    occ = a["occluded"].to_numpy(dtype=bool).tolist()
    rot = a["rotation"].fillna(0.0).to_numpy(dtype=float).tolist()
    track = a["track_id"].astype(object).where(a["track_id"].notna(), None).tolist()
    key = a["keyframe"].to_numpy(dtype=bool).tolist()
    grp = a["group"].fillna(0).astype(np.int64).tolist()
    z = a["z_order"].astype(np.int64).tolist()
    out = []
    for aid, t, lid, at, o, r, tr, k, g, zz in zip(ids, types.tolist(), label_ids.tolist(), a["attributes"].tolist(),
                                                   occ, rot, track, key, grp, z, strict=True):
        attrs = dict(at) if isinstance(at, dict) else {}
        if t not in ("label", "caption"):
            attrs["occluded"] = o
        if t in ("bbox", "ellipse"):
            attrs["rotation"] = r
        if tr is not None:
            attrs["track_id"] = int(tr)
            attrs["keyframe"] = k
        d = {"id": aid, "type": t, "attributes": attrs, "group": g}
        if lid >= 0:
            d["label_id"] = lid
        if t not in ("label", "caption", "cuboid_3d"):
            d["z_order"] = zz
        out.append(d)
    return out


def _geometry(dicts: list[dict], a: pd.DataFrame) -> None:
    kind = a["type"].tolist()
    xs, ys = a["x"].to_numpy(dtype=float), a["y"].to_numpy(dtype=float)
    ws, hs = a["w"].to_numpy(dtype=float), a["h"].to_numpy(dtype=float)
    for i, (d, k, pts, m, txt, ex) in enumerate(zip(dicts, kind, a["points"], a["mask"], a["text"].astype(object).tolist(), a["extra"],
                                                    strict=True)):
        if k == "bbox":
            d["bbox"] = [float(xs[i]), float(ys[i]), float(ws[i]), float(hs[i])]
        elif k == "ellipse":
            d["points"] = [float(xs[i]), float(ys[i]), float(xs[i] + ws[i]), float(ys[i] + hs[i])]
        elif k in ("polygon", "polyline", "points"):
            d["points"] = [float(v) for v in (pts if pts is not None else [])]
            if k == "points":
                vis = ex.get("visibility") if isinstance(ex, dict) else None
                ok = isinstance(vis, list) and len(vis) == len(d["points"]) // 2
                d["visibility"] = list(vis) if ok else [2] * (len(d["points"]) // 2)
        elif k == "mask":
            d["rle"] = {"counts": m["counts"], "size": [int(v) for v in m["size"]]}
        elif k == "text":
            d["caption"] = "" if _na(txt) else str(txt)
    idx = np.flatnonzero(a["type"].eq("cuboid_3d").to_numpy())
    if len(idx):  # checked by _select: 9 finite numbers each
        arr = np.asarray(a["points"].iloc[idx].tolist(), dtype=np.float64).reshape(len(idx), 3, 3).tolist()
        for i, (pos, rot, scale) in zip(idx.tolist(), arr, strict=True):
            dicts[i].update(position=pos, rotation=rot, scale=scale)


def _bad_cuboids(a: pd.DataFrame) -> np.ndarray:
    """Rows of type cuboid_3d whose ``points`` are not 9 finite numbers."""
    bad = np.zeros(len(a), dtype=bool)
    for i in np.flatnonzero(a["type"].eq("cuboid_3d").to_numpy()):
        p = a["points"].iloc[i]
        try:
            bad[i] = not (len(p) == 9 and np.isfinite(np.asarray(p, dtype=np.float64)).all())
        except (TypeError, ValueError):
            bad[i] = True
    return bad


def _select(ds: Dataset, ctx: WriteContext, three_d: bool = False) -> pd.DataFrame:
    a = ds.annotations
    r = ctx.report
    name = NAME_3D if three_d else NAME
    ok = a["type"].isin(WRITTEN_3D if three_d else WRITTEN).to_numpy()
    if three_d:
        bad = _bad_cuboids(a)
        r.add_mask("annotations", a, bad, "a 3D cuboid needs 9 finite numbers in points (position, rotation, "
                   "scale)", key="ann_id")
        ok = ok & ~bad
        two_d = ~ok & ~bad & a["type"].isin(WRITTEN + ("cuboid",)).to_numpy()
        r.add_mask("annotations", a, two_d, "2D shapes have no place in a point-cloud export (Datumaro 3D holds 3D "
                   "cuboids and tags); use 'Datumaro 1.0'", key="ann_id")
        r.add_mask("annotations", a, ~ok & ~bad & ~two_d, "Datumaro has no annotation type for this (text spans, "
                   "numbers, ratings, … are Label Studio only)", key="ann_id")
    else:
        r.add_mask("annotations", a, a["type"].eq("cuboid").to_numpy(), "2D cuboids are dropped by CVAT's Datumaro "
                   "export (only point-cloud cuboids are carried)", key="ann_id")
        r.add_mask("annotations", a, a["type"].eq("cuboid_3d").to_numpy(), "3D cuboids belong to point-cloud tasks: "
                   "export them as 'Datumaro 3D 1.0'", key="ann_id")
        r.add_mask("annotations", a, ~ok & ~a["type"].isin(["cuboid", "cuboid_3d"]).to_numpy(), "Datumaro has no "
                   "annotation type for this (text spans, numbers, ratings, … are Label Studio only)", key="ann_id")
    orphan = ~a["item_id"].isin(ds.items["item_id"]).to_numpy()
    r.add_mask("annotations", a, ok & orphan, "annotation on an item that does not exist", key="ann_id")
    top = a["parent_id"].isna().to_numpy()
    gone = a["track_id"].notna().to_numpy() & a["outside"].to_numpy(dtype=bool) & top
    r.add_mask("annotations", a, ok & gone, "outside (hidden) track frames: Datumaro holds visible frames only, "
               "as CVAT writes them", key="ann_id")
    keep = ok & ~orphan & ~gone
    a = a[keep]
    kind_of = pd.Series(a["type"].to_numpy(), index=a["ann_id"].to_numpy())
    kind_of = kind_of[~kind_of.index.duplicated()]
    child = a["parent_id"].notna().to_numpy()
    ptype = kind_of.reindex(a["parent_id"].astype("float64").to_numpy()).to_numpy()
    loose = child & (ptype != "skeleton")
    if loose.any():
        r.add_mask("annotations", a, loose, "a link to a parent that is not a skeleton (Label Studio keypoint on a "
                   "box) has no place in Datumaro; written as its own shape", key="ann_id")
        a = a.copy()
        a.loc[loose, "parent_id"] = pd.NA
    bad_kid = a["parent_id"].notna().to_numpy() & ~a["type"].eq("points").to_numpy()
    r.add_mask("annotations", a, bad_kid, "only points can be skeleton elements in Datumaro", key="ann_id")
    a = a[~bad_kid]
    labelled_text = a["type"].eq("text").to_numpy() & a["label"].fillna("").ne("").to_numpy()
    r.add_mask("annotations", a, labelled_text, "a Datumaro caption has no label; written without it", key="ann_id")
    report_predictions_as_shapes(r, a, name)
    r.add_mask("annotations", a, a["annotator"].notna().to_numpy(), "Datumaro has no annotator field",
               key="ann_id")
    st = ds.sets
    if len(st):
        said = (st["annotator"].notna() | st["model_version"].notna() | st["cancelled"] | st["ground_truth"]
                | st["created"].notna() | st["updated"].notna() | st["lead_time"].notna())
        r.add_mask("sets", st, said.to_numpy(), "annotation sets (annotator, model version, cancelled, ground truth, "
                   "times) have no place in Datumaro; their regions are written together on their item", key="set_id")
    if len(ds.relations):
        r.add("relations", list(range(len(ds.relations))), "Datumaro has no relations")
    return a


def _item_ids(items: pd.DataFrame) -> list[str]:
    out = []
    for name, ex, iid in zip(items["name"], items["extra"], items["item_id"], strict=True):
        if isinstance(ex, dict) and isinstance(ex.get("id"), str):
            out.append(ex["id"])
        elif isinstance(name, str) and name:
            out.append(posixpath.splitext(name.lstrip("/"))[0])
        else:
            out.append(str(iid))
    # ids are unique within a subset in Datumaro: "a.jpg" and "a.png" both give "a", so those keep their extension
    ids = pd.Series(out)
    subset = items["subset"].fillna("default").astype(str).to_numpy()
    dup = pd.DataFrame({"s": subset, "i": ids}).duplicated(keep=False).to_numpy()
    if dup.any():
        names = items["name"].astype(object).to_numpy()
        for k in np.flatnonzero(dup):
            out[k] = names[k].lstrip("/") if isinstance(names[k], str) and names[k] else f"{out[k]}#{items['item_id'].iloc[k]}"
        still = pd.DataFrame({"s": subset, "i": out}).duplicated(keep="first").to_numpy()
        for k in np.flatnonzero(still):
            out[k] = f"{out[k]}#{items['item_id'].iloc[k]}"
    return out


def _item_dict(iid: str, name, kind, w, h, frame, ex, ours: bool) -> dict:
    d: dict = {"id": iid, "annotations": []}
    ex = ex if isinstance(ex, dict) else {}
    attr = dict(ex.get("attr") or {}) if isinstance(ex.get("attr"), dict) else {}
    if not _na(frame):
        attr["frame"] = int(frame)
    if attr:
        d["attr"] = attr
    path = name.lstrip("/") if isinstance(name, str) and name else None
    if kind in ("image", "video_frame") or _na(kind):
        if path or not (_na(w) or _na(h)):
            d["image"] = {"path": path or f"{iid}.jpg"}
            if not (_na(w) or _na(h)):
                d["image"]["size"] = [int(h), int(w)]
    elif path:
        d["media"] = {"path": path}
    if ours:  # fields of a Datumaro item we read and have no column for (not other formats' extras)
        for k, v in ex.items():
            if k not in ("id", "attr", "related_images") and k not in d:
                d[k] = v
    return d


def write(ds: Dataset, sink: Sink, ctx: WriteContext, three_d: bool = False) -> None:
    """Write ``ds`` as "Datumaro 1.0", or as "Datumaro 3D 1.0" with ``three_d``."""
    items = ds.items
    a = _select(ds, ctx, three_d)
    parent_label = pd.Series(ds.annotations["label"].to_numpy(), index=ds.annotations["ann_id"].to_numpy())
    parent_label = parent_label[~parent_label.index.duplicated()]
    keys, spec = _label_list(ds, a, parent_label)
    index = {k: i for i, k in enumerate(keys)}
    cats = _categories(ds, a, keys, spec, index, parent_label)
    pl = a["parent_id"].map(parent_label)
    pairs = zip(a["label"].fillna("").astype(object).tolist(), pl.where(pl.notna(), "").astype(object).tolist(),
                strict=True)
    label_ids = np.fromiter((index.get((n, p), -1) if n else -1 for n, p in pairs), dtype=np.int64, count=len(a))
    dm_type = a["type"].map({"tag": "label", "text": "caption"}).fillna(a["type"]).to_numpy(dtype=object)
    dicts = _base(a, dm_type, label_ids)
    _geometry(dicts, a)
    ours = ds.info.get("format") in (NAME, NAME_3D)
    if ours:  # keys of Datumaro annotations we read and have no column for (e.g. upstream's object_id)
        for d, ex in zip(dicts, a["extra"].tolist(), strict=True):
            if isinstance(ex, dict):
                for k, v in ex.items():
                    d.setdefault(k, v)
    # skeleton points become elements of their skeleton
    child = a["parent_id"].notna().to_numpy()
    pos_of = dict(zip(a["ann_id"].tolist(), range(len(a)), strict=True))
    outside = a["outside"].to_numpy(dtype=bool)
    occluded = a["occluded"].to_numpy(dtype=bool)
    for i in np.flatnonzero(child):
        d = dicts[i]
        d.pop("z_order", None)
        d["attributes"].pop("occluded", None)
        d["visibility"] = [0 if outside[i] else (1 if occluded[i] else 2)]
        p = pos_of.get(int(a["parent_id"].iloc[i]))
        if p is not None:
            dicts[p].setdefault("elements", []).append(d)
    for i in np.flatnonzero(a["type"].eq("skeleton").to_numpy()):
        dicts[i].setdefault("elements", [])
    # items, grouped by subset, annotations in item order
    item_ids = _item_ids(items)
    sub_col = items["subset"].fillna("default").astype(str)
    docs: dict[str, list] = {}
    by_item: dict = {}
    clouds, not_clouds = [], []
    for iid, s, name, kind, w, h, fr, ex, key, media in zip(
            item_ids, sub_col, items["name"], items["kind"], items["width"], items["height"], items["frame"],
            items["extra"], items["item_id"], items["media"], strict=True):
        if not three_d:
            d = _item_dict(iid, name, kind, w, h, fr, ex, ours)
        elif datumaro_pcd.is_point_cloud(kind, name, media):
            d = _item_dict(iid, None, "point_cloud", w, h, fr, ex, ours)
            datumaro_pcd.item_media(d, iid, name, ex)
            clouds.append((key, iid, s, name, media, ex))
        else:
            d = _item_dict(iid, None, "other", w, h, fr, ex, ours)
            not_clouds.append(key)
        docs.setdefault(s, []).append(d)
        by_item[key] = d["annotations"]
    if not three_d:
        pc = items["kind"].eq("point_cloud").fillna(False).to_numpy(dtype=bool)
        ctx.report.add("items", items["item_id"][pc], "point clouds belong to 'Datumaro 3D 1.0': written as media "
                       "items, without their related images")
    ctx.report.add("items", not_clouds, "not a point cloud: written as an item without media (a point-cloud "
                   "export holds clouds only)")
    for d, item, c in zip(dicts, a["item_id"].tolist(), child.tolist(), strict=True):
        if not c:
            by_item[item].append(d)
    subsets = list(docs) or ["default"]
    for k, subset in enumerate(subsets):
        if "/" in subset or "\\" in subset or subset in ("", ".", ".."):
            raise ValueError(f"subset name {subset!r} cannot be a Datumaro file name (annotations/<subset>.json)")
        doc = {"info": ds.info.get("datumaro_info") or {}, "categories": cats, "items": docs.get(subset, [])}
        if three_d:
            doc = {"media_type": datumaro_pcd.MEDIA_TYPE_POINT_CLOUD, **doc}
        sink.write_bytes(f"annotations/{subset}.json",
                         orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str))
        ctx.step((k + 1) / (len(subsets) + 1), f"{subset}.json")
    sink.add_dir("images")
    if three_d:
        if ctx.save_images:
            datumaro_pcd.copy_clouds(ds, sink, clouds, ctx.report)
    elif ctx.save_images:
        names = [n.lstrip("/") if isinstance(n, str) and n else f"{i}.jpg" for n, i in zip(items["name"], item_ids,
                                                                                           strict=True)]
        copy_media(ds, sink, ((iid, media, f"images/{sub}/{fn}") for iid, media, sub, fn in
                              zip(items["item_id"], items["media"], sub_col, names, strict=True)), ctx.report)
