"""Reading "Sly Point Cloud Format 1.0" (see :mod:`.sly_pointcloud` for the layout and mapping)."""
from __future__ import annotations

import posixpath
import re

import numpy as np
import orjson
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Source
from ..core.loss import LossReport
from ..core.media_types import IMAGE_EXTS
from ..core.parsing import json_error

NAME = "Sly Point Cloud Format 1.0"
META, KEY_ID = "meta.json", "key_id_map.json"
AXES = ("x", "y", "z")
GEOMETRY = ("position", "rotation", "dimensions")
COLUMN_TAGS = ("occluded", "keyframe")  # CVAT's flags, written as object tags
_ANN = re.compile(r"^([^/]+)/ann/(.+)\.json$")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


# -- finding the files ---------------------------------------------------------------------------
def find_root(files: list[str]) -> str | None:
    """The folder ('' or 'a/') holding ``meta.json`` and ``key_id_map.json``, the shallowest one."""
    have = set(files)
    roots = [f[: -len(META)] for f in files if f == META or f.endswith("/" + META)]
    roots = [r for r in roots if r + KEY_ID in have]
    return min(roots, key=lambda r: (r.count("/"), r)) if roots else None


def annotation_files(files: list[str], root: str) -> list[tuple[str, str, str]]:
    """``(rel, dataset folder, item name)`` of every ``<root><ds>/ann/<name>.json``."""
    out = []
    for f in files:
        if f.startswith(root):
            m = _ANN.match(f[len(root):])
            if m:
                out.append((f, m.group(1), m.group(2)))
    return out


def _load(source: Source, rel: str, what: str) -> dict:
    try:
        doc = orjson.loads(source.read_bytes(rel))
    except orjson.JSONDecodeError as exc:
        raise json_error(source.display(rel), exc) from exc
    if not isinstance(doc, dict):
        raise FormatError(source.display(rel), f"expected a JSON object ({what}), got {type(doc).__name__}")
    return doc


def _section(doc: dict, key: str, kind: type, where: str, element: str | None = None):
    val = doc.get(key, kind())
    if not isinstance(val, kind):
        raise FormatError(where, f"{key!r} is {type(val).__name__}, expected a JSON {kind.__name__}",
                          element=element or key)
    return val


def tag_value(v):
    """Supervisely writes booleans as the strings "true"/"false"."""
    return True if v == "true" else False if v == "false" else v


# -- labels ---------------------------------------------------------------------------------------
_INPUT = {"any_string": "text", "oneof_string": "select", "any_number": "number"}


def _labels(meta: dict, where: str, used: list[str]) -> pd.DataFrame:
    """Classes as labels; object tags declared in ``meta.tags`` as their attribute specs."""
    classes = _section(meta, "classes", list, where)
    names, colors, extras = [], [], []
    for i, c in enumerate(classes):
        if not isinstance(c, dict) or not isinstance(c.get("title"), str):
            raise FormatError(where, "expected a class object with a 'title' string", element=f"classes[{i}]")
        names.append(c["title"])
        col = c.get("color")
        colors.append(col if isinstance(col, str) and _HEX.match(col) else None)
        extras.append({k: v for k, v in c.items() if k not in ("title",)} or None)
    for n in used:
        if n not in names:
            names.append(n)
            colors.append(None)
            extras.append(None)
    specs: list[list] = [[] for _ in names]
    for i, t in enumerate(_section(meta, "tags", list, where)):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise FormatError(where, "expected a tag object with a 'name' string", element=f"tags[{i}]")
        if t.get("applicable_type", "all") == "imagesOnly" or t["name"] in COLUMN_TAGS:
            continue
        vals = t.get("values") if isinstance(t.get("values"), list) else []
        spec = {"name": t["name"], "input_type": _INPUT.get(t.get("value_type"), "text"),
                "values": [str(v) for v in vals], "default": str(vals[0]) if vals else "", "mutable": True}
        only = t.get("classes") or []
        for j, n in enumerate(names):
            if not only or n in only:
                specs[j].append(dict(spec))
    return pd.DataFrame({"name": names, "color": colors, "type": "any",
                         "attributes": [s or None for s in specs], "extra": extras})


# -- items and figures ----------------------------------------------------------------------------
class _Rows:
    """Columns of the figure rows, appended figure by figure and turned into arrays once."""

    def __init__(self):
        self.item, self.label, self.geom, self.okey, self.fkey, self.attrs, self.flags, self.extra = \
            [], [], [], [], [], [], [], []


def _vec(geom: dict, name: str, where: str, element: str) -> list[float]:
    v = geom.get(name)
    if not isinstance(v, dict):
        raise FormatError(where, f"geometry has no {name!r} {{x, y, z}}", element=element)
    try:
        return [float(v[a]) for a in AXES]
    except (KeyError, TypeError, ValueError):
        raise FormatError(where, f"geometry {name!r} needs numbers x, y and z, got {v!r}", element=element) from None


def _object_tags(tags, where: str, element: str) -> tuple[dict, dict, dict]:
    """(attributes, column flags, per-tag fields other than name/value) of an object's tags."""
    attrs, flags, fields = {}, {}, {}
    if not isinstance(tags, list):
        raise FormatError(where, f"tags is {type(tags).__name__}, expected a list", element=element)
    for k, t in enumerate(tags):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise FormatError(where, "expected a tag with a 'name'", element=f"{element}[{k}]")
        val = tag_value(t.get("value"))
        if t["name"] in COLUMN_TAGS:
            flags[t["name"]] = val is True or val in (1, "1")
        else:
            attrs[t["name"]] = val
        rest = {a: b for a, b in t.items() if a not in ("name", "value")}
        if rest:
            fields[t["name"]] = rest
    return attrs, flags, fields


def _read_file(doc: dict, where: str, item: int, rows: _Rows, skipped: list) -> None:
    objects = {}
    for i, o in enumerate(_section(doc, "objects", list, where)):
        if not isinstance(o, dict) or not isinstance(o.get("key"), str) or not isinstance(o.get("classTitle"), str):
            raise FormatError(where, "expected an object with 'key' and 'classTitle' strings", element=f"objects[{i}]")
        objects[o["key"]] = (o, *_object_tags(o.get("tags", []), where, f"objects[{i}].tags"))
    for i, f in enumerate(_section(doc, "figures", list, where)):
        el = f"figures[{i}]"
        if not isinstance(f, dict):
            raise FormatError(where, "expected a figure object", element=el)
        if f.get("objectKey") not in objects:
            raise FormatError(where, f"objectKey {f.get('objectKey')!r} is not the key of an object of this file",
                              element=f"{el}.objectKey")
        if f.get("geometryType", "cuboid_3d") != "cuboid_3d":
            skipped.append((where, f"{el} ({f.get('geometryType')})"))
            continue
        geom = f.get("geometry")
        if not isinstance(geom, dict):
            raise FormatError(where, "expected a 'geometry' object with position, rotation, dimensions",
                              element=f"{el}.geometry")
        o, attrs, flags, tag_fields = objects[f["objectKey"]]
        rows.item.append(item)
        rows.label.append(o["classTitle"])
        rows.geom.append([c for g in GEOMETRY for c in _vec(geom, g, where, f"{el}.geometry.{g}")])
        rows.okey.append(f["objectKey"])
        rows.fkey.append(f.get("key"))
        rows.attrs.append(dict(attrs) or None)
        rows.flags.append(flags)
        ex = {"object_key": f["objectKey"], "figure_key": f.get("key")}
        o_rest = {k: v for k, v in o.items() if k not in ("key", "classTitle", "tags")}
        f_rest = {k: v for k, v in f.items() if k not in ("key", "objectKey", "geometryType", "geometry")}
        if o_rest:
            ex["sly_object"] = o_rest
        if f_rest:
            ex["sly_figure"] = f_rest
        if tag_fields:
            ex["sly_tag_fields"] = tag_fields
        rows.extra.append(ex)


def _related(files: list[str], root: str) -> dict[str, list[str]]:
    """``<root><ds>/related_images/<stem>_pcd/`` folder -> its images."""
    out: dict[str, list[str]] = {}
    for f in files:
        if f.startswith(root) and "/related_images/" in f and f.lower().endswith(IMAGE_EXTS):
            out.setdefault(posixpath.dirname(f) + "/", []).append(f)
    return out


def read(source: Source, **options) -> Dataset:
    """Read a Supervisely point-cloud export (folder or zip) as CVAT writes it."""
    root = find_root(source.files)
    if root is None:
        raise FormatError(source.display(), f"no {META} with {KEY_ID} beside it: not a Sly point cloud export")
    meta_where, keys_where = source.display(root + META), source.display(root + KEY_ID)
    meta = _load(source, root + META, "meta.json")
    key_map = _load(source, root + KEY_ID, "key_id_map.json")
    maps = {k: _section(key_map, k, dict, keys_where) for k in ("videos", "objects", "figures")}
    related = _related(source.files, root)
    items, rows, skipped, frame_of = [], _Rows(), [], {}
    for rel, ds_dir, name in annotation_files(source.files, root):
        where = source.display(rel)
        doc = _load(source, rel, "a point cloud's annotation")
        key = doc.get("key")
        if key not in maps["videos"]:
            raise FormatError(where, f"key {key!r} is not in {KEY_ID} 'videos' (frame numbers)", element="key")
        frame = maps["videos"][key]
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            raise FormatError(keys_where, f"frame of {key!r} is {frame!r}, expected a whole number >= 0",
                              element="videos")
        if frame in frame_of:
            raise FormatError(where, f"frame {frame} is also the frame of {frame_of[frame]}", element="key")
        frame_of[frame] = rel
        item_id = len(items)
        _read_file(doc, where, item_id, rows, skipped)
        stem = posixpath.splitext(name)[0] if name.lower().endswith(".pcd") else name
        imgs = sorted(related.get(f"{root}{ds_dir}/related_images/{stem}_pcd/", []))
        extra = {"sly_key": key, "description": doc.get("description", "")}
        if doc.get("tags"):
            extra["sly_tags"] = doc["tags"]
        if ds_dir != "ds0":
            extra["sly_dataset"] = ds_dir
        if imgs:
            extra["related_images"] = imgs
            extra["related_images_json"] = [
                _load(source, p + ".json", "a related image's sensor data") if source.exists(p + ".json") else None
                for p in imgs]
        rest = {k: v for k, v in doc.items() if k not in ("key", "description", "tags", "objects", "figures")}
        if rest:
            extra["sly_item"] = rest
        items.append({"item_id": item_id, "name": name, "frame": frame, "kind": "point_cloud",
                      "media": f"{root}{ds_dir}/pointcloud/{name}", "extra": extra})
    items_df = pd.DataFrame(items, columns=["item_id", "name", "frame", "kind", "media", "extra"])
    ann = _annotations(rows, items_df, maps)
    labels = _labels(meta, meta_where, list(dict.fromkeys(rows.label)))
    info = {"sly_meta_tags": meta.get("tags") or [],
            "sly_meta": {k: v for k, v in meta.items() if k not in ("classes", "tags")}}
    loss = LossReport(NAME)
    if skipped:
        loss.add("annotations", [f"{rel}: {k}" for rel, k in skipped],
                 "figures of geometry types other than cuboid_3d are not read")
    return Dataset(items=items_df, annotations=ann, labels=labels, info=info, media_root=source.url_of(""),
                   loss=loss)


def _annotations(rows: _Rows, items: pd.DataFrame, maps: dict) -> pd.DataFrame:
    """Figure rows -> annotation rows; objects seen on several frames (or flagged keyframe) -> tracks."""
    n = len(rows.item)
    if not n:
        return pd.DataFrame()
    item = np.asarray(rows.item, dtype=np.int64)
    frames = items["frame"].to_numpy(dtype=np.int64)
    frame = frames[item]
    okey = pd.Series(rows.okey, dtype=object)
    obj_id = pd.to_numeric(okey.map(maps["objects"]), errors="coerce")
    fig_id = pd.to_numeric(pd.Series(rows.fkey, dtype=object).map(maps["figures"]), errors="coerce")
    occluded = np.fromiter((f.get("occluded", False) for f in rows.flags), dtype=bool, count=n)
    has_kf = np.fromiter(("keyframe" in f for f in rows.flags), dtype=bool, count=n)
    keyframe = np.fromiter((f.get("keyframe", True) for f in rows.flags), dtype=bool, count=n)
    spans = pd.Series(item).groupby(okey.to_numpy()).transform("nunique").to_numpy() > 1
    flagged = pd.Series(has_kf).groupby(okey.to_numpy()).transform("any").to_numpy()
    tracked = spans | flagged
    # the object's id is the track id; objects without one get ids after the largest
    codes, uniq = pd.factorize(okey)
    ids = obj_id.groupby(codes).first().reindex(range(len(uniq)))
    free = ids.isna().to_numpy()
    start = int(ids.max()) + 1 if ids.notna().any() else 1
    ids[free] = np.arange(start, start + int(free.sum()))
    track = np.where(tracked, ids.to_numpy()[codes], np.nan)
    extra = rows.extra
    for i in np.flatnonzero(obj_id.notna().to_numpy()):
        extra[i]["object_id"] = int(obj_id.iat[i])
    for i in np.flatnonzero(fig_id.notna().to_numpy()):
        extra[i]["figure_id"] = int(fig_id.iat[i])
    a = pd.DataFrame({
        "item_id": item, "frame": frame, "label": rows.label, "type": "cuboid_3d",
        "points": pd.Series(rows.geom, dtype=object), "occluded": occluded, "keyframe": tracked & keyframe,
        "track_id": pd.array(track, dtype="Float64").astype("Int64"), "attributes": rows.attrs, "extra": extra,
        "_ord": np.arange(n)})
    a = _outside_rows(a, np.unique(frames), pd.Series(items["item_id"].to_numpy(), index=frames))
    a = a.sort_values(["item_id", "_ord", "outside"], kind="stable").drop(columns="_ord").reset_index(drop=True)
    a["ann_id"] = np.arange(len(a))
    return a


def _outside_rows(a: pd.DataFrame, frames: np.ndarray, item_at: pd.Series) -> pd.DataFrame:
    """CVAT's import: an outside keyframe on the next frame of the task after each visible run of a
    track that does not reach the next row of the track (or the task's end)."""
    a["outside"] = False
    tr = a[a["track_id"].notna()].sort_values(["track_id", "frame"], kind="stable")
    if not len(tr):
        return a
    tid = tr["track_id"].to_numpy(dtype=np.int64)
    fr = tr["frame"].to_numpy(dtype=np.int64)
    pos = np.searchsorted(frames, fr)
    has_next_frame = pos + 1 < len(frames)
    next_frame = frames[np.minimum(pos + 1, len(frames) - 1)]
    last_of_track = np.r_[tid[1:] != tid[:-1], True]
    next_row = np.r_[fr[1:], -1]
    gap = has_next_frame & (last_of_track | (next_row != next_frame))
    out = tr[gap].copy()
    out["frame"] = next_frame[gap]
    out["item_id"] = item_at.reindex(out["frame"].to_numpy()).to_numpy()
    out["outside"] = True
    out["keyframe"] = True
    out["extra"] = [{k: v for k, v in (e or {}).items() if k in ("object_key", "object_id")} for e in out["extra"]]
    return pd.concat([a, out], ignore_index=True)
