"""Label Studio JSON -> tables.

One pass over the parsed tasks appends to column lists (the parse already made the
dicts; no further object per region), then geometry is converted for all rows at once:
percent -> pixels with each result's ``original_width/height``, Label Studio's top-left
rotation -> centre rotation, ellipse centre/radii -> box, brush RLE -> COCO RLE.

Round trips: what has no column goes into ``extra``; values that a column would change
(percent coordinates that do not survive px and back bit for bit, the brush RLE bytes, text
offsets repaired for UTF-16 drift) are kept there too, so the writer can give back the
input. Reserved ``extra`` keys start with ``ls_`` or are listed in :data:`ROW_RESERVED`.
"""
from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import orjson
import pandas as pd

from ..core import brush, geometry
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from ..core.io import Source
from ..core.media_types import IMAGE_EXTS
from .ls_config import LabelConfig, load_config

IMAGE_EXT = {*IMAGE_EXTS, ".svg"}  # Label Studio shows SVG too
AUDIO_EXT = {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus", ".weba"}
VIDEO_EXT = {".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v", ".ogv"}
KEY_KINDS = {"image": "image", "img": "image", "audio": "audio", "video": "video"}

#: LS result type -> (annotations.type, geometry code). Geometry codes: 0 none, 1 box,
#: 2 ellipse, 3 keypoint, 4 polygon, 5 brush.
SHAPES = {
    "rectangle": ("bbox", 1), "polygon": ("polygon", 4), "keypoint": ("points", 3),
    "ellipse": ("ellipse", 2), "brush": ("mask", 5),
}
def _spec(base: str, lk: str | None):
    typ, geo = SHAPES[base]
    known = {"rectangle": ("x", "y", "width", "height", "rotation"), "ellipse": ("x", "y", "radiusX", "radiusY",
                                                                            "rotation"),
             "keypoint": ("x", "y"), "polygon": ("points",), "brush": ("rle", "format")}[base]
    return typ, geo, lk, frozenset(known + ((lk,) if lk else ()))


#: LS result type -> (annotations.type, geometry code, labels key, value keys with a column)
SHAPE_SPECS = {**{b: _spec(b, None) for b in SHAPES}, **{b + "labels": _spec(b, b + "labels") for b in SHAPES}}


def _labels_spec(value: dict):
    """A ``labels`` result beside a geometry control (Rectangle + Labels): shape from the value keys."""
    if "points" in value:
        return _spec("polygon", "labels")
    if "radiusX" in value:
        return _spec("ellipse", "labels")
    if "rle" in value or "format" in value:
        return _spec("brush", "labels")
    if "x" in value and "height" in value:
        return _spec("rectangle", "labels")
    if "x" in value and "y" in value and "start" not in value:
        return _spec("keypoint", "labels")
    return None


#: default LS type written for an annotations.type (others are kept in extra['ls_type'])
DEFAULT_LS_TYPE = {
    "bbox": "rectanglelabels", "polygon": "polygonlabels", "points": "keypointlabels",
    "ellipse": "ellipselabels", "mask": "brushlabels", "tag": "choices", "text": "textarea",
    "taxonomy": "taxonomy", "rating": "rating", "number": "number", "datetime": "datetime",
    "span": "labels", "segment": "labels",
}
#: result keys beside ``value`` that Label Studio writes; others are kept in extra['ls_result']
TOP_LEVEL = {"image_rotation", "readonly", "hidden", "meta", "item_index", "original_length"}
RESULT_KEYS = {"id", "type", "from_name", "to_name", "value", "origin", "score", "parentID",
               "original_width", "original_height"}
ROW_RESERVED = {"ls_type", "ls_pct", "ls_points", "ls_start", "ls_end", "ls_span", "ls_no_size",
                "ls_no_rotation", "ls_no_image_rotation", "ls_score_from_set", "ls_result", "ls_value",
                "ls_labels", "ls_ranges", "ls_frames_count", "ls_duration", "ls_start_raw", "ls_end_raw",
                "parentID", "rle", "cancelled", "path", "enabled", "time", "original_width",
                "original_height", "ls_keyframe", "ls_meta_attrs_only", "ls_empty_sequence", "ls_no_format",
                "ls_text_str", "ls_no_direction"} | TOP_LEVEL
ITEM_RESERVED = {"ls_lists", "ls_id", "ls_no_id", "frames_count"}
SET_RESERVED = {"ls_id", "ls_no_id", "ls_missing", "ls_cancel_key", "ls_int_created", "completed_by",
                "ls_no_completed_by"}


# -- loading the task list -------------------------------------------------------------------------
def parse_json(source: Source, rel: str | None):
    """orjson-parse one file; FormatError with the file and char position on bad JSON."""
    data = source.read_bytes(rel)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FormatError(source.display(rel), f"invalid JSON: {exc}", line=exc.lineno,
                          position=exc.pos) from exc


_TASK_KEYS = ("data", "annotations", "completions", "predictions")


def is_task(obj) -> bool:
    """An LS task: ``data``, or annotation lists whose entries carry a ``result``
    (COCO's top level also has ``annotations``, a list of objects without ``result``)."""
    if not isinstance(obj, dict):
        return False
    if "data" in obj:
        return True
    lists = [obj[k] for k in _TASK_KEYS[1:] if k in obj]
    return bool(lists) and all(isinstance(v, list) and all(isinstance(a, dict) and "result" in a for a in v)
                               for v in lists)


def _as_tasks(obj, where: str) -> list:
    if isinstance(obj, list):
        for n, t in enumerate(obj):  # a list of something else (JSON_MIN records, COCO rows) is no task list
            if isinstance(t, dict) and not any(k in t for k in _TASK_KEYS):
                raise FormatError(where, f"task #{n} has none of {', '.join(_TASK_KEYS)}: expected Label Studio "
                                         f"tasks ({{data, annotations, predictions}})")
        return obj
    if isinstance(obj, dict):
        if is_task(obj):
            return [obj]
        vals = list(obj.values())
        if vals and all(isinstance(v, dict) and "data" in v for v in vals):  # LS 0.x tasks.json {id: task}
            return [dict(v, id=v.get("id", _int_or(k))) for k, v in obj.items()]
    raise FormatError(where, "expected a Label Studio task, a list of tasks, or {id: task}")


def _int_or(k):
    try:
        return int(k)
    except (TypeError, ValueError):
        return k


def load_tasks(source: Source) -> list:
    """Every task of a file, a folder/zip of per-task files, or an LS 0.x project folder."""
    if source.kind == "file":
        return _as_tasks(parse_json(source, None), source.display())
    files = [f for f in source.glob("*.json") if not posixpath.basename(f).startswith(".")]
    comp = [f for f in files if f.split("/")[-2:-1] == ["completions"]]
    if comp:  # LS 0.x project: tasks.json {id: task} + completions/<id>.json
        by_id: dict = {}
        order: list = []
        for rel in [f for f in files if posixpath.basename(f) == "tasks.json"]:
            for t in _as_tasks(parse_json(source, rel), source.display(rel)):
                by_id[t.get("id")] = t
                order.append(t.get("id"))
        for rel in comp:
            for t in _as_tasks(parse_json(source, rel), source.display(rel)):
                tid = t.get("id", _int_or(posixpath.splitext(posixpath.basename(rel))[0]))
                if tid not in by_id:
                    order.append(tid)
                merged = {**by_id.get(tid, {}), **t}
                merged["id"] = tid
                by_id[tid] = merged
        return [by_id[i] for i in order]
    tasks: list = []
    error, ok = None, False
    for rel in files:
        obj = parse_json(source, rel)
        try:
            tasks.extend(_as_tasks(obj, source.display(rel)))
            ok = True
        except FormatError as exc:
            if posixpath.basename(rel).lower() in ("result.json", "tasks.json") or len(files) == 1:
                raise
            error = error or exc
    if not ok:  # no JSON, or only other formats' JSON: not an empty Label Studio export
        raise error or FormatError(source.display(), "no Label Studio JSON here: expected a .json file of tasks "
                                                     "(result.json, or one file per task)")
    return tasks


# -- media ---------------------------------------------------------------------------------------
def _ext(url: str) -> str:
    path = urlparse(url).path if "://" in url or url.startswith("/") else url
    if "?d=" in url:
        path = parse_qs(urlparse(url).query).get("d", [path])[0]
    return posixpath.splitext(path)[1].lower()


def media_name(url: str) -> str:
    if "?d=" in url:
        url = parse_qs(urlparse(url).query).get("d", [url])[0]
    return posixpath.basename(urlparse(url).path if "://" in url else url.split("?")[0])


def media_of(data: dict, cfg: LabelConfig | None) -> tuple[str | None, str]:
    """(media URL, kind) of a task's data: the first image/audio/video value, else text."""
    if cfg is not None and cfg.objects:
        for obj in cfg.objects.values():
            v = data.get(obj["key"])
            if isinstance(v, str) and obj["kind"] in ("image", "audio", "video"):
                return v, obj["kind"]
        for obj in cfg.objects.values():
            if obj["kind"] == "text":
                return None, "text"
    text = False
    for k, v in data.items():
        if not isinstance(v, str):
            continue
        ext = _ext(v) if len(v) < 4096 else ""
        kind = ("image" if ext in IMAGE_EXT else "audio" if ext in AUDIO_EXT else "video" if ext in VIDEO_EXT
                else None)
        if kind is None and k.lower() in KEY_KINDS and (re.match(r"^(https?://|/|s3://|gs://|data:|azure)", v)
                                                        or re.fullmatch(r"[^\s]+", v)):  # a bare name
            kind = KEY_KINDS[k.lower()]
        if kind:
            return v, kind
        text = True
    return None, "text" if text else "other"


# -- the reader ------------------------------------------------------------------------------------
class _Rows:
    """Annotation rows as one tuple each (one append per row); rare columns kept sparse."""

    COLS = ("item", "set", "region", "label", "type", "from_name", "to_name", "origin", "score", "parent",
            "extra", "ow", "oh", "geo", "gx", "gy", "gw", "gh", "grot")

    def __init__(self):
        self.data: list[tuple] = []
        self.points: dict[int, list] = {}
        self.rle: dict[int, list] = {}
        self.start: dict[int, float] = {}
        self.end: dict[int, float] = {}
        self.text: dict[int, str] = {}
        self.value: dict[int, float] = {}
        self.frame: dict[int, int] = {}
        self.track: dict[int, int] = {}
        self.outside: dict[int, bool] = {}
        self.attrs: dict[int, dict] = {}
        self.z_order: dict[int, float] = {}
        self.occluded: dict[int, bool] = {}

    def add(self, item, set_idx, region, label, typ, fn, tn, origin, score, parent, extra,
            ow=None, oh=None, geo=0, gx=None, gy=None, gw=None, gh=None, grot=0.0) -> int:
        self.data.append((item, set_idx, region, label, typ, fn, tn, origin, score, parent, extra, ow, oh, geo,
                          gx, gy, gw, gh, grot))
        return len(self.data) - 1

    def columns(self) -> dict[str, list]:
        cols = list(zip(*self.data, strict=True)) if self.data else [()] * len(self.COLS)
        return dict(zip(self.COLS, cols, strict=True))


def _floats(values) -> np.ndarray:
    """Float array of raw JSON values (None -> NaN; strings parsed, junk -> NaN)."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(np.float64)


def _num(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return np.nan


class Reader:
    """Turns Label Studio task dicts into a :class:`Dataset`."""

    def __init__(self, cfg: LabelConfig | None = None, mask_threshold: int = 1, where: str = "<tasks>"):
        self.cfg = cfg
        self.threshold = mask_threshold
        self.where = where
        self.rows = _Rows()
        self.items: dict[str, list] = {k: [] for k in
                                       ("item_id", "name", "media", "kind", "width", "height", "duration",
                                        "data", "extra")}
        self.sets: dict[str, list] = {k: [] for k in
                                      ("set_id", "item_id", "source", "annotator", "model_version", "score",
                                       "cancelled", "ground_truth", "created", "updated", "lead_time", "extra")}
        self.rel: dict[str, list] = {k: [] for k in
                                     ("set_idx", "item_id", "from_region", "to_region", "direction", "labels",
                                      "extra")}
        self.n_tracks = 0

    # -- tasks ----------------------------------------------------------------------------
    def add_tasks(self, tasks: list) -> None:
        for n, task in enumerate(tasks):
            if not isinstance(task, dict):
                raise FormatError(self.where, f"task #{n} is a {type(task).__name__}, expected an object")
            self.add_task(task, n)

    def add_task(self, task: dict, n: int) -> None:
        it = self.items
        tid = task.get("id")
        data = task.get("data")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise FormatError(self.where, f"task #{n}: 'data' must be an object")
        extra = {k: v for k, v in task.items() if k not in ("id", "data", "annotations", "completions",
                                                              "predictions")}
        lists = [k for k in ("annotations", "completions", "predictions") if k in task]
        preds = task.get("predictions")
        if preds is not None and not all(isinstance(p, dict) for p in preds):
            extra["predictions"] = preds  # easy export: a list of prediction ids
            lists.remove("predictions")
            preds = None
        if lists != ["annotations", "predictions"]:
            extra["ls_lists"] = lists
        if not isinstance(tid, int) or isinstance(tid, bool):
            extra["ls_no_id" if tid is None else "ls_id"] = True if tid is None else tid
            tid = None
        media, kind = media_of(data, self.cfg)
        it["item_id"].append(tid)
        it["name"].append(media_name(media) if media else "")
        it["media"].append(media)
        it["kind"].append(kind)
        it["width"].append(None)
        it["height"].append(None)
        it["duration"].append(np.nan)
        it["data"].append(data)
        it["extra"].append(extra or None)
        item_idx = len(it["item_id"]) - 1
        self._task_text = None
        self._task_data = data
        for key in ("annotations", "completions"):
            for ann in task.get(key) or ():
                self.add_set(ann, item_idx, "annotation")
        for p in preds or ():
            self.add_set(p, item_idx, "prediction")

    # -- annotation sets ---------------------------------------------------------------------
    def add_set(self, ann: dict, item_idx: int, source: str) -> None:
        s = self.sets
        if not isinstance(ann, dict):
            raise FormatError(self.where, f"task #{item_idx}: an annotation is not an object")
        extra = {}
        sid = ann.get("id")
        if not isinstance(sid, int) or isinstance(sid, bool):
            extra["ls_no_id" if sid is None else "ls_id"] = True if sid is None else sid
            sid = None
        annotator = model_version = None
        score = np.nan
        cancelled = gt = False
        created = ann.get("created_at")
        if created is not None and not isinstance(created, str):
            extra["ls_int_created"] = True
            created = str(created)
        updated = ann.get("updated_at")
        lead = _num(ann.get("lead_time"))
        skip = {"id", "result", "created_at", "updated_at", "lead_time"}
        if source == "annotation":
            cb = ann.get("completed_by")
            if isinstance(cb, dict):
                extra["completed_by"] = cb
                annotator = cb.get("email") or (str(cb["id"]) if cb.get("id") is not None else None)
            elif cb is not None:
                annotator = str(cb)
                if not isinstance(cb, int):
                    extra["completed_by"] = cb
            if "skipped" in ann and "was_cancelled" not in ann:
                extra["ls_cancel_key"] = "skipped"
                cancelled = bool(ann["skipped"])
            else:
                cancelled = bool(ann.get("was_cancelled", False))
            gt = bool(ann.get("ground_truth", False))
            missing = [k for k in ("was_cancelled", "ground_truth") if k not in ann]
            if extra.get("ls_cancel_key"):
                missing.remove("was_cancelled")
            if missing:
                extra["ls_missing"] = missing
            skip |= {"completed_by", "was_cancelled", "skipped", "ground_truth"}
        else:
            mv = ann.get("model_version")
            model_version = None if mv is None else str(mv)
            score = _num(ann.get("score"))
            skip |= {"model_version", "score"}
        for k, v in ann.items():
            if k not in skip:
                extra[k] = v
        s["set_id"].append(sid)
        s["item_id"].append(item_idx)
        s["source"].append(source)
        s["annotator"].append(annotator)
        s["model_version"].append(model_version)
        s["score"].append(score)
        s["cancelled"].append(cancelled)
        s["ground_truth"].append(gt)
        s["created"].append(created)
        s["updated"].append(updated)
        s["lead_time"].append(lead)
        s["extra"].append(extra or None)
        result = ann.get("result") or ()
        set_idx = len(s["set_id"]) - 1
        for pos, r in enumerate(result):
            if not isinstance(r, dict):
                raise FormatError(self.where, f"task #{item_idx}: result #{pos} is not an object")
            if r.get("type") == "relation":
                self.add_relation(r, set_idx, item_idx, pos)
            else:
                self.add_result(r, set_idx, item_idx, source, score, cancelled)

    def add_relation(self, r: dict, set_idx: int, item_idx: int, pos: int) -> None:
        rel = self.rel
        rel["set_idx"].append(set_idx)
        rel["item_id"].append(item_idx)
        rel["from_region"].append(str(r.get("from_id", "")))
        rel["to_region"].append(str(r.get("to_id", "")))
        rel["direction"].append(r.get("direction", "right"))
        rel["labels"].append(list(r.get("labels") or []))
        ex = {k: v for k, v in r.items() if k not in ("type", "from_id", "to_id", "direction", "labels")}
        ex["index"] = pos
        if "direction" not in r:
            ex["ls_no_direction"] = True
        if "labels" not in r:
            ex["ls_no_labels"] = True
        rel["extra"].append(ex)

    # -- one result item ---------------------------------------------------------------------
    def add_result(self, r: dict, set_idx: int, item_idx: int, source: str, set_score: float,
                   cancelled: bool) -> None:
        self._attrs_pending = None
        self._cvat_pending = None
        start = len(self.rows.data)
        self._add_result(r, set_idx, item_idx, source, set_score, cancelled)
        if self._attrs_pending is not None:
            for i in range(start, len(self.rows.data)):
                self.rows.attrs[i] = self._attrs_pending
        if self._cvat_pending is not None:  # z_order / occluded our writer kept in meta (from CVAT)
            z, occ = self._cvat_pending
            for i in range(start, len(self.rows.data)):
                if z is not None:
                    self.rows.z_order[i] = z
                if occ:
                    self.rows.occluded[i] = True

    def _add_result(self, r: dict, set_idx: int, item_idx: int, source: str, set_score: float,
                    cancelled: bool) -> None:
        rows = self.rows
        ltype = r.get("type") or ""
        value = r.get("value")
        if value.__class__ is not dict:
            value = {}
        rid = r.get("id")
        if rid is not None and rid.__class__ is not str:
            rid = str(rid)
        fn, tn = r.get("from_name"), r.get("to_name")
        origin = r.get("origin")
        score = r.get("score")
        extra: dict = {}
        if score is None and source == "prediction" and set_score == set_score:
            score = set_score
            extra["ls_score_from_set"] = True
        if cancelled:
            extra["cancelled"] = True
        parent = r.get("parentID")
        if parent is not None:
            extra["parentID"] = parent
        for k in r.keys() - RESULT_KEYS:
            v = r[k]
            if k == "meta" and isinstance(v, dict) and (isinstance(v.get("attributes"), dict)
                                                         or isinstance(v.get("cvat"), dict)):
                if isinstance(v.get("attributes"), dict):
                    self._attrs_pending = v["attributes"]  # attributes our writer put there (e.g. from CVAT)
                cv = v.get("cvat")
                if isinstance(cv, dict):  # z_order / occluded our writer put there
                    z = cv.get("z_order")
                    self._cvat_pending = (float(z) if isinstance(z, (int, float)) and not isinstance(z, bool)
                                          else None, cv.get("occluded") is True)
                v = {a: b for a, b in v.items() if a not in ("attributes", "cvat")}
                if not v:
                    extra["ls_meta_attrs_only"] = True
                    continue
            if k in TOP_LEVEL:
                extra[k] = v
            else:
                extra.setdefault("ls_result", {})[k] = v
        ow, oh = r.get("original_width"), r.get("original_height")
        it = self.items
        if ow is not None and oh is not None:
            w0 = it["width"][item_idx]
            if w0 is None:
                it["width"][item_idx], it["height"][item_idx] = ow, oh
            elif w0 != ow or it["height"][item_idx] != oh:
                extra["original_width"], extra["original_height"] = ow, oh
            rot0 = extra.get("image_rotation", extra)
            if rot0 is extra:
                extra["ls_no_image_rotation"] = True
            elif rot0 == 0:
                del extra["image_rotation"]
        else:
            if ow is not None or oh is not None:
                extra["original_width"], extra["original_height"] = ow, oh
            ow = oh = None
            if it["kind"][item_idx] == "image":
                extra["ls_no_size"] = True
        spec = SHAPE_SPECS.get(ltype)
        if spec is None and ltype == "labels":
            spec = _labels_spec(value)
        if spec is None:
            if ltype == "videorectangle":
                self._video(value, r, rows, item_idx, set_idx, rid, fn, tn, origin, score, parent, extra, ow, oh)
            else:
                self._classification(ltype, value, rows, item_idx, set_idx, rid, fn, tn, origin, score, parent,
                                     extra, ow, oh)
            return
        typ, geo, lk, known = spec
        if DEFAULT_LS_TYPE[typ] != ltype:
            extra["ls_type"] = ltype
        if geo == 4 and value.get("closed") is False:  # an open polygon is a polyline (CVAT's, or unfinished)
            typ = "polyline"
        gx = gy = gw = gh = None
        grot = 0.0
        if geo == 1:
            gx, gy, gw, gh = value.get("x"), value.get("y"), value.get("width"), value.get("height")
        elif geo == 2:
            gx, gy, gw, gh = value.get("x"), value.get("y"), value.get("radiusX"), value.get("radiusY")
        elif geo == 3:
            gx, gy = value.get("x"), value.get("y")
        elif geo == 5:
            if value.get("format", "rle") != "rle" or "rle" not in value:
                extra["ls_type"] = ltype
                extra["ls_value"] = value
                rows.add(item_idx, set_idx, rid, "", "other", fn, tn, origin, score, parent, extra, ow, oh)
                return
            extra["rle"] = value["rle"]
            if "format" not in value:
                extra["ls_no_format"] = True
        if geo == 1 or geo == 2:
            grot = value.get("rotation")
            if grot is None:
                grot = 0.0
                extra["ls_no_rotation"] = True
        for k in value.keys() - known:
            extra[k] = value[k]
        labels = value.get(lk) if lk else None
        if lk and labels is None:
            extra["ls_no_labels"] = True
        if labels.__class__ is not list or len(labels) == 1 or not labels:
            lab = labels[0] if labels.__class__ is list and labels else ""
            i = rows.add(item_idx, set_idx, rid, lab if lab.__class__ is str else str(lab), typ, fn, tn, origin,
                         score, parent, extra or None, ow, oh, geo, gx, gy, gw, gh, grot)
            idx = (i,)
        else:
            idx = tuple(rows.add(item_idx, set_idx, rid, str(lab), typ, fn, tn, origin, score, parent,
                                 (extra if j == 0 else dict(extra)) or None, ow, oh, geo, gx, gy, gw, gh, grot)
                        for j, lab in enumerate(labels))
        if geo == 4:
            for i in idx:
                rows.points[i] = value.get("points") or []
        elif geo == 5:
            for i in idx:
                rows.rle[i] = value["rle"]

    def _video(self, value, r, rows, item_idx, set_idx, rid, fn, tn, origin, score, parent, extra, owf, ohf):
        it = self.items
        track = self.n_tracks
        self.n_tracks += 1
        labels = value.get("labels")
        label = str(labels[0]) if isinstance(labels, list) and labels else ""
        if isinstance(labels, list) and len(labels) != 1:
            extra["ls_labels"] = labels
        if "labels" not in value:
            extra["ls_no_labels"] = True
        if "duration" in value:
            d = _num(value["duration"])
            if it["duration"][item_idx] != it["duration"][item_idx]:
                it["duration"][item_idx] = d
            elif it["duration"][item_idx] != d:
                extra["ls_duration"] = value["duration"]
        else:
            extra["ls_duration"] = None
        if "framesCount" in value:
            ex = it["extra"][item_idx]
            if ex is None:
                ex = it["extra"][item_idx] = {}
            if "frames_count" not in ex:
                ex["frames_count"] = value["framesCount"]
            elif ex["frames_count"] != value["framesCount"]:
                extra["ls_frames_count"] = value["framesCount"]
        else:
            extra["ls_frames_count"] = None
        for k, v in value.items():
            if k not in ("sequence", "labels", "duration", "framesCount"):
                extra[k] = v
        seq = value.get("sequence") or []
        if not seq:
            extra["ls_empty_sequence"] = True
            i = rows.add(item_idx, set_idx, rid, label, "bbox", fn, tn, origin, score, parent, extra, owf, ohf, 1)
            rows.track[i] = track
            extra.setdefault("ls_type", "videorectangle")
            return
        for kf in seq:
            ex = dict(extra)
            ex["ls_type"] = "videorectangle"
            for k, v in kf.items():
                if k in ("enabled", "time"):
                    ex[k] = v
                elif k not in ("frame", "x", "y", "width", "height", "rotation"):
                    ex.setdefault("ls_keyframe", {})[k] = v
            if "rotation" not in kf:
                ex["ls_no_rotation"] = True
            i = rows.add(item_idx, set_idx, rid, label, "bbox", fn, tn, origin, score, parent, ex, owf, ohf, 1,
                         kf.get("x"), kf.get("y"), kf.get("width"), kf.get("height"), kf.get("rotation", 0.0))
            rows.track[i] = track
            # enabled:false = the box stops after this keyframe; read as CVAT's outside keyframe
            # (the writer maps it back, so both round trips agree; CVAT hides this frame itself)
            if kf.get("enabled") is False:
                rows.outside[i] = True
            fr = kf.get("frame")
            if isinstance(fr, int):
                rows.frame[i] = fr - 1

    def _span_text(self, tn) -> str | None:
        data = self._task_data
        key = tn
        if self.cfg is not None and tn in self.cfg.objects:
            key = self.cfg.objects[tn]["key"]
        v = data.get(key)
        if isinstance(v, str):
            return v
        for v in data.values():
            if isinstance(v, str):
                return v
        return None

    def _classification(self, ltype, value, rows, item_idx, set_idx, rid, fn, tn, origin, score, parent, extra,
                        owf, ohf):
        add = rows.add

        def emit(label, typ, ex):
            return add(item_idx, set_idx, rid, label, typ, fn, tn, origin, score, parent, ex or None, owf, ohf)

        def rest(skip):
            for k, v in value.items():
                if k not in skip:
                    extra[k] = v

        if ltype == "choices":
            rest(("choices",))
            ch = value.get("choices")
            if not isinstance(ch, list):
                extra["ls_value"] = value
                extra["ls_type"] = ltype
                emit("", "other", extra)
                return
            for j, c in enumerate(ch or [""]):
                emit(str(c), "tag", extra if j == 0 else dict(extra))
        elif ltype == "textarea":
            rest(("text",))
            texts = value.get("text")
            if isinstance(texts, str):
                texts = [texts]
                extra["ls_text_str"] = True
            for j, t in enumerate(texts or [None]):
                i = emit("", "text", extra if j == 0 else dict(extra))
                if t is not None:
                    rows.text[i] = str(t)
        elif ltype == "taxonomy":
            rest(("taxonomy",))
            paths = value.get("taxonomy") or [[]]
            for p in paths:
                ex = dict(extra)
                ex["path"] = p
                emit(str(p[-1]) if p else "", "taxonomy", ex)
        elif ltype in ("rating", "number"):
            rest((ltype,))
            i = emit("", ltype, extra)
            rows.value[i] = _num(value.get(ltype))
        elif ltype == "datetime":
            rest(("datetime",))
            i = emit("", "datetime", extra)
            if value.get("datetime") is not None:
                rows.text[i] = str(value["datetime"])
        elif ltype in ("labels", "timeserieslabels") and "start" in value:
            key = ltype
            s, e = value.get("start"), value.get("end")
            is_span = ltype == "labels" and ("text" in value or (
                isinstance(s, int) and isinstance(e, int) and not isinstance(s, bool)
                and self.items["kind"][item_idx] == "text"))
            rest((key, "start", "end", "text") if is_span else (key, "start", "end"))
            if ltype != "labels":
                extra["ls_type"] = ltype
            if ltype == "labels" and not is_span and "text" in value:
                extra["text"] = value["text"]
            start, end, text = _num(s), _num(e), value.get("text") if is_span else None
            if s is not None and start != start:
                extra["ls_start_raw"] = s
            if e is not None and end != end:
                extra["ls_end_raw"] = e
            if is_span and text is not None and start == start and end == end:
                doc = self._span_text(tn)
                if doc is not None and doc[int(start):int(end)] != text:
                    pos = doc.find(text)
                    if pos >= 0:
                        extra["ls_start"], extra["ls_end"] = s, e
                        extra["ls_span"] = "repaired: offsets did not match the text (UTF-16 drift?)"
                        start, end = float(pos), float(pos + len(text))
                    else:
                        extra["ls_span"] = "text not found in the task data"
            labs = value.get(key)
            if key not in value:
                extra["ls_no_labels"] = True
            for j, lab in enumerate(labs or [""]):
                i = emit(str(lab), "span" if is_span else "segment", extra if j == 0 else dict(extra))
                rows.start[i], rows.end[i] = start, end
                if text is not None:
                    rows.text[i] = str(text)
        elif ltype == "timelinelabels":
            rest(("timelinelabels", "ranges"))
            extra["ls_type"] = ltype
            ranges = value.get("ranges") or []
            if len(ranges) != 1:
                extra["ls_ranges"] = ranges
            r0 = ranges[0] if ranges else {}
            for j, lab in enumerate(value.get("timelinelabels") or [""]):
                i = emit(str(lab), "segment", extra if j == 0 else dict(extra))
                rows.start[i], rows.end[i] = _num(r0.get("start")), _num(r0.get("end"))
        elif ltype in ("hypertextlabels", "paragraphlabels"):
            # spans addressed by XPath (HTML) or paragraph index: the value is kept verbatim for
            # the round trip; label and text become columns, and for HTML the character offsets
            # into the page's text (globalOffsets) are start/end
            extra["ls_type"] = ltype
            extra["ls_value"] = {k: v for k, v in value.items() if k != ltype}
            if ltype not in value:
                extra["ls_no_labels"] = True
            offsets = value.get("globalOffsets") if ltype == "hypertextlabels" else None
            offsets = offsets if isinstance(offsets, dict) else {}
            for j, lab in enumerate(value.get(ltype) or [""]):
                i = emit(str(lab), "span", extra if j == 0 else dict(extra))
                rows.start[i], rows.end[i] = _num(offsets.get("start")), _num(offsets.get("end"))
                if value.get("text") is not None:
                    rows.text[i] = str(value["text"])
        else:  # pairwise, ranker, unknown: verbatim
            extra["ls_type"] = ltype
            extra["ls_value"] = value
            emit("", "other", extra)

    # -- finishing: ids, geometry, tables ------------------------------------------------------
    def dataset(self) -> Dataset:
        items = self._items_frame()
        item_ids = items["item_id"].to_numpy()
        sets = self._sets_frame(item_ids)
        ann = self._annotations_frame(item_ids, sets)
        rel = pd.DataFrame({
            "set_id": sets["set_id"].to_numpy()[np.asarray(self.rel["set_idx"], dtype=np.int64)]
            if self.rel["set_idx"] else [],
            "item_id": item_ids[np.asarray(self.rel["item_id"], dtype=np.int64)] if self.rel["item_id"] else [],
            "from_region": self.rel["from_region"], "to_region": self.rel["to_region"],
            "direction": self.rel["direction"], "labels": self.rel["labels"], "extra": self.rel["extra"],
        })
        labels = self._labels_frame(ann)
        info = {"format": "Label Studio JSON"}
        if self.cfg is not None:
            info["label_config"] = self.cfg.xml
        return Dataset(items=items, sets=sets, annotations=ann, labels=labels, relations=rel, info=info)

    @staticmethod
    def _assign_ids(raw: list, extras: list) -> np.ndarray:
        """Keep int ids when unique; give the others fresh ids (the original stays in extra)."""
        ids = np.array([-1 if v is None else v for v in raw], dtype=np.int64)
        have = ids >= 0
        dup = pd.Series(ids).duplicated().to_numpy() & have
        if dup.any():
            for i in np.flatnonzero(dup):
                ex = extras[i] = dict(extras[i] or {})
                ex["ls_id"] = int(ids[i])
            have &= ~dup
        need = ~have
        if need.any():
            start = int(ids[have].max()) + 1 if have.any() else 0
            ids[need] = np.arange(start, start + int(need.sum()))
        return ids

    def _items_frame(self) -> pd.DataFrame:
        it = self.items
        ids = self._assign_ids(it["item_id"], it["extra"])
        return pd.DataFrame({
            "item_id": ids, "name": it["name"], "media": it["media"], "kind": it["kind"],
            "width": pd.array(it["width"], dtype="Int64"), "height": pd.array(it["height"], dtype="Int64"),
            "duration": it["duration"], "data": it["data"], "extra": it["extra"],
        })

    def _sets_frame(self, item_ids) -> pd.DataFrame:
        s = dict(self.sets)
        s["set_id"] = self._assign_ids(s["set_id"], s["extra"])
        s["item_id"] = item_ids[np.asarray(s["item_id"], dtype=np.int64)] if s["item_id"] else []
        return pd.DataFrame(s)

    def _annotations_frame(self, item_ids, sets) -> pd.DataFrame:
        r = self.rows
        n = len(r.data)
        if n == 0:
            return pd.DataFrame({"ann_id": pd.Series([], dtype="Int64")})
        c = r.columns()
        set_idx = np.asarray(c["set"], dtype=np.int64)
        set_ids = sets["set_id"].to_numpy()[set_idx]
        ow, oh = _floats(c["ow"]), _floats(c["oh"])
        geo = np.asarray(c["geo"], dtype=np.int8)
        gx, gy, gw, gh = (_floats(c[k]) for k in ("gx", "gy", "gw", "gh"))
        rot = _floats(c["grot"])
        extra = list(c["extra"])
        x = np.full(n, np.nan)
        y, w, h = x.copy(), x.copy(), x.copy()
        # boxes (geo 1): percent -> px, top-left rotation -> centre rotation
        b = geo == 1
        if b.any():
            bx, by = geometry.pct_to_px(gx[b], ow[b]), geometry.pct_to_px(gy[b], oh[b])
            bw, bh = geometry.pct_to_px(gw[b], ow[b]), geometry.pct_to_px(gh[b], oh[b])
            cx, cy = geometry.topleft_to_centre(bx, by, bw, bh, rot[b])
            x[b], y[b], w[b], h[b] = cx, cy, bw, bh
            tx, ty = geometry.centre_to_topleft(cx, cy, bw, bh, rot[b])
            back = np.stack([geometry.px_to_pct(tx, ow[b]), geometry.px_to_pct(ty, oh[b]),
                             geometry.px_to_pct(bw, ow[b]), geometry.px_to_pct(bh, oh[b])], axis=1)
            self._keep_pct(np.flatnonzero(b), np.stack([gx[b], gy[b], gw[b], gh[b]], axis=1), back, extra)
        e = geo == 2
        if e.any():
            cx, cy = geometry.pct_to_px(gx[e], ow[e]), geometry.pct_to_px(gy[e], oh[e])
            rx, ry = geometry.pct_to_px(gw[e], ow[e]), geometry.pct_to_px(gh[e], oh[e])
            x[e], y[e], w[e], h[e] = geometry.ellipse_bbox(cx, cy, rx, ry)
            back = np.stack([geometry.px_to_pct(x[e] + w[e] / 2, ow[e]), geometry.px_to_pct(y[e] + h[e] / 2, oh[e]),
                             geometry.px_to_pct(w[e] / 2, ow[e]), geometry.px_to_pct(h[e] / 2, oh[e])], axis=1)
            self._keep_pct(np.flatnonzero(e), np.stack([gx[e], gy[e], gw[e], gh[e]], axis=1), back, extra)
        points = np.empty(n, dtype=object)
        k = geo == 3
        if k.any():
            px, py = geometry.pct_to_px(gx[k], ow[k]), geometry.pct_to_px(gy[k], oh[k])
            x[k], y[k], w[k], h[k] = px, py, 0.0, 0.0
            for j, i in enumerate(np.flatnonzero(k).tolist()):
                points[i] = [float(px[j]), float(py[j])]
            back = np.stack([geometry.px_to_pct(px, ow[k]), geometry.px_to_pct(py, oh[k])], axis=1)
            self._keep_pct(np.flatnonzero(k), np.stack([gx[k], gy[k]], axis=1), back, extra)
        if r.points:
            self._polygons(r.points, points, ow, oh, x, y, w, h, extra)
        masks = np.empty(n, dtype=object)
        for i, rle in r.rle.items():
            if ow[i] != ow[i]:
                continue
            H, W = int(oh[i]), int(ow[i])
            alpha = brush.decode(rle, H, W, where=self.where)
            m = brush.to_coco(alpha, self.threshold)
            masks[i] = m
            x[i], y[i], w[i], h[i] = brush.coco_bbox(m)
        src = sets["source"].to_numpy()[set_idx]
        df = pd.DataFrame({
            "ann_id": np.arange(n, dtype=np.int64),
            "item_id": item_ids[np.asarray(c["item"], dtype=np.int64)],
            "set_id": set_ids,
            "source": src,
            "annotator": sets["annotator"].to_numpy()[set_idx],
            "model_version": sets["model_version"].to_numpy()[set_idx],
            "score": _floats(c["score"]),
            "origin": c["origin"],
            "region_id": c["region"],
            "label": c["label"],
            "type": c["type"],
            "from_name": c["from_name"],
            "to_name": c["to_name"],
            "x": x, "y": y, "w": w, "h": h,
            "rotation": np.where((geo == 1) | (geo == 2), rot, 0.0),
            "points": points,
            "mask": masks,
            "extra": extra,
        })
        df["parent_id"] = self._parents(c)
        for col, sparse, dtype in (("start", r.start, float), ("end", r.end, float), ("value", r.value, float),
                                   ("text", r.text, object), ("frame", r.frame, object),
                                   ("track_id", r.track, object), ("attributes", r.attrs, object)):
            if sparse:
                arr = np.full(n, np.nan) if dtype is float else np.full(n, None, dtype=object)
                idx = np.fromiter(sparse.keys(), dtype=np.int64, count=len(sparse))
                arr[idx] = list(sparse.values()) if dtype is object else np.fromiter(sparse.values(), float,
                                                                                    count=len(sparse))
                df[col] = arr
        if r.z_order:
            z = np.zeros(n)
            z[np.fromiter(r.z_order.keys(), dtype=np.int64, count=len(r.z_order))] = list(r.z_order.values())
            df["z_order"] = z
        if r.occluded:
            occ = np.zeros(n, dtype=bool)
            occ[np.fromiter(r.occluded.keys(), dtype=np.int64, count=len(r.occluded))] = True
            df["occluded"] = occ
        if r.track:
            df["keyframe"] = df["track_id"].notna()
        if r.outside:
            out = np.zeros(n, dtype=bool)
            out[np.fromiter(r.outside.keys(), dtype=np.int64, count=len(r.outside))] = True
            df["outside"] = out
        return df

    @staticmethod
    def _keep_pct(idx, orig, back, extra) -> None:
        """Keep the original percentages where px and back does not reproduce them exactly."""
        bad = ~((orig == back) | (np.isnan(orig) & np.isnan(back))).all(axis=1)
        for j in np.flatnonzero(bad):
            i = idx[j]
            ex = extra[i] = dict(extra[i] or {})
            ex["ls_pct"] = [None if v != v else v for v in orig[j].tolist()]

    def _polygons(self, pts: dict, points, ow, oh, x, y, w, h, extra) -> None:
        idx = np.fromiter(pts.keys(), dtype=np.int64, count=len(pts))
        flat, ok = [], np.ones(len(idx), bool)
        for j, p in enumerate(pts.values()):
            try:
                a = np.asarray(p, dtype=float).reshape(-1)
            except (TypeError, ValueError):
                a = np.zeros(0)
                ok[j] = False
            if a.size % 2:
                ok[j] = False
            flat.append(a)
        lens = np.fromiter((a.size for a in flat), dtype=np.int64, count=len(flat))
        allv = np.concatenate(flat) if lens.sum() else np.zeros(0)
        row = np.repeat(np.arange(len(idx)), lens)
        size = np.where(np.arange(allv.size) % 2 == 0, ow[idx][row], oh[idx][row])
        px = geometry.pct_to_px(allv, size)
        back = geometry.px_to_pct(px, size)
        same = (back == allv) | (np.isnan(back) & np.isnan(allv))
        offs = np.concatenate([[0], np.cumsum(lens)])
        bad_rows = np.zeros(len(idx), bool)
        if allv.size:
            nz = lens > 0
            bad_rows[nz] = np.logical_and.reduceat(same, offs[:-1][nz]) == 0
        bad_rows |= ~ok
        plist = [px[offs[j]:offs[j + 1]].tolist() for j in range(len(idx))]
        for j, i in enumerate(idx):
            points[i] = plist[j]
            if bad_rows[j] or ow[i] != ow[i]:
                ex = extra[i] = dict(extra[i] or {})
                ex["ls_points"] = pts[int(i)]
        bx, by, bw, bh = geometry.points_bbox(plist)
        x[idx], y[idx], w[idx], h[idx] = bx, by, bw, bh

    @staticmethod
    def _parents(c: dict) -> pd.array:
        n = len(c["parent"])
        if not any(p is not None for p in c["parent"]):
            return pd.array([pd.NA] * n, dtype="Int64")
        first: dict = {}
        for i, (s, reg) in enumerate(zip(c["set"], c["region"], strict=True)):
            first.setdefault((s, reg), i)
        vals = [first.get((s, str(p))) if p is not None else None for s, p in zip(c["set"], c["parent"], strict=True)]
        return pd.array([pd.NA if v is None else v for v in vals], dtype="Int64")

    def _labels_frame(self, ann: pd.DataFrame) -> pd.DataFrame:
        if self.cfg is not None and self.cfg.labels:
            return pd.DataFrame(self.cfg.labels)
        if not len(ann):
            return None
        from .ls_config import CONTROL_TYPES

        sub = ann.loc[ann["label"] != "", ["label", "from_name", "type", "extra"]]
        if not len(sub):
            return None
        lt = [(e or {}).get("ls_type") for e in sub["extra"]]
        tmap = {"bbox": "rectangle", "polygon": "polygon", "points": "points", "ellipse": "ellipse", "mask": "mask",
                "tag": "tag", "taxonomy": "tag"}
        types = [CONTROL_TYPES.get(t, "any") if t else tmap.get(ty, "any") for t, ty in zip(lt, sub["type"], strict=True)]
        lab = pd.DataFrame({"name": sub["label"].to_numpy(), "from_name": sub["from_name"].to_numpy(),
                            "type": types})
        return lab.drop_duplicates(["name", "from_name"]).reset_index(drop=True)


def read(source: Source, config=None, mask_threshold: int = 1, upload_dir: str | None = None,
         local_files_root: str | None = None, **_options) -> Dataset:
    """Read Label Studio JSON (a task list, one task, per-task files, or an LS 0.x project).

    ``upload_dir``: where Label Studio's ``/data/upload/`` files are here (its
    ``media/upload`` folder); ``local_files_root``: the document root of ``/data/local-files/?d=``
    (default: ``$LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``, as Label Studio itself reads it).
    """
    cfg = load_config(config, source)
    with gc_paused():
        tasks = load_tasks(source)
        reader = Reader(cfg, mask_threshold, source.display())
        reader.add_tasks(tasks)
        del tasks
        ds = reader.dataset()
    if source.kind == "file":
        ds.media_root = source.folder
    else:
        ds.media_root = source.url_of("")
    local_files_root = local_files_root or os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")
    media_map = {prefix: os.path.expanduser(str(root)) for prefix, root in
                 ((UPLOAD_PREFIX, upload_dir), (LOCAL_FILES_PREFIX, local_files_root)) if root}
    if media_map:
        ds.info["media_map"] = media_map
    return ds


UPLOAD_PREFIX = "/data/upload/"
LOCAL_FILES_PREFIX = "/data/local-files/?d="
