"""CVAT XML 1.1 reader (both flavours): lxml iterparse straight into columns.

One pass over ``end`` events: a shape appends one tuple of raw attribute strings, an
``<image>`` or ``<track>`` end stamps the rows collected since the last one, ``<meta>`` is
small and read as a tree. Strings become numbers afterwards, a column at a time. DTDs and
entities are refused before parsing (``UnsafeInputError``); broken XML is a ``FormatError``
with file and line.
"""
from __future__ import annotations

import posixpath
import re

import numpy as np
import pandas as pd
from lxml import etree

from ..core import masks as _masks
from ..core import tracks as _tracks
from ..core.dataset import Dataset
from ..core.errors import FormatError, UnsafeInputError
from ..core.gcpause import gc_paused
from ..core.geometry import points_bbox
from ..core.io import Source

TYPE_OF = {"box": "bbox", "polygon": "polygon", "polyline": "polyline", "points": "points",
           "ellipse": "ellipse", "cuboid": "cuboid", "mask": "mask", "skeleton": "skeleton"}
CUBOID_KEYS = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
               "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
TASK_FIELDS = ("id", "name", "size", "mode", "overlap", "subset", "start_frame", "stop_frame", "frame_filter")
_HEAD = 1 << 16
_PROLOG_ELEM = re.compile(rb"<(?![?!])")


# -- safety and sniffing ---------------------------------------------------------------------
def _prolog(head: bytes) -> bytes:
    m = _PROLOG_ELEM.search(head)
    return head[: m.start()] if m else head


def check_safe(head: bytes, where: str) -> None:
    """Refuse a document whose prolog declares a DTD or entities."""
    pro = _prolog(head).upper()
    if b"<!DOCTYPE" in pro or b"<!ENTITY" in pro:
        raise UnsafeInputError(where, "XML with a DOCTYPE or ENTITY declaration is refused (no entity expansion)",
                               line=pro.count(b"\n") + 1, element="!DOCTYPE")


def looks_like_cvat(head: bytes) -> bool:
    """Root ``<annotations>`` followed by CVAT's first elements."""
    rest = head[len(_prolog(head)):].lstrip()
    if not rest.startswith(b"<annotations"):
        return False
    return any(t in rest[:4096] for t in (b"<version>", b"<meta>", b"<image ", b"<track "))


def find_xmls(source: Source) -> list[str]:
    """XML files of the input that have an ``<annotations>`` root."""
    if source.kind == "file":
        return [source.name]
    out = []
    for rel in source.glob("*.xml"):
        with source.open(rel) as f:
            if looks_like_cvat(f.read(_HEAD)):
                out.append(rel)
    return out


# -- meta ------------------------------------------------------------------------------------
def _tree(el) -> list | str:
    """An element as text (leaf) or a list of (tag, value) pairs, order kept."""
    if len(el) == 0:
        return el.text or ""
    return [(c.tag, _tree(c)) for c in el if isinstance(c.tag, str)]


def _d(pairs) -> dict:
    return dict(pairs) if isinstance(pairs, list) else {}


def _split_values(text: str, has_mutable: bool) -> list[str]:
    if not text:
        return []
    if "\n" in text:
        return text.split("\n")
    return text.split() if not has_mutable else [text]  # old files (no <mutable>) separate by spaces


def parse_labels(pairs) -> list[dict]:
    rows = []
    for tag, lab in pairs if isinstance(pairs, list) else []:
        if tag != "label":
            continue
        d = _d(lab)
        specs = []
        for atag, att in d.get("attributes", []) if isinstance(d.get("attributes"), list) else []:
            if atag != "attribute":
                continue
            a = _d(att)
            specs.append({"name": a.get("name", ""), "input_type": a.get("input_type", "text"),
                          "values": _split_values(a.get("values", ""), "mutable" in a),
                          "default": a.get("default_value", ""), "mutable": a.get("mutable", "False") == "True"})
        extra = {k: v for k, v in d.items() if k not in ("name", "color", "type", "attributes", "parent", "svg")}
        rows.append({"name": d.get("name", ""), "color": d.get("color") or pd.NA, "type": d.get("type") or "any",
                     "attributes": specs, "parent": d.get("parent") or pd.NA, "svg": d.get("svg", pd.NA),
                     "extra": extra or None})
    return rows


def _int(v, default=pd.NA):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _task_row(d: dict) -> dict:
    extra = {k: v for k, v in d.items() if k not in TASK_FIELDS and k not in ("labels", "segments")}
    return {"task_id": _int(d.get("id")), "name": d.get("name", ""), "subset": d.get("subset") or "default",
            "mode": d.get("mode") or "annotation", "size": _int(d.get("size")),
            "start_frame": _int(d.get("start_frame"), 0), "stop_frame": _int(d.get("stop_frame")),
            "frame_filter": d.get("frame_filter", ""), "overlap": _int(d.get("overlap"), 0), "extra": extra}


def _jobs(d: dict, task_id) -> list[dict]:
    out = []
    for tag, seg in d.get("segments", []) if isinstance(d.get("segments"), list) else []:
        if tag == "segment":
            s = _d(seg)
            out.append({"job_id": _int(s.get("id")), "task_id": task_id, "start": _int(s.get("start")),
                        "stop": _int(s.get("stop")), "url": s.get("url", pd.NA)})
    return out


def parse_meta(meta_el) -> dict:
    """``<meta>`` -> info, tasks, jobs and labels rows."""
    top = _tree(meta_el)
    top = top if isinstance(top, list) else []
    info: dict = {}
    tasks, jobs, labels = [], [], []
    outer = {}
    for tag, val in top:
        if tag in ("task", "job", "project"):
            d = _d(val)
            info["level"] = tag
            info["id"] = _int(d.get("id"), None)
            if "name" in d:
                info["name"] = d["name"]
            owner = _d(d.get("owner"))
            if owner:
                info["owner"] = owner.get("username", "")
            labels = parse_labels(d.get("labels", []))
            if tag == "project":
                info["project"] = {k: v for k, v in d.items() if k not in ("tasks", "labels", "id", "name")}
                for ttag, tval in d.get("tasks", []) if isinstance(d.get("tasks"), list) else []:
                    if ttag == "task":
                        td = _d(tval)
                        row = _task_row(td)
                        tasks.append(row)
                        jobs += _jobs(td, row["task_id"])
            else:
                row = _task_row(d)
                if tag == "job":
                    row["task_id"] = pd.NA
                tasks.append(row)
                jobs += _jobs(d, row["task_id"])
        elif tag == "dumped":
            info["dumped"] = val
        else:
            outer[tag] = val
    if outer:
        info["meta_extra"] = outer
        if tasks:  # old files / job quirk: <source>, <original_size> next to <dumped>
            for row in tasks:
                for k, v in outer.items():
                    row["extra"].setdefault(k, v)
            info.setdefault("meta_outer", list(outer))
    return {"info": info, "tasks": tasks, "jobs": jobs, "labels": labels}


# -- the body --------------------------------------------------------------------------------
def _points(text, where, line, tag):
    try:
        return [float(v) for v in text.replace(";", ",").split(",")]
    except (ValueError, AttributeError):
        raise FormatError(where, f"points {str(text)[:40]!r} are not 'x,y;x,y;…' numbers", line=line,
                          element=tag) from None


def _missing(where, el, name):
    raise FormatError(where, f"missing required attribute {name!r}", line=el.sourceline, element=el.tag)


def parse_body(fobj, where: str):
    """Stream one CVAT XML document into raw column tuples, items and meta."""
    rows: list[tuple] = []
    kids_of: dict[int, list[int]] = {}
    images: list[tuple] = []
    img_end: list[int] = []
    tracks: list[tuple] = []
    trk_end: list[int] = []
    meta = None
    version = None
    pend: dict = {}
    append = rows.append
    it = etree.iterparse(fobj, events=("end",), resolve_entities=False, no_network=True, load_dtd=False,
                         huge_tree=True, remove_comments=True)
    first = True
    try:
        for _, el in it:
            if first:
                first = False
                if el.getroottree().docinfo.doctype:
                    raise UnsafeInputError(where, "XML with a DOCTYPE is refused", line=1, element="!DOCTYPE")
            tag = el.tag
            if tag == "attribute":
                name = el.get("name")
                if name is not None:
                    pend[name] = el.text or ""
                continue
            if tag == "box":
                g = el.get
                c = (g("xtl"), g("ytl"), g("xbr"), g("ybr"))
                if None in c:
                    _missing(where, el, ("xtl", "ytl", "xbr", "ybr")[c.index(None)])
                append((g("label"), "bbox", g("source"), g("occluded"), g("z_order"), g("group_id"), g("rotation"),
                        c[0], c[1], c[2], c[3], None, pend or None, g("frame"), g("keyframe"), g("outside")))
                if pend:
                    pend = {}
                continue
            if tag in TYPE_OF:
                g = el.get
                line = el.sourceline
                c0 = c1 = c2 = c3 = None
                pts = None
                if tag in ("polygon", "polyline", "points"):
                    p = g("points")
                    if p is None:
                        _missing(where, el, "points")
                    pts = _points(p, where, line, tag)
                elif tag == "ellipse":
                    c = (g("cx"), g("cy"), g("rx"), g("ry"))
                    if None in c:
                        _missing(where, el, ("cx", "cy", "rx", "ry")[c.index(None)])
                    c0, c1, c2, c3 = c
                elif tag == "cuboid":
                    c = [g(k) for k in CUBOID_KEYS]
                    if None in c:
                        _missing(where, el, CUBOID_KEYS[c.index(None)])
                    pts = _points(",".join(c), where, line, tag)
                elif tag == "mask":
                    c = (g("rle"), g("left"), g("top"), g("width"), g("height"))
                    if None in c:
                        _missing(where, el, ("rle", "left", "top", "width", "height")[c.index(None)])
                    try:
                        pts = ("__mask__", _masks.parse_cvat_rle(c[0], file=where, line=line),
                               int(c[1]), int(c[2]), int(c[3]), int(c[4]), line)
                    except ValueError:
                        raise FormatError(where, "mask left/top/width/height must be integers", line=line,
                                          element="mask") from None
                    c0, c1, c2, c3 = c[1], c[2], c[3], c[4]
                if tag == "skeleton":  # its points ended just before it: the last rows are theirs
                    k = sum(1 for ch in el if ch.tag in TYPE_OF)
                    kids_of[len(rows)] = list(range(len(rows) - k, len(rows)))
                append((g("label"), TYPE_OF[tag], g("source"), g("occluded"), g("z_order"), g("group_id"),
                        g("rotation"), c0, c1, c2, c3, pts, pend or None, g("frame"), g("keyframe"), g("outside")))
                if pend:
                    pend = {}
                continue
            if tag == "tag":
                g = el.get
                append((g("label"), "tag", g("source"), None, None, g("group_id"), None, None, None, None, None,
                        None, pend or None, g("frame"), None, None))
                if pend:
                    pend = {}
                continue
            if tag == "image":
                g = el.get
                if g("id") is None:
                    _missing(where, el, "id")
                images.append((g("id"), g("name"), g("width"), g("height"), g("subset"), g("task_id")))
                img_end.append(len(rows))
                el.clear()
                continue
            if tag == "track":
                g = el.get
                for k in ("id", "label"):
                    if g(k) is None:
                        _missing(where, el, k)
                tracks.append((g("id"), g("label"), g("source"), g("group_id"), g("task_id"), g("subset")))
                trk_end.append(len(rows))
                el.clear()
                continue
            if tag == "meta":
                meta = parse_meta(el)
                el.clear()
            elif tag == "version":
                version = el.text
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None) or (exc.position[0] if getattr(exc, "position", None) else None)
        raise FormatError(where, f"malformed XML: {exc.msg if hasattr(exc, 'msg') else exc}", line=line) from None
    root = it.root  # the last "end" event's element; any other root is another format's XML
    if root is not None and root.tag != "annotations":
        raise FormatError(where, f"expected the root element <annotations> (CVAT XML), found <{root.tag}>",
                          line=root.sourceline, element=str(root.tag))
    return {"rows": rows, "kids_of": kids_of, "images": images, "img_end": img_end, "tracks": tracks,
            "trk_end": trk_end, "meta": meta, "version": version}


# -- columns ---------------------------------------------------------------------------------
def _num(values, dtype=float):
    """Strings/None -> float64 (NaN for None/junk); fast paths for all-None and all-number columns."""
    n = len(values)
    try:  # all numbers: one C pass (None or junk raise at once)
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        if values.count(None) == n:
            arr = np.full(n, np.nan)
        else:
            arr = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    return arr if dtype is float else pd.Series(arr)


def _bad_number(where, values, rows, what):
    for i, v in enumerate(values):
        if v is not None:
            try:
                float(v)
            except ValueError:
                raise FormatError(where, f"{what} {v!r} is not a number (annotation #{i}, label "
                                         f"{rows[i][0]!r})", element=rows[i][1]) from None


def build_annotations(raw, where: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Raw tuples -> annotation columns (geometry still without masks); returns (df, image index)."""
    rows = raw["rows"]
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if n else [()] * 16
    label, typ, origin, occ, z, grp, rot, c0, c1, c2, c3, pts, attrs, frame, keyf, outs = cols
    c = []
    for vals in (c0, c1, c2, c3):
        try:
            arr = np.array(vals, dtype=np.float64)  # every row has its four numbers: the common case
        except (TypeError, ValueError):
            arr = _num(vals)
        if np.isnan(arr).any():
            _bad_number(where, vals, rows, "coordinate")
        c.append(arr)
    typ = np.asarray(typ, dtype=object)
    x, y, w, h = c[0], c[1], c[2] - c[0], c[3] - c[1]
    ell = typ == "ellipse"
    x = np.where(ell, c[0] - c[2], x)
    y = np.where(ell, c[1] - c[3], y)
    w = np.where(ell, 2 * c[2], w)
    h = np.where(ell, 2 * c[3], h)
    msk = typ == "mask"
    w = np.where(msk, c[2], w)
    h = np.where(msk, c[3], h)
    pts = list(pts)
    has_pts = (np.fromiter((isinstance(p, list) for p in pts), dtype=bool, count=n) if pts.count(None) != n
               else np.zeros(n, dtype=bool))
    if has_pts.any():
        sel = [pts[i] for i in np.flatnonzero(has_pts)]
        bx, by, bw, bh = points_bbox(sel)
        x[has_pts], y[has_pts], w[has_pts], h[has_pts] = bx, by, bw, bh
    # rows -> image (images flavour) or track (video flavour)
    img_idx = np.full(n, -1, dtype=np.int64)
    trk_idx = np.full(n, -1, dtype=np.int64)
    for ends, target in ((raw["img_end"], img_idx), (raw["trk_end"], trk_idx)):
        if ends:
            ends = np.asarray(ends)
            starts = np.concatenate(([0], ends[:-1]))
            # a row belongs to the container whose end it precedes, when it is after the previous end
            pos = np.searchsorted(ends, np.arange(n), side="right")
            inside = pos < len(ends)
            target[inside] = pos[inside]
            del starts
    if raw["img_end"] and raw["trk_end"]:
        # rows can only be in one container: whichever closed first after the row
        ie = np.asarray(raw["img_end"])[np.clip(img_idx, 0, None)] if len(raw["img_end"]) else None
        te = np.asarray(raw["trk_end"])[np.clip(trk_idx, 0, None)]
        img_first = (img_idx >= 0) & ((trk_idx < 0) | (ie <= te))
        trk_idx[img_first] = -1
        img_idx[~img_first] = -1
    rot_arr = _num(rot)
    df = pd.DataFrame({
        "label": pd.array(label, dtype="object"), "type": typ, "origin": pd.array(origin, dtype="object"),
        "occluded": np.asarray(occ, dtype=object) == "1", "z_order": np.nan_to_num(_num(z)).astype(np.int64),
        "group": _num(grp), "rotation": np.nan_to_num(rot_arr),
        "x": x, "y": y, "w": w, "h": h, "points": pts, "attributes": list(attrs),
        "frame": _num(frame), "keyframe": np.asarray(keyf, dtype=object) == "1",
        "outside": np.asarray(outs, dtype=object) == "1",
    })
    df["_trk"] = trk_idx
    parent = np.full(n, -1, dtype=np.int64)
    for p, kids in raw["kids_of"].items():
        parent[kids] = p
    df["_parent"] = parent
    return df, img_idx


def task_range(task: dict) -> np.ndarray:
    """Absolute frames of a task: start..stop by the step of ``frame_filter``."""
    m = re.search(r"step\s*=\s*(\d+)", task.get("frame_filter") or "")
    step = int(m.group(1)) if m else 1
    start = int(task.get("start_frame") or 0)
    stop = task.get("stop_frame")
    if stop is pd.NA or stop is None:
        size = task.get("size")
        stop = start + (int(size) - 1) * step if size is not pd.NA and size is not None else start
    return np.arange(start, int(stop) + 1, step)


def step_of(task: dict) -> int:
    m = re.search(r"step\s*=\s*(\d+)", task.get("frame_filter") or "")
    return int(m.group(1)) if m else 1


def read_document(source: Source, rel: str, keyframes_only: bool = False) -> Dataset:
    """One CVAT XML document -> Dataset."""
    where = source.display(rel)
    with source.open(rel) as f:
        check_safe(f.read(_HEAD), where)
    with gc_paused():
        with source.open(rel) as f:
            raw = parse_body(f, where)
        ds = _assemble(source, rel, raw, where, keyframes_only)
        del raw  # free the row tuples before the GC is back, or its first pass walks them all
        return ds


def _assemble(source: Source, rel: str, raw: dict, where: str, keyframes_only: bool) -> Dataset:
    meta = raw["meta"] or {"info": {}, "tasks": [], "jobs": [], "labels": []}
    info = dict(meta["info"])
    info["version"] = raw["version"]
    tasks = meta["tasks"]
    default_task = tasks[0] if len(tasks) == 1 else None
    df, img_idx = build_annotations(raw, where)
    n = len(df)
    # -- items
    items = _images_items(raw["images"], tasks, default_task)
    trk = raw["tracks"]
    trk_idx = df.pop("_trk").to_numpy()
    if trk:
        tcols = list(zip(*trk, strict=True))
        t_id = _num(tcols[0])
        in_t = trk_idx >= 0
        ti = trk_idx[in_t]
        has_label = df["label"].notna().to_numpy()
        lab = df["label"].to_numpy(dtype=object).copy()
        fill = in_t & ~has_label
        lab[fill] = np.asarray(tcols[1], dtype=object)[trk_idx[fill]]
        df["label"] = lab
        org = df["origin"].to_numpy(dtype=object).copy()
        org[in_t] = np.asarray(tcols[2], dtype=object)[ti]
        df["origin"] = org
        grp = df["group"].to_numpy().copy()
        grp[in_t] = _num(tcols[3])[ti]
        df["group"] = grp
        tid = np.full(n, np.nan)
        tid[in_t] = t_id[ti]
        df["track_id"] = tid
        t_task = _num(tcols[4])
        df["_task"] = np.where(in_t, t_task[np.clip(trk_idx, 0, None)], np.nan)
    else:
        df["track_id"] = np.nan
        df["_task"] = np.nan
    _check_required(df, trk_idx, where)
    # skeleton points inherit the frame of their skeleton
    par = df["_parent"].to_numpy()
    kid = par >= 0
    if kid.any():
        fr = df["frame"].to_numpy().copy()
        fr[kid] = fr[par[kid]]
        df["frame"] = fr
    if raw["images"] and (img_idx >= 0).any():
        has_img = img_idx >= 0
        fr = df["frame"].to_numpy().copy()
        fr[has_img] = items["frame"].to_numpy(dtype=np.float64)[img_idx[has_img]]
        df["frame"] = fr
    if not raw["images"] and trk:
        items = _video_items(df, tasks, meta, default_task)
    # item of each row: images by position, tracks by (task, frame)
    item_id = np.full(n, -1, dtype=np.int64)
    if raw["images"]:
        item_id[img_idx >= 0] = items["item_id"].to_numpy()[img_idx[img_idx >= 0]]
    rest = item_id < 0
    if rest.any() and len(items):
        task_col = df["_task"].to_numpy()
        if default_task is not None:
            task_col = np.where(np.isnan(task_col), float(_int(default_task["task_id"], -1)), task_col)
        key = pd.MultiIndex.from_arrays([items["task"].astype("float64").fillna(-1).to_numpy(),
                                         items["frame"].astype("float64").to_numpy()])
        look = pd.Series(items["item_id"].to_numpy(), index=key)
        look = look[~look.index.duplicated()]
        q = pd.MultiIndex.from_arrays([np.nan_to_num(task_col[rest], nan=-1.0), df["frame"].to_numpy()[rest]])
        found = look.reindex(q).to_numpy()
        if np.isnan(found.astype(np.float64)).any():
            bad = int(np.flatnonzero(rest)[np.isnan(found.astype(np.float64))][0])
            t = np.nan_to_num(task_col[bad], nan=-1.0)
            span = items.loc[items["task"].astype("float64").fillna(-1).to_numpy() == t, "frame"]
            frames = f" ({int(span.min())}..{int(span.max())})" if len(span) else ""
            raise FormatError(where, f"frame {int(df['frame'].iloc[bad])} of a track is outside the task's "
                              f"frames{frames}", element=df["type"].iloc[bad])
        item_id[rest] = found.astype(np.int64)
    df["item_id"] = item_id
    df["ann_id"] = np.arange(n)
    df["parent_id"] = np.where(kid, par, np.nan)
    if trk and kid.any():
        tid = df["track_id"].to_numpy().copy()
        tid[kid] = tid[par[kid]]
        df["track_id"] = tid
    df["group"] = df["group"].where(df["group"] != 0)
    _fill_masks(df, items, where)
    _skeleton_boxes(df)
    df = df.drop(columns=["_parent", "_task"])
    if keyframes_only and trk:
        df = _tracks.keyframes_only(_conform(df))
    _attach_media(source, rel, items, info)
    ds = Dataset(items=items, annotations=df, labels=pd.DataFrame(meta["labels"]) if meta["labels"] else None,
                 tasks=pd.DataFrame(tasks) if tasks else None, jobs=pd.DataFrame(meta["jobs"]) if meta["jobs"] else None,
                 info=info)
    ds.info["flavour"] = "video" if trk and not raw["images"] else "images"
    return ds


def _check_required(df: pd.DataFrame, trk_idx: np.ndarray, where: str) -> None:
    """CVAT's importer needs ``label`` on image shapes and ``frame`` on track shapes."""
    top = df["_parent"].to_numpy() < 0
    no_label = df["label"].isna().to_numpy()
    if no_label.any():
        i = int(np.flatnonzero(no_label)[0])
        raise FormatError(where, f"missing required attribute 'label' (annotation #{i})", element=df["type"].iloc[i])
    no_frame = (trk_idx >= 0) & top & np.isnan(df["frame"].to_numpy(dtype=np.float64))
    if no_frame.any():
        i = int(np.flatnonzero(no_frame)[0])
        raise FormatError(where, f"missing required attribute 'frame' in a <track> (annotation #{i})",
                          element=df["type"].iloc[i])


def _conform(df):
    from ..core import schema

    return schema.conform("annotations", df)


def _images_items(images, tasks, default_task) -> pd.DataFrame:
    if not images:
        return pd.DataFrame(columns=["item_id", "name", "task", "subset", "frame", "width", "height"])
    ids, names, ws, hs, subs, tids = (list(c) for c in zip(*images, strict=True))
    task_by_id = {t["task_id"]: t for t in tasks}
    tid = pd.array([_int(t) if t is not None else (default_task["task_id"] if default_task else pd.NA)
                    for t in tids], dtype="Int64")
    subset = [_subset_of(s, t, task_by_id, default_task) for s, t in zip(subs, tid, strict=True)]
    return pd.DataFrame({"item_id": np.arange(len(ids)), "name": [n if n is not None else "" for n in names],
                         "task": tid, "subset": subset, "frame": _num(ids, dtype=int).astype("Int64"),
                         "width": _num(ws, dtype=int).astype("Int64"), "height": _num(hs, dtype=int).astype("Int64"),
                         "kind": "image"})


def _subset_of(subset, task_id, task_by_id, default_task) -> str:
    if subset is not None:
        return subset
    if task_id is not pd.NA and task_id in task_by_id:
        return task_by_id[task_id]["subset"]
    return default_task["subset"] if default_task else "default"


def _video_items(df, tasks, meta, default_task) -> pd.DataFrame:
    parts = []
    for t in tasks or [{}]:
        if t and _na(t.get("stop_frame")) and _na(t.get("size")):
            # neither stop_frame nor size given: the task runs to the last frame its tracks use
            mine = df["frame"] if len(tasks) == 1 else df.loc[df["_task"] == _int(t.get("task_id"), -1), "frame"]
            last = int(mine.max()) if mine.notna().any() else None
            t = dict(t, stop_frame=max(last, int(t.get("start_frame") or 0)) if last is not None else None)
        frames = task_range(t) if t else np.unique(df["frame"].dropna().astype(np.int64))
        size = _d(t.get("extra", {}).get("original_size")) if t else {}
        parts.append(pd.DataFrame({"name": [f"frame_{f:06d}" for f in frames], "task": t.get("task_id", pd.NA),
                                   "subset": t.get("subset", "default"), "frame": frames,
                                   "width": _int(size.get("width")), "height": _int(size.get("height")),
                                   "kind": "video_frame"}))
    items = pd.concat(parts, ignore_index=True)
    items["task"] = items["task"].astype("Int64")
    items["width"] = items["width"].astype("Int64")
    items["height"] = items["height"].astype("Int64")
    items.insert(0, "item_id", np.arange(len(items)))
    return items


def _na(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _fill_masks(df: pd.DataFrame, items: pd.DataFrame, where: str) -> None:
    sel = np.flatnonzero(df["type"].to_numpy() == "mask")
    if not sel.size:
        df["mask"] = None
        return
    wmap = items.set_index("item_id")["width"]
    hmap = items.set_index("item_id")["height"]
    out = [None] * len(df)
    pts = df["points"].to_numpy().copy()
    item = df["item_id"].to_numpy()
    for i in sel:
        _, runs, left, top, w, h, line = pts[i]
        iw, ih = wmap.get(item[i], pd.NA), hmap.get(item[i], pd.NA)
        iw = None if iw is pd.NA else int(iw)
        ih = None if ih is pd.NA else int(ih)
        out[i] = _masks.cvat_to_coco(runs, left, top, w, h, iw, ih, file=where, line=line)
        pts[i] = None
    df["mask"] = out
    df["points"] = pts


def _skeleton_boxes(df: pd.DataFrame) -> None:
    par = df["_parent"].to_numpy()
    kid = np.flatnonzero(par >= 0)
    if not kid.size:
        return
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    g = pd.DataFrame({"p": par[kid], "x0": x[kid], "y0": y[kid], "x1": x[kid] + df["w"].to_numpy()[kid],
                      "y1": y[kid] + df["h"].to_numpy()[kid]}).groupby("p")
    lo, hi = g[["x0", "y0"]].min(), g[["x1", "y1"]].max()
    idx = lo.index.to_numpy()
    xs, ys = df["x"].to_numpy().copy(), df["y"].to_numpy().copy()
    ws, hs = df["w"].to_numpy().copy(), df["h"].to_numpy().copy()
    xs[idx], ys[idx] = lo["x0"].to_numpy(), lo["y0"].to_numpy()
    ws[idx], hs[idx] = hi["x1"].to_numpy() - xs[idx], hi["y1"].to_numpy() - ys[idx]
    df["x"], df["y"], df["w"], df["h"] = xs, ys, ws, hs


def _media_index(source: Source, rel: str):
    """(relative paths of the input's files near ``rel``, rel -> URL) for media lookup."""
    if source.kind != "file":
        return set(source.files), source.url_of
    root = posixpath.dirname(source.root)
    images = posixpath.join(root, "images")
    files = set()
    if source.fs.isdir(images):
        files = {p[len(root) + 1:] for p in source.fs.find(images)}
    folder = source.folder.rstrip("/")
    return files, lambda r: f"{folder}/{r}"


def _attach_media(source: Source, rel: str, items: pd.DataFrame, info: dict) -> None:
    """``items.media``: a URL for media found in the input, else the name as the file gives it."""
    if not len(items):
        items["media"] = pd.Series(dtype="str")
        return
    index, url = _media_index(source, rel)
    base = rel.rsplit("/", 1)[0] + "/" if source.kind != "file" and "/" in rel else ""
    media = []
    names = items["name"].astype(str).tolist()
    subsets = items["subset"].astype(str).tolist()
    video = items["kind"].eq("video_frame").tolist()
    for nm, sb, vid in zip(names, subsets, video, strict=True):
        if not index:
            media.append(nm)
            continue
        cands = [f"{base}images/{sb}/{nm}", f"{base}images/{nm}", f"{base}{nm}"]
        if vid or "." not in nm.rsplit("/", 1)[-1]:
            # video frames are named without extension (frame_%06d); a project export puts them in images/<subset>/
            cands += [f"{base}images/{d}{nm}{ext}" for d in (f"{sb}/", "") for ext in (".PNG", ".png", ".jpg")]
        hit = next((c for c in cands if c in index), None)
        media.append(url(hit) if hit else nm)
    items["media"] = media
