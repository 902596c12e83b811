"""CVAT XML 1.1 writers, in CVAT's exact layout (XML declaration, 2-space indent, one element
per line, fixed attribute order, ``%.2f`` coordinates, 0/1 flags, ``group_id`` and
``rotation`` only when non-zero).

The text is built in one pass grouped by item (images) or track (video) with plain string
formatting; coordinate columns are formatted up front, a column at a time. Track rows are
expanded with :mod:`annowidgets.core.tracks` so the output equals CVAT's own export.
"""
from __future__ import annotations

import datetime as _dt
import posixpath
import re
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd

from ..core import masks as _masks
from ..core import tracks as _tracks
from ..core.dataset import Dataset
from ..core.io import Sink
from ._carry import report_predictions_as_shapes
from ._media import copy_media, unique_file_names
from ._video_items import expand_video_items

SHAPE_TAG = {"bbox": "box", "polygon": "polygon", "polyline": "polyline", "points": "points", "ellipse": "ellipse",
             "cuboid": "cuboid", "mask": "mask", "skeleton": "skeleton"}
CUBOID_KEYS = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
               "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
PALETTE = ("#fa3253", "#0c81b5", "#33ddff", "#ff6037", "#3d3df5", "#ddff33", "#b83df5", "#24b353", "#ff007c",
           "#8c78f0", "#f078f0", "#2a7dd1", "#83e070", "#fafa37", "#5986b3", "#8c78f0")
_CHUNK = 1 << 20


def _s(v, default="") -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return default
    return str(v)


def _f2(arr) -> list[str]:
    """'%.2f' of a float column, a column at a time."""
    return np.char.mod("%.2f", np.asarray(arr, dtype=np.float64)).tolist()


# -- meta ------------------------------------------------------------------------------------
def _meta_text(pairs, level: int, out: list[str]) -> None:
    ind = "\n" + "  " * level
    for tag, val in pairs:
        if isinstance(val, list):
            out.append(f"{ind}<{tag}>")
            _meta_text(val, level + 1, out)
            out.append(f"{ind}</{tag}>")
        else:
            out.append(f"{ind}<{tag}>{escape(_s(val))}</{tag}>")


def _label_pairs(labels: pd.DataFrame) -> list:
    out = []
    for i, lab in enumerate(labels.itertuples(index=False)):
        attrs = []
        for a in lab.attributes if isinstance(lab.attributes, list) else []:
            attrs.append(("attribute", [
                ("name", a.get("name", "")), ("mutable", "True" if a.get("mutable") else "False"),
                ("input_type", a.get("input_type", "text")), ("default_value", _s(a.get("default"))),
                ("values", "\n".join(_s(v) for v in a.get("values") or []))]))
        pairs = [("name", lab.name), ("color", _s(lab.color) or PALETTE[i % len(PALETTE)]),
                 ("type", _s(lab.type) or "any"), ("attributes", attrs)]
        if _s(lab.parent):
            pairs.append(("parent", lab.parent))
        if _s(lab.svg):
            pairs.append(("svg", lab.svg))
        out.append(("label", pairs))
    return out


def _segments(jobs: pd.DataFrame, task_id) -> list:
    sel = jobs[jobs["task_id"].isna()] if task_id is pd.NA else jobs[jobs["task_id"] == task_id]
    return [("segment", [("id", _s(j.job_id)), ("start", _s(j.start)), ("stop", _s(j.stop)), ("url", _s(j.url))])
            for j in sel.itertuples(index=False)]


def _task_pairs(task: dict, jobs: pd.DataFrame, labels: list | None, level: str) -> list:
    ex = task.get("extra") or {}
    pairs = [("id", _s(task.get("task_id") if level != "job" else task.get("job_id")))]
    if level != "job":
        pairs.append(("name", _s(task.get("name"))))
    pairs += [("size", _s(task.get("size"))), ("mode", _s(task.get("mode"), "annotation")),
              ("overlap", _s(task.get("overlap"), "0")), ("bugtracker", _s(ex.get("bugtracker"))),
              ("created", _s(ex.get("created"))), ("updated", _s(ex.get("updated"))),
              ("subset", _s(task.get("subset"), "default")), ("start_frame", _s(task.get("start_frame"), "0")),
              ("stop_frame", _s(task.get("stop_frame"))), ("frame_filter", _s(task.get("frame_filter"))),
              ("segments", _segments(jobs, task.get("task_id"))),
              ("owner", ex.get("owner", "")), ("assignee", ex.get("assignee", ""))]
    if labels is not None:
        pairs.append(("labels", labels))
    if level == "task" and task.get("mode") == "interpolation":
        if "original_size" in ex:
            pairs.append(("original_size", ex["original_size"]))
        if "source" in ex:
            pairs.append(("source", ex["source"]))
    return pairs


def labels_table(ds: Dataset) -> pd.DataFrame:
    """The labels table plus any label the annotations use that it lacks (CVAT needs them all)."""
    lab = ds.labels
    a = ds.annotations
    used = a.loc[a["label"].fillna("") != "", ["label", "parent_id"]].drop_duplicates("label")
    missing = used[~used["label"].isin(lab["name"])]
    if not len(missing):
        return lab
    parent_label = a.set_index("ann_id")["label"]
    parents = [parent_label.get(p, pd.NA) if not pd.isna(p) else pd.NA for p in missing["parent_id"]]
    add = pd.DataFrame({"name": missing["label"].tolist(), "parent": parents,
                        "type": ["points" if not pd.isna(p) else "any" for p in parents]})
    from ..core import schema

    return schema.conform("labels", pd.concat([lab, schema.conform("labels", add)], ignore_index=True))


def build_meta(ds: Dataset, tasks: pd.DataFrame, level: str) -> list:
    info = ds.info
    labels = _label_pairs(labels_table(ds))
    dumped = info.get("dumped") or str(_dt.datetime.now(_dt.timezone.utc))
    rows = tasks.to_dict("records")
    if level == "project":
        proj = info.get("project") or {}
        tlist = [("task", _task_pairs(t, ds.jobs, None, "task")) for t in rows]
        subsets = proj.get("subsets") or "\n".join(dict.fromkeys(tasks["subset"].astype(str)))
        pairs = [("id", _s(info.get("id"), "0")), ("name", _s(info.get("name"))),
                 ("bugtracker", _s(proj.get("bugtracker"))), ("created", _s(proj.get("created"))),
                 ("updated", _s(proj.get("updated"))), ("tasks", tlist), ("subsets", subsets),
                 ("owner", proj.get("owner", "")), ("assignee", proj.get("assignee", "")), ("labels", labels)]
        return [("project", pairs), ("dumped", dumped)]
    task = dict(rows[0])
    if level == "job":
        task["job_id"] = info.get("id")
        out = [("job", _task_pairs(task, ds.jobs, labels, "job")), ("dumped", dumped)]
        ex = task.get("extra") or {}
        if task.get("mode") == "interpolation" and "original_size" in ex:
            out.append(("original_size", ex["original_size"]))
        return out
    return [("task", _task_pairs(task, ds.jobs, labels, "task")), ("dumped", dumped)]


# -- preparing tables ------------------------------------------------------------------------
def _step(frame_filter) -> int:
    m = re.search(r"step\s*=\s*(\d+)", _s(frame_filter))
    return int(m.group(1)) if m else 1


def prepare(ds: Dataset, flavour: str, save_images: bool = False,
            report=None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Items with frames and names, a tasks table (synthesised when missing) and the level.

    Names are unique per images folder (the task's, or each subset's in a project), so saved
    images do not overwrite each other: see :func:`._media.unique_file_names`.
    """
    items = ds.items.copy()
    if items["frame"].isna().all():  # e.g. Label Studio: frames in item order
        items["frame"] = np.arange(len(items))
    elif items["frame"].isna().any():
        start = int(items["frame"].max()) + 1
        miss = items["frame"].isna()
        items.loc[miss, "frame"] = np.arange(start, start + int(miss.sum()))
    tasks = ds.tasks.copy()
    level = ds.info.get("level") or "task"
    if not len(tasks):  # e.g. Label Studio: one task per subset (a project when there are several)
        items["subset"] = items["subset"].fillna("default")
        rows = []
        for k, (subset, grp) in enumerate(items.groupby("subset", sort=False)):
            frames = grp["frame"].astype("int64")
            tid = ds.info.get("id") if isinstance(ds.info.get("id"), int) and k == 0 else k
            rows.append({"task_id": tid, "name": _s(ds.info.get("name")) if k == 0 else subset, "subset": subset,
                         "mode": "interpolation" if flavour == "video" else "annotation", "size": len(grp),
                         "start_frame": int(frames.min()), "stop_frame": int(frames.max()), "frame_filter": "",
                         "overlap": 0, "extra": {}})
            items.loc[grp.index, "task"] = tid
        if not rows:
            rows = [{"task_id": 0, "name": "", "subset": "default", "size": 0, "start_frame": 0, "stop_frame": 0,
                     "mode": "annotation", "frame_filter": "", "overlap": 0, "extra": {}}]
        tasks = pd.DataFrame(rows)
        tasks["task_id"] = tasks["task_id"].astype("Int64")
        level = "project" if len(rows) > 1 else ("task" if level == "project" else level)
    elif len(tasks) > 1:
        level = "project"
    if level == "project" and len(tasks) and items["task"].isna().any():
        items["task"] = items["task"].fillna(tasks["task_id"].iloc[0])
    tasks = _fill_task_ranges(tasks, items)
    folder = items["subset"].fillna("default") if level == "project" else None  # images/<subset>/ or images/
    names, renamed = unique_file_names(items, folder, rename_given=save_images)
    if report is not None:
        report.add("items", renamed, "file name collides with another item's in its images folder; written as "
                                     "<name>__<item_id> so that each image is saved")
    items["name"] = names
    return items, tasks, level


def _fill_task_ranges(tasks: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Missing ``start_frame`` / ``stop_frame`` / ``size`` of each task, from its items' frames.

    A dataset read from a format without tasks, or a task row made without them, has NA there;
    CVAT (and our reader) needs them to know which frames a video task has.
    """
    cols = ["start_frame", "stop_frame", "size"]
    if not len(tasks) or not tasks[cols].isna().to_numpy().any():
        return tasks
    tasks = tasks.copy()
    for c in cols:
        tasks[c] = tasks[c].astype("Int64")
    frames = items["frame"].astype("Float64")
    for k in range(len(tasks)):
        row = tasks.iloc[k]
        mine = frames if len(tasks) == 1 else frames[(items["task"] == row["task_id"]).fillna(False).to_numpy()]
        mine = mine.dropna()
        step = _step(row["frame_filter"])
        start = int(row["start_frame"]) if not pd.isna(row["start_frame"]) else (int(mine.min()) if len(mine) else 0)
        stop, size = row["stop_frame"], row["size"]
        if pd.isna(stop):
            if not pd.isna(size) and int(size) > 0:
                stop = start + (int(size) - 1) * step
            else:
                stop = max(int(mine.max()), start) if len(mine) else start
        elif pd.isna(size):
            size = len(range(start, int(stop) + 1, step))
        stop = int(stop)
        if pd.isna(size):  # neither given: the frames from start to the last item's
            size = len(range(start, stop + 1, step)) if len(mine) else 0
        tasks.iloc[k, [tasks.columns.get_loc(c) for c in cols]] = [start, stop, int(size)]
    return tasks


def _task_params(items: pd.DataFrame, tasks: pd.DataFrame, ann: pd.DataFrame):
    """Per-track (start, step, stop) from the task of each track's item."""
    tid = ann.loc[ann["track_id"].notna() & ann["parent_id"].isna(), ["track_id", "item_id"]]
    tid = tid.drop_duplicates("track_id")
    task_of_item = items.set_index("item_id")["task"]
    t = tasks.set_index("task_id") if tasks["task_id"].notna().all() else None
    start, step, stop = {}, {}, {}
    default = tasks.iloc[0]
    for track, item in zip(tid["track_id"].tolist(), tid["item_id"].tolist(), strict=True):
        task = task_of_item.get(item, pd.NA)
        row = t.loc[task] if t is not None and task is not pd.NA and task in t.index else default
        start[track] = int(row["start_frame"]) if not pd.isna(row["start_frame"]) else 0
        step[track] = _step(row["frame_filter"])
        stop[track] = int(row["stop_frame"]) if not pd.isna(row["stop_frame"]) else int(items["frame"].max())
    return start, step, stop


def _item_of_frame(items: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Item of each (task of its track's item, frame) for generated track rows; -1 if none."""
    task_of_item = items.set_index("item_id")["task"]
    task = task_of_item.reindex(rows["item_id"]).astype("float64").fillna(-1).to_numpy()
    key = pd.MultiIndex.from_arrays([items["task"].astype("float64").fillna(-1).to_numpy(),
                                     items["frame"].astype("float64").to_numpy()])
    look = pd.Series(items["item_id"].to_numpy(), index=key)
    look = look[~look.index.duplicated()]
    q = pd.MultiIndex.from_arrays([task, rows["frame"].astype("float64").to_numpy()])
    return look.reindex(q).fillna(-1).to_numpy().astype(np.int64)


# -- element text ----------------------------------------------------------------------------
class _Fmt:
    """Pre-formatted columns of the rows to write."""

    def __init__(self, rows: pd.DataFrame, items: pd.DataFrame):
        self.n = len(rows)
        x, y = rows["x"].to_numpy(np.float64), rows["y"].to_numpy(np.float64)
        w, h = rows["w"].to_numpy(np.float64), rows["h"].to_numpy(np.float64)
        typ = rows["type"].to_numpy()
        ell = typ == "ellipse"
        a = np.where(ell, x + w / 2, x)
        b = np.where(ell, y + h / 2, y)
        c = np.where(ell, w / 2, x + w)
        d = np.where(ell, h / 2, y + h)
        use = np.isin(typ, ("bbox", "ellipse"))
        self.c = [_f2(np.where(use, v, 0.0)) for v in (a, b, c, d)]
        rot = rows["rotation"].fillna(0.0).to_numpy(np.float64)
        self.rot = np.where(rot != 0, np.char.add(np.char.add(' rotation="', np.char.mod("%.2f", rot)), '"'), "").tolist()
        grp = rows["group"].astype("float64").fillna(0).to_numpy()
        self.grp = [f' group_id="{int(g)}"' if g else "" for g in grp.tolist()]
        self.z = rows["z_order"].astype("int64").astype(str).tolist()
        self.occ = np.where(rows["occluded"].to_numpy(bool), "1", "0").tolist()
        self.out = np.where(rows["outside"].to_numpy(bool), "1", "0").tolist()
        self.kf = np.where(rows["keyframe"].to_numpy(bool), "1", "0").tolist()
        self.frame = rows["frame"].astype("int64").astype(str).tolist() if self.n else []
        self.typ = typ.tolist()
        self.points = rows["points"].tolist()
        self.mask = rows["mask"].tolist()
        self.box = list(zip(x.tolist(), y.tolist(), w.tolist(), h.tolist(), strict=True))
        self.attrs = rows["attributes"].tolist()
        origin = rows["origin"].astype("object").where(rows["origin"].notna(), "manual")
        self.src = [quoteattr(v) for v in origin.tolist()]
        self._q: dict[str, str] = {}
        self.label = [self.q(v) for v in rows["label"].fillna("").tolist()]

    def q(self, v: str) -> str:
        r = self._q.get(v)
        if r is None:
            r = self._q[v] = quoteattr(v)
        return r

    def geometry(self, i: int) -> str:
        t = self.typ[i]
        if t == "bbox":
            return (f' xtl="{self.c[0][i]}" ytl="{self.c[1][i]}" xbr="{self.c[2][i]}" ybr="{self.c[3][i]}"'
                    f'{self.rot[i]}')
        if t == "ellipse":
            return f' cx="{self.c[0][i]}" cy="{self.c[1][i]}" rx="{self.c[2][i]}" ry="{self.c[3][i]}"{self.rot[i]}'
        if t in ("polygon", "polyline", "points"):
            p = self.points[i] if self.points[i] is not None else []
            return ' points="' + ";".join(f"{p[k]:.2f},{p[k + 1]:.2f}" for k in range(0, len(p) - 1, 2)) + '"'
        if t == "cuboid":
            p = list(self.points[i] or [0.0] * 16)
            return "".join(f' {k}="{v:.2f}"' for k, v in zip(CUBOID_KEYS, p, strict=False))
        if t == "mask":
            bx = self.box[i]
            box = tuple(int(round(v)) for v in bx) if all(np.isfinite(bx)) else None
            runs, left, top, w, h = _masks.coco_to_cvat(self.mask[i], box)
            return f' rle="{_masks.format_cvat_rle(runs)}" left="{left}" top="{top}" width="{w}" height="{h}"'
        return ""

    def attributes(self, i: int, ind: str) -> str:
        a = self.attrs[i]
        if not a:
            return ""
        parts = []
        for k, v in a.items():
            v = ("true" if v else "false") if isinstance(v, (bool, np.bool_)) else _s(v)
            parts.append(f"{ind}<attribute name={self.q(str(k))}>{escape(v)}</attribute>")
        return "".join(parts)


def _image_shape(f: _Fmt, i: int, ind: str, kids: list[int] | None, child: bool) -> str:
    tag = SHAPE_TAG[f.typ[i]]
    if child:
        head = f"<{tag} label={f.label[i]} source={f.src[i]} outside=\"{f.out[i]}\" occluded=\"{f.occ[i]}\""
        head += f.geometry(i) + f.grp[i] + ">"
    elif tag == "skeleton":
        head = f"<skeleton label={f.label[i]} source={f.src[i]} z_order=\"{f.z[i]}\"{f.grp[i]}>"
    else:
        head = (f"<{tag} label={f.label[i]} source={f.src[i]} occluded=\"{f.occ[i]}\"{f.geometry(i)} "
                f"z_order=\"{f.z[i]}\"{f.grp[i]}>")
    inner = ind + "  "
    body = "".join(_image_shape(f, k, inner, None, True) for k in kids) if kids else ""
    return f"{ind}{head}{body}{f.attributes(i, inner)}{ind}</{tag}>"


def _video_shape(f: _Fmt, i: int, ind: str, kids: list[int] | None, child: bool) -> str:
    tag = SHAPE_TAG[f.typ[i]]
    inner = ind + "  "
    if child:
        head = (f"<{tag} label={f.label[i]} keyframe=\"{f.kf[i]}\" outside=\"{f.out[i]}\" "
                f"occluded=\"{f.occ[i]}\"{f.geometry(i)}>")
    elif tag == "skeleton":
        if not kids:
            return ""
        head = f"<skeleton frame=\"{f.frame[i]}\" keyframe=\"{f.kf[i]}\" z_order=\"{f.z[i]}\">"
    else:
        head = (f"<{tag} frame=\"{f.frame[i]}\" keyframe=\"{f.kf[i]}\" outside=\"{f.out[i]}\" "
                f"occluded=\"{f.occ[i]}\"{f.geometry(i)} z_order=\"{f.z[i]}\">")
    body = "".join(_video_shape(f, k, inner, None, True) for k in kids) if kids else ""
    return f"{ind}{head}{body}{f.attributes(i, inner)}{ind}</{tag}>"


def _children(rows: pd.DataFrame) -> dict[int, list[int]]:
    """Position of each parent row -> positions of its skeleton points, in order."""
    par = rows["parent_id"]
    if not par.notna().any():
        return {}
    pos = pd.Series(np.arange(len(rows)), index=rows["ann_id"].to_numpy())
    pos = pos[~pos.index.duplicated()]
    kids: dict[int, list[int]] = {}
    for k, p in zip(np.flatnonzero(par.notna().to_numpy()).tolist(), par.dropna().astype("int64").tolist(),
                    strict=True):
        if p in pos.index:
            kids.setdefault(int(pos[p]), []).append(k)
    return kids


# -- the two bodies ------------------------------------------------------------------------------
def _supported(ds: Dataset, ctx, flavour: str) -> pd.DataFrame:
    a = ds.annotations
    ok = a["type"].isin(tuple(SHAPE_TAG) + ("tag",))
    ctx.report.add_mask("annotations", a, ~ok, "CVAT XML has no element for this annotation type "
                        "(text spans, numbers, ratings, … are Label Studio only)", key="ann_id")
    a = a[ok]
    if flavour == "images":  # CVAT itself does this: "track id will be lost"
        tracked = a["track_id"].notna().to_numpy()
        ctx.report.add_mask("annotations", a, tracked & a["outside"].fillna(False).to_numpy(dtype=bool),
                            "outside (hidden) track frames: CVAT for images writes visible frames only",
                            key="ann_id")
        ctx.report.add_mask("annotations", a, tracked, "tracks are cut into one shape per visible frame, as CVAT "
                            "does; the track id and keyframe flags are not kept (use CVAT for video 1.1)",
                            key="ann_id")
    if flavour == "video":
        tags = a["type"] == "tag"
        ctx.report.add_mask("annotations", a, tags, "tags cannot be exported in CVAT for video 1.1", key="ann_id")
        a = a[~tags]
    orphan = ~a["item_id"].isin(ds.items["item_id"])
    ctx.report.add_mask("annotations", a, orphan, "annotation of an item that does not exist", key="ann_id")
    a = a[~orphan]
    # only skeleton points nest in CVAT XML; a Label Studio keypoint's link to its box is dropped
    kind_of = pd.Series(a["type"].to_numpy(), index=a["ann_id"].to_numpy())
    kind_of = kind_of[~kind_of.index.duplicated()]
    has_parent = a["parent_id"].notna().to_numpy()
    if has_parent.any():
        ptype = kind_of.reindex(a["parent_id"].astype("float64").to_numpy()).to_numpy()
        loose = has_parent & (ptype != "skeleton")
        if loose.any():
            ctx.report.add_mask("annotations", a, loose, "a link to a parent shape that is not a skeleton (Label "
                                "Studio keypoint on a box) has no place in CVAT XML", key="ann_id")
            a = a.copy()
            a.loc[loose, "parent_id"] = pd.NA
    _report_label_studio_fields(ds, a, ctx.report)
    pred = a["source"].eq("prediction") & a["origin"].isna()
    if pred.any():  # CVAT marks model output with source="auto"
        a = a.copy()
        a.loc[pred, "origin"] = "auto"
    return a


def _report_label_studio_fields(ds: Dataset, a: pd.DataFrame, report) -> None:
    """What Label Studio data has that CVAT XML cannot hold: sets, relations, scores."""
    st = ds.sets
    if len(st):
        said = (st["annotator"].notna() | st["model_version"].notna() | st["score"].notna() | st["cancelled"]
                | st["ground_truth"] | st["created"].notna() | st["updated"].notna() | st["lead_time"].notna()
                | st["source"].ne("annotation") | st["item_id"].duplicated(keep=False))
        report.add_mask("sets", st, said.to_numpy(), "annotation sets (annotator, prediction vs annotation, model "
                        "version, cancelled, ground truth, times) have no place in CVAT XML; their regions "
                        "are written together on their item", key="set_id")
    if len(ds.relations):
        report.add("relations", list(range(len(ds.relations))), "CVAT XML has no relations")
    report_predictions_as_shapes(report, a, "CVAT XML")


def _images_body(ds, items, tasks, ann, level, out, flush) -> None:
    tracked = ann["track_id"].notna() | ann["parent_id"].isin(ann.loc[ann["track_id"].notna(), "ann_id"])
    if tracked.any():
        start, step, stop = _task_params(items, tasks, ann[tracked])
        per = _tracks.interpolate(ann[tracked], start=start, step=step, stop=stop, visible_only=True)
        top = per["parent_id"].isna()
        per_item = _item_of_frame(items, per)
        per["item_id"] = per_item
        # points follow their skeleton's item
        item_by_ann = pd.Series(per_item, index=per["ann_id"].to_numpy())
        kids = ~top
        if kids.any():
            per.loc[kids, "item_id"] = item_by_ann.reindex(per.loc[kids, "parent_id"].to_numpy()).to_numpy()
        per = per[per["item_id"] >= 0]
        per = per.assign(_trk=1)
        ann = pd.concat([ann[~tracked].assign(_trk=0), per], ignore_index=True)
    else:
        ann = ann.assign(_trk=0)
    ann = ann.assign(_pos=np.arange(len(ann)), _tag=(ann["type"] == "tag").to_numpy())
    ann = ann.sort_values(["item_id", "_tag", "z_order", "_trk", "_pos"], kind="stable")
    # skeleton points are written inside their parent; keep their relative order
    f = _Fmt(ann, items)
    kids = _children(ann)
    is_kid = ann["parent_id"].notna().to_numpy() & np.isin(ann["parent_id"].to_numpy(dtype=np.float64),
                                                            ann["ann_id"].to_numpy(dtype=np.float64))
    item_ids = ann["item_id"].to_numpy(dtype=np.int64)
    order = items.sort_values("frame", kind="stable") if level != "project" else _project_order(items, tasks)
    bounds = pd.Series(np.arange(len(ann))).groupby(item_ids).agg(["min", "max"]) if len(ann) else None
    project = level == "project"
    for it in order.itertuples(index=False):
        attrs = f'id="{int(it.frame)}" name={f.q(it.name)}'
        if project:
            attrs += f' subset={f.q(_s(it.subset, "default"))} task_id="{_s(it.task)}"'
        attrs += f' width="{_s(it.width)}" height="{_s(it.height)}"'
        out.append(f"\n  <image {attrs}>")
        if bounds is not None and it.item_id in bounds.index:
            lo, hi = bounds.loc[it.item_id]
            for i in range(lo, hi + 1):
                if is_kid[i]:
                    continue
                if f.typ[i] == "tag":
                    out.append(f"\n    <tag label={f.label[i]} source={f.src[i]}{f.grp[i]}>"
                               f"{f.attributes(i, chr(10) + '      ')}\n    </tag>")
                else:
                    out.append(_image_shape(f, i, "\n    ", kids.get(i), False))
        out.append("\n  </image>")
        flush()


def _project_order(items: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    return items  # project exports keep the order of their items (grouped by subset/task by the reader)


def _video_body(ds, items, tasks, ann, level, out, flush) -> None:
    is_top = ann["parent_id"].isna()
    tracked_top = is_top & ann["track_id"].notna()
    tracked = tracked_top | ann["parent_id"].isin(ann.loc[tracked_top, "ann_id"])
    start, step, stop = _task_params(items, tasks, ann[tracked]) if tracked.any() else ({}, {}, {})
    per = _tracks.interpolate(ann[tracked], start=start, step=step, stop=stop) if tracked.any() else ann[tracked]
    loose = ann[~tracked]
    loose_top = loose[loose["parent_id"].isna()].sort_values("ann_id", kind="stable")
    # standalone shapes: keyframe on their frame, outside keyframe one step later (if < stop_frame)
    task_of_item = items.set_index("item_id")["task"]
    tinfo = tasks.set_index("task_id") if tasks["task_id"].notna().all() else None
    default = tasks.iloc[0]
    project = level == "project"
    trk_task = {}
    if project:
        for t, i in zip(per["track_id"].tolist(), per["item_id"].tolist(), strict=True):
            trk_task.setdefault(t, task_of_item.get(i, pd.NA))
    per_top = per[per["parent_id"].isna()]
    groups = per_top.groupby("track_id", sort=True).indices
    f = _Fmt(per, items)
    kids = _children(per)
    counter = 0
    pos_of = {}
    for track_id, idx in groups.items():
        idx = np.sort(idx)
        first = idx[0]
        head = f'\n  <track id="{counter}" label={f.label[first]} source={f.src[first]}'
        if project:
            task = trk_task.get(track_id, pd.NA)
            sub = tinfo.loc[task, "subset"] if tinfo is not None and task in tinfo.index else default["subset"]
            head += f' task_id="{_s(task)}" subset={f.q(_s(sub, "default"))}'
        head += f"{f.grp[first]}>"
        out.append(head)
        for i in idx:
            out.append(_video_shape(f, i, "\n    ", kids.get(i), False))
        out.append("\n  </track>")
        counter += 1
        flush()
    del pos_of
    if not len(loose_top):
        return
    # each standalone shape (and its points) as a 1-2 frame track
    kid_rows = loose[loose["parent_id"].notna()]
    for k, r in enumerate(loose_top.itertuples(index=False)):
        task = task_of_item.get(r.item_id, pd.NA)
        row = tinfo.loc[task] if tinfo is not None and task is not pd.NA and task in tinfo.index else default
        step_ = _step(row["frame_filter"])
        stop_ = int(row["stop_frame"]) if not pd.isna(row["stop_frame"]) else int(items["frame"].max())
        frame = int(r.frame) if not pd.isna(r.frame) else int(items.set_index("item_id").loc[r.item_id, "frame"])
        two = frame + step_ < stop_
        base = loose_top.iloc[[k]]
        mine = kid_rows[kid_rows["parent_id"] == r.ann_id]
        rows = [base.assign(frame=frame, keyframe=True, outside=False)]
        krows = [mine.assign(frame=frame, keyframe=True)]
        if two:
            rows.append(base.assign(frame=frame + step_, keyframe=True, outside=True))
            krows.append(mine.assign(frame=frame + step_, keyframe=True, outside=True))
        tr = pd.concat(rows + krows, ignore_index=True)
        top_n = len(rows)
        # children point at the parent copy of their frame
        if len(mine):
            fake = np.arange(-top_n, 0)
            tr.loc[: top_n - 1, "ann_id"] = fake
            kid_frames = tr.loc[top_n:, "frame"].to_numpy()
            tr.loc[top_n:, "parent_id"] = np.where(kid_frames == frame, fake[0], fake[-1])
        tr["group"] = np.nan  # the group goes on the track
        g = _Fmt(tr, items)
        gk = _children(tr)
        head = f'\n  <track id="{counter}" label={g.label[0]} source={g.src[0]}'
        if project:
            head += f' task_id="{_s(task)}" subset={g.q(_s(row["subset"], "default"))}'
        grp = 0 if pd.isna(r.group) else int(r.group)
        head += (f' group_id="{grp}"' if grp else "") + ">"
        out.append(head)
        for i in range(top_n):
            out.append(_video_shape(g, i, "\n    ", gk.get(i), False))
        out.append("\n  </track>")
        counter += 1
        flush()


# -- entry point -------------------------------------------------------------------------------
def to_text(ds: Dataset, ctx, flavour: str, write=None) -> str | None:
    """The whole document; streamed to ``write(str)`` in chunks when given."""
    ds = expand_video_items(ds, ctx.report)  # Label Studio videos -> CVAT frames
    items, tasks, level = prepare(ds, flavour, ctx.save_images, ctx.report)
    ann = _supported(ds, ctx, flavour)
    if ann["frame"].isna().any():  # rows without a frame take their item's (e.g. Label Studio)
        ann = ann.assign(frame=ann["frame"].fillna(ann["item_id"].map(items.set_index("item_id")["frame"])))
    out: list[str] = ['<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta>']
    _meta_text(build_meta(ds, tasks, level), 2, out)
    out.append("\n  </meta>")
    size = [0]

    def flush(force=False):
        if write is None:
            return
        size[0] += 1
        if force or size[0] >= 256:
            write("".join(out))
            out.clear()
            size[0] = 0

    if flavour == "video":
        _video_body(ds, items, tasks, ann, level, out, flush)
    else:
        _images_body(ds, items, tasks, ann, level, out, flush)
    out.append("\n</annotations>\n")
    if write is None:
        return "".join(out)
    flush(True)
    return None


def write(ds: Dataset, sink: Sink, ctx, flavour: str) -> None:
    """``annotations.xml`` (+ ``images/…`` when ``ctx.save_images``) into ``sink``."""
    ctx.step(0.0, "writing annotations.xml")
    with sink.open("annotations.xml") as fobj:
        to_text(ds, ctx, flavour, write=lambda s: fobj.write(s.encode("utf-8")))
    if ctx.save_images:
        items, _, level = prepare(expand_video_items(ds), flavour, ctx.save_images)
        pairs = []
        for it in items.itertuples(index=False):
            if flavour == "video" or it.kind == "video_frame":
                ext = posixpath.splitext(_s(it.media).split("::")[0])[1] or ".PNG"
                folder = f"images/{_s(it.subset, 'default')}/" if level == "project" else "images/"
                rel = f"{folder}{it.name}{'' if it.name.endswith(ext) else ext}"
            elif level == "project":
                rel = f"images/{_s(it.subset, 'default')}/{it.name}"
            else:
                rel = f"images/{it.name}"
            pairs.append((it.item_id, it.media, rel))
        copy_media(ds, sink, pairs, ctx.report)
    ctx.step(1.0, "done")
