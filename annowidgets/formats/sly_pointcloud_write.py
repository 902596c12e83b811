"""Writing "Sly Point Cloud Format 1.0" as CVAT does through Datumaro (layout in :mod:`.sly_pointcloud`).

Tracks are written on every frame they are visible (between keyframes position and size move
linearly, rotation along the shortest arc), each row with CVAT's ``keyframe`` tag; every object
gets CVAT's ``occluded`` tag. Keys are the ones read (``extra``) where still unique, else
deterministic uuids, so exporting the same dataset twice gives the same files.
"""
from __future__ import annotations

import posixpath
import uuid

import numpy as np
import orjson
import pandas as pd

from ..core import tracks as _tracks
from ..core.dataset import Dataset
from ..core.io import Sink
from ._media import copy_media, unique_file_names
from .registry import WriteContext
from .sly_pointcloud_read import AXES, GEOMETRY, KEY_ID, META
from .yolo_common import select_rows

_NS = uuid.UUID("6f1c1f0e-3d55-4b8e-9a53-5b1e0d6c1a70")
_ZERO_SENSORS = {"extrinsicMatrix": [0] * 12, "intrinsicMatrix": [0] * 9}
_VALUE_TYPE = {"select": "oneof_string", "radio": "oneof_string", "number": "any_number"}


def _key(kind: str, ident) -> str:
    return str(uuid.uuid5(_NS, f"{kind}:{ident}"))


def _dump(obj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2)


def _encode(v):
    """A tag value: booleans as "true"/"false" (Supervisely's spelling), numbers and text as they are."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return v.item() if hasattr(v, "item") else v
    return v if isinstance(v, str) else None


# -- which rows, on which frames --------------------------------------------------------------------
def _item_frames(items: pd.DataFrame) -> np.ndarray:
    """Frame ids: the items' frames when every item has a distinct one, else their positions."""
    fr = items["frame"]
    if len(items) and fr.notna().all() and not fr.duplicated().any() and int(fr.min()) >= 0:
        return fr.to_numpy(dtype=np.int64)
    return np.arange(len(items), dtype=np.int64)


def _rows(ds: Dataset, ctx: WriteContext, items: pd.DataFrame, frames: np.ndarray) -> pd.DataFrame:
    """The cuboid rows to write, tracks per visible frame, each with its item's frame."""
    report = ctx.report
    a = select_rows(ds, ctx)
    cub = (a["type"] == "cuboid_3d").to_numpy()
    report.add_mask("annotations", a, ~cub, "Sly Point Cloud carries only 3D cuboids (cuboid_3d)", key="ann_id")
    a = a[cub]
    bad = ~a["points"].map(lambda p: isinstance(p, (list, tuple, np.ndarray)) and len(p) == 9).to_numpy(dtype=bool)
    report.add_mask("annotations", a, bad, "a 3D cuboid needs 9 numbers (position, rotation, scale)", key="ann_id")
    a = a[~bad]
    report.add_mask("annotations", a, a["score"].notna().to_numpy(), "Sly Point Cloud scores are not kept",
                    key="ann_id")
    report.add_mask("annotations", a, a["group"].notna().to_numpy(), "Sly Point Cloud has no groups: the group is "
                    "not kept", key="ann_id")
    frame_of = pd.Series(frames, index=items["item_id"].to_numpy())
    a = a.assign(frame=frame_of.reindex(a["item_id"].to_numpy()).to_numpy())
    a = a[a["frame"].notna()]
    tracked = a["track_id"].notna().to_numpy()
    if not tracked.any():
        return a
    per = _tracks.interpolate(a[tracked], start=int(frames.min()), step=1, stop=int(frames.max()))
    gone = per["outside"].to_numpy(dtype=bool)
    per = per[~gone]
    look = pd.Series(items["item_id"].to_numpy(), index=frames)
    gen = ~per["keyframe"].to_numpy(dtype=bool)
    per.loc[gen, "item_id"] = look.reindex(per.loc[gen, "frame"].to_numpy()).to_numpy()
    per = per[per["item_id"].notna()]
    if gen.any():  # a generated row copied its keyframe's extra: not that figure's key and id
        per["extra"] = [{k: v for k, v in e.items() if k not in ("figure_key", "figure_id", "sly_tag_fields")}
                        if g and isinstance(e, dict) else e for e, g in zip(per["extra"], ~per["keyframe"], strict=True)]
    return pd.concat([a[~tracked], per], ignore_index=True)


# -- objects, figures, tags ---------------------------------------------------------------------------
def _reuse(wanted: list, make) -> list:
    """Keep each wanted key/id that is unique and present; make the others."""
    counts = pd.Series([w for w in wanted if w is not None], dtype=object).value_counts()
    out, taken = [], set()
    for i, w in enumerate(wanted):
        if w is not None and counts.get(w, 0) == 1 and w not in taken:
            out.append(w)
        else:
            out.append(make(i))
        taken.add(out[-1])
    return out


def _extra(e, key):
    return e.get(key) if isinstance(e, dict) else None


def _objects(a: pd.DataFrame) -> tuple[np.ndarray, list[str], list[int]]:
    """Object index per row; each object's key and id (tracks keep their track id)."""
    tid = a["track_id"]
    ident = [f"t{int(t)}" if pd.notna(t) else f"r{i}" for i, t in zip(a["ann_id"], tid, strict=True)]
    codes, uniq = pd.factorize(pd.Series(ident, dtype=object))
    first = pd.Series(np.arange(len(a))).groupby(codes).first().to_numpy()
    ex = a["extra"].to_numpy()
    track_ids = [int(t) for t in tid.dropna().unique()]
    start = max(track_ids, default=0) + 1
    want_ids = [int(tid.iat[j]) if pd.notna(tid.iat[j]) else _extra(ex[j], "object_id") for j in first]
    untracked_ids = _reuse([w if pd.isna(tid.iat[j]) and w not in set(track_ids) else None
                            for w, j in zip(want_ids, first, strict=True)], lambda i: None)
    ids, nxt = [], start
    used = set(track_ids) | {u for u in untracked_ids if u is not None}
    for w, j, u in zip(want_ids, first, untracked_ids, strict=True):
        if pd.notna(tid.iat[j]):
            ids.append(w)
        elif u is not None:
            ids.append(int(u))
        else:
            while nxt in used:
                nxt += 1
            ids.append(nxt)
            used.add(nxt)
    keys = _reuse([_extra(ex[j], "object_key") for j in first], lambda i: _key("object", ids[i]))
    return codes, keys, ids


def _figure(row_pts, key: str, object_key: str, rest) -> dict:
    p = [float(v) for v in row_pts]
    geom = {g: dict(zip(AXES, p[3 * k: 3 * k + 3], strict=True)) for k, g in enumerate(GEOMETRY)}
    return {"key": key, "objectKey": object_key, "geometryType": "cuboid_3d", "geometry": geom,
            **(rest if isinstance(rest, dict) else {})}


class _Tags:
    """meta.json's tag declarations: what was read, the labels' attribute specs, then what is used."""

    def __init__(self, ds: Dataset):
        self.decl: dict[str, dict] = {}
        for t in ds.info.get("sly_meta_tags") or []:
            if isinstance(t, dict) and isinstance(t.get("name"), str):
                self.decl[t["name"]] = dict(t)
        for name, specs in zip(ds.labels["name"], ds.labels["attributes"], strict=True):
            for s in specs or []:
                if not isinstance(s, dict) or not s.get("name"):
                    continue
                t = self._declare(s["name"], _VALUE_TYPE.get(s.get("input_type"), "any_string"), "objectsOnly")
                if t.get("value_type") == "oneof_string" and not t.get("values"):
                    t["values"] = [str(v) for v in s.get("values") or []]
                if name not in t["classes"] and t.get("_new"):
                    t["classes"].append(name)
        self.mixed: set[str] = set()

    def _declare(self, name: str, value_type: str, applicable: str) -> dict:
        t = self.decl.get(name)
        if t is None:
            t = self.decl[name] = {"name": name, "value_type": value_type, "color": "", "id": len(self.decl) + 1,
                                   "hotkey": "", "applicable_type": applicable, "classes": [], "_new": True}
        t.setdefault("classes", [])
        return t

    def use(self, name: str, value, label: str | None) -> None:
        vt = "any_number" if isinstance(value, (int, float)) and not isinstance(value, bool) else "any_string"
        t = self._declare(name, vt, "objectsOnly" if label is not None else "imagesOnly")
        if label is not None and t.get("applicable_type") == "imagesOnly":
            t["applicable_type"] = "all"
        if label is None and t.get("applicable_type") == "objectsOnly":
            t["applicable_type"] = "all"
        if label is not None and t["classes"] and label not in t["classes"]:
            t["classes"].append(label)

    def meta(self, labels: list[str]) -> list[dict]:
        out = []
        for t in self.decl.values():
            t = {k: v for k, v in t.items() if k != "_new"}
            t["classes"] = [c for c in t["classes"] if c in labels]
            out.append(t)
        return out


def _object_tags(attrs, occluded: bool, keyframe: bool | None, fields, label: str, tags: _Tags,
                 odd: list, ann_id, figure_key: str) -> list[dict]:
    out = []
    pairs = list((attrs or {}).items()) + [("occluded", bool(occluded))]
    if keyframe is not None:
        pairs.append(("keyframe", bool(keyframe)))
    for name, v in pairs:
        enc = _encode(v)
        if enc is None:
            if v is not None and not (isinstance(v, float) and np.isnan(v)):
                odd.append(ann_id)
                enc = orjson.dumps(v, default=str).decode()
            else:
                continue
        tags.use(name, enc, label)
        rest = _extra(fields, name) if isinstance(fields, dict) else None
        out.append({"key": _key("tag", f"{figure_key}/{name}"), "name": name, "value": enc,
                    **(rest if isinstance(rest, dict) else {})})
    return out


# -- the writer --------------------------------------------------------------------------------------
def write(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items = ds.items.reset_index(drop=True)
    frames = _item_frames(items)
    a = _rows(ds, ctx, items, frames)
    ext = items["extra"].to_numpy()
    ds_dirs = [(_extra(e, "sly_dataset") or "ds0") for e in ext]
    if items["subset"].nunique() > 1:
        report.add("items", items["item_id"], "Sly Point Cloud holds one dataset: subsets are not kept")
    report.add_mask("items", items, (items["kind"] != "point_cloud").to_numpy(),
                    "not a point cloud: written as a frame without its media", key="item_id")
    given = [n if n.lower().endswith(".pcd") else posixpath.splitext(n)[0] + ".pcd" if n else None
             for n in items["name"].astype(str).replace("", None).tolist()]
    names, renamed = unique_file_names(items, ds_dirs, given=pd.Series(given, dtype=object))
    changed = [n != g for n, g in zip(names, items["name"].tolist(), strict=True)]
    report.add_mask("items", items, np.asarray(changed) | items["item_id"].isin(renamed).to_numpy(),
                    "Sly point clouds are named <name>.pcd: the item name is changed", key="item_id")
    video_keys = _reuse([_extra(e, "sly_key") for e in ext], lambda i: _key("frame", int(frames[i])))

    labels = [n for n in ds.labels["name"].tolist() if n]
    labels += [n for n in pd.unique(a["label"]).tolist() if n and n not in labels]
    tags = _Tags(ds)
    key_map = {"tags": {}, "objects": {}, "figures": {}, "videos": {}}
    codes, okeys, oids = _objects(a) if len(a) else (np.array([], dtype=np.int64), [], [])
    ident = [f"{t}/{f}" if pd.notna(t) else f"r{r}" for t, f, r in zip(a["track_id"], a["frame"], a["ann_id"],
                                                                           strict=True)]
    fkeys = _reuse([_extra(e, "figure_key") for e in a["extra"]], lambda i: _key("figure", ident[i]))
    fids = _reuse([_extra(e, "figure_id") for e in a["extra"]], lambda i: None)
    nxt_fig = max([f for f in fids if f is not None], default=0) + 1
    for i, f in enumerate(fids):
        if f is None:
            fids[i], nxt_fig = nxt_fig, nxt_fig + 1
    for k, o in zip(okeys, oids, strict=True):
        key_map["objects"][k] = int(o)
    by_item = pd.Series(np.arange(len(a))).groupby(a["item_id"].to_numpy(dtype=np.int64) if len(a) else [])
    rows_of = {int(k): v.to_numpy() for k, v in by_item} if len(a) else {}
    odd: list = []
    tracked = a["track_id"].notna().to_numpy() if len(a) else np.array([], bool)
    cols = {c: a[c].to_numpy() for c in ("label", "points", "attributes", "occluded", "keyframe", "extra", "ann_id")}
    for i, item_id in enumerate(items["item_id"].tolist()):
        doc_tags = []
        for t in _extra(ext[i], "sly_tags") or []:
            if isinstance(t, dict) and isinstance(t.get("name"), str):
                tags.use(t["name"], t.get("value"), None)
                tkey = t.get("key") or _key("frame-tag", f"{i}/{t['name']}")
                key_map["tags"][tkey] = len(key_map["tags"]) + 1
                doc_tags.append({**t, "key": tkey})
        objects, figures, seen = [], [], set()
        for r in rows_of.get(int(item_id), []):
            o = int(codes[r])
            e = cols["extra"][r]
            if o not in seen:
                seen.add(o)
                kf = bool(cols["keyframe"][r]) if tracked[r] else None
                otags = _object_tags(cols["attributes"][r], cols["occluded"][r], kf, _extra(e, "sly_tag_fields"),
                                     cols["label"][r], tags, odd, cols["ann_id"][r], fkeys[r])
                rest = _extra(e, "sly_object")
                objects.append({"key": okeys[o], "classTitle": cols["label"][r], "tags": otags,
                                **(rest if isinstance(rest, dict) else {})})
            figures.append(_figure(cols["points"][r], fkeys[r], okeys[o], _extra(e, "sly_figure")))
            key_map["figures"][fkeys[r]] = int(fids[r])
        key_map["videos"][video_keys[i]] = int(frames[i])
        rest = _extra(ext[i], "sly_item")
        doc = {"description": _extra(ext[i], "description") or "", "key": video_keys[i], "tags": doc_tags,
               "objects": objects, "figures": figures, **(rest if isinstance(rest, dict) else {})}
        sink.write_bytes(f"{ds_dirs[i]}/ann/{names[i]}.json", _dump(doc))
    report.add("annotations", sorted(set(odd)), "attribute values that are not text, numbers or booleans are "
               "written as JSON text")
    classes = [{"id": k, "title": n, "color": "", "shape": "cuboid_3d", "geometry_config": {}} for k, n in
               enumerate(labels)]
    by_name = dict(zip(ds.labels["name"], ds.labels["extra"], strict=True))
    for c in classes:
        ex = by_name.get(c["title"])
        if isinstance(ex, dict):
            c.update({k: v for k, v in ex.items() if k != "title"})
    colors = dict(zip(ds.labels["name"], ds.labels["color"], strict=True))
    for c in classes:
        if isinstance(colors.get(c["title"]), str):
            c["color"] = colors[c["title"]]
    meta = {**(ds.info.get("sly_meta") or {"projectType": "point_clouds"}), "classes": classes,
            "tags": tags.meta(labels)}
    sink.write_bytes(META, _dump(meta))
    sink.write_bytes(KEY_ID, _dump(key_map))
    if ctx.save_images:
        _save_media(ds, sink, items, names, ds_dirs, report)
    elif any(_extra(e, "related_images") for e in ext):
        report.add("items", [iid for iid, e in zip(items["item_id"], ext, strict=True) if _extra(e, "related_images")],
                   "related images and their sensor data are written only with save_images")


def _save_media(ds: Dataset, sink: Sink, items: pd.DataFrame, names: list[str], ds_dirs: list[str], report) -> None:
    """Point clouds to ``<ds>/pointcloud/``, related images to ``<ds>/related_images/<stem>_pcd/``."""
    pcd, other = [], []
    for iid, media, name, d in zip(items["item_id"], items["media"], names, ds_dirs, strict=True):
        if isinstance(media, str) and media.lower().split("?")[0].endswith(".pcd"):
            pcd.append((iid, media, f"{d}/pointcloud/{name}"))
        elif isinstance(media, str):
            other.append(iid)
    report.add("items", other, "media is not a .pcd point cloud: not saved")
    copy_media(ds, sink, pcd, report)
    rel = []
    for iid, e, name, d in zip(items["item_id"], items["extra"], names, ds_dirs, strict=True):
        imgs = _extra(e, "related_images") or []
        metas = _extra(e, "related_images_json") or [None] * len(imgs)
        folder = f"{d}/related_images/{posixpath.splitext(name)[0]}_pcd"
        for img, m in zip(imgs, metas, strict=False):
            base = posixpath.basename(str(img).split("::")[0].split("?")[0])
            target = f"{folder}/{base}"
            rel.append((iid, img, target))
            info = dict(m) if isinstance(m, dict) else {"meta": {"sensorsData": _ZERO_SENSORS}}
            info["name"] = base
            sink.write_bytes(target + ".json", _dump(info))
    copy_media(ds, sink, rel, report)
