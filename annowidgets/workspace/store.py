"""Tables of the database <-> the core's DataFrames, a column at a time.

Writes go through ``executemany`` on whole columns (object columns such as points, mask,
attributes and extra become JSON via orjson); reads build a DataFrame from the fetched
rows and let :func:`annowidgets.core.schema.conform` cast it. Nothing here builds one
Python object per annotation beyond the tuple sqlite3 needs.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd

from ..core import schema
from ..core.dataset import Dataset
from ..core.gcpause import gc_paused

Progress = Callable[[float, str], None]
CHUNK = 5000

#: core table -> (database table, key column, columns stored as in the schema)
_ANN_COLS = [c for c in schema.ANNOTATIONS if c not in ("ann_id", "item_id", "frame")]
_SET_COLS = [c for c in schema.SETS if c not in ("set_id", "item_id")]
_REL_COLS = [c for c in schema.RELATIONS if c not in ("item_id",)]
_ITEM_COLS = ["frame", "name", "media", "width", "height", "kind", "duration", "data", "extra"]
_LABEL_COLS = [c for c in schema.LABELS]


def q(name: str) -> str:
    """Quote a column name (``group`` and ``end`` are SQL keywords)."""
    return '"' + name + '"'


def _json_default(v):
    if isinstance(v, bytes):
        return v.decode("ascii")
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    if isinstance(v, np.generic):
        return v.item()
    if v is pd.NA:
        return None
    raise TypeError(f"cannot store {type(v).__name__} as JSON")


def dumps(v) -> bytes | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    return orjson.dumps(v, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)


def column_values(s: pd.Series, dtype: str) -> list:
    """A column as Python values sqlite3 binds: None for missing, JSON bytes for objects."""
    if dtype == schema.OBJ:
        return [dumps(v) for v in s.tolist()]
    if dtype == schema.BOOL:
        return s.fillna(False).astype(bool).astype(int).tolist()
    return s.astype(object).where(s.notna(), None).tolist()


def insert(conn: sqlite3.Connection, table: str, columns: dict[str, list], progress: Progress | None = None,
           what: str = "") -> None:
    """``INSERT`` the given columns (equal-length lists) in chunks, reporting progress."""
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    sql = f"INSERT INTO {table} ({', '.join(q(c) for c in names)}) VALUES ({', '.join('?' * len(names))})"
    rows = list(zip(*columns.values(), strict=True))
    for start in range(0, n, CHUNK):
        conn.executemany(sql, rows[start:start + CHUNK])
        if progress is not None:
            progress(min(start + CHUNK, n) / n, f"writing {what} {min(start + CHUNK, n)}/{n}")


def next_id(conn: sqlite3.Connection, table: str, key: str) -> int:
    return conn.execute(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}").fetchone()[0]


def fetch(conn: sqlite3.Connection, sql: str, params, names: list[str], json_cols=()) -> pd.DataFrame:
    """Run ``sql`` and return its rows as a DataFrame, decoding the JSON columns."""
    with gc_paused():
        rows = conn.execute(sql, params).fetchall()
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        data = {}
        for name, col in zip(names, cols, strict=True):
            if name in json_cols:
                data[name] = pd.Series([None if v is None else orjson.loads(v) for v in col], dtype=object)
            else:
                data[name] = pd.Series(col, dtype=object) if rows else pd.Series([], dtype=object)
        return pd.DataFrame(data)


def _json_cols(table: str) -> set[str]:
    return {c.name for c in schema.TABLES[table].values() if c.dtype == schema.OBJ}


# -- scopes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """A job, task or project as a condition on ``items i``."""

    level: str
    id: int
    cond: str
    params: tuple

    @classmethod
    def of(cls, conn: sqlite3.Connection, level: str, ident: int) -> Scope:
        if level == "project":
            return cls(level, ident, "i.task_id IN (SELECT id FROM tasks WHERE project_id = ?)", (ident,))
        if level == "task":
            return cls(level, ident, "i.task_id = ?", (ident,))
        if level == "job":
            row = conn.execute("SELECT task_id, start, stop FROM jobs WHERE id = ?", (ident,)).fetchone()
            if row is None:
                raise KeyError(f"job {ident} does not exist")
            return cls(level, ident, 'i.task_id = ? AND i."frame" BETWEEN ? AND ?', tuple(row))
        raise ValueError(f"level must be project, task or job, not {level!r}")


# -- reading -------------------------------------------------------------------------------
def read_items(conn: sqlite3.Connection, scope: Scope) -> pd.DataFrame:
    names = ["item_id", "task", "subset", *_ITEM_COLS, "media_frame"]
    sel = ", ".join(["i.item_id", "i.task_id", "t.subset", *(f"i.{q(c)}" for c in _ITEM_COLS), "i.media_frame"])
    df = fetch(conn, f"SELECT {sel} FROM items i JOIN tasks t ON t.id = i.task_id WHERE {scope.cond} "
               f"ORDER BY t.subset, i.task_id, i.\"frame\"", scope.params, names, _json_cols("items"))
    df["subset"] = df["subset"].where(df["subset"].astype(bool), "default") if len(df) else df["subset"]
    return schema.conform("items", df)


def read_annotations(conn: sqlite3.Connection, scope: Scope, with_task: bool = False) -> pd.DataFrame:
    """The scope's annotations, frames task-relative (plus a ``task`` column with ``with_task``)."""
    names = ["ann_id", "item_id", "frame", *_ANN_COLS] + (["task"] if with_task else [])
    sel = ", ".join(["a.ann_id", "a.item_id", 'i."frame"', *(f"a.{q(c)}" for c in _ANN_COLS)]
                    + (["i.task_id"] if with_task else []))
    df = fetch(conn, f"SELECT {sel} FROM annotations a JOIN items i ON i.item_id = a.item_id WHERE {scope.cond} "
               "ORDER BY a.ann_id", scope.params, names, _json_cols("annotations"))
    return schema.conform("annotations", df)


def scope_tasks(conn: sqlite3.Connection, scope: Scope, project_id: int) -> pd.DataFrame:
    """The tasks table of a scope: all of a project's, else the one task (of the job)."""
    if scope.level == "project":
        return read_tasks(conn, "project_id = ?", (project_id,))
    return read_tasks(conn, "id = ?", (scope.id if scope.level == "task" else scope.params[0],))


def load_annotations(conn: sqlite3.Connection, scope: Scope, project_id: int) -> pd.DataFrame:
    """Only the annotations of a scope, frames numbered as :func:`load_scope` numbers them
    (what ``task.annotations`` shows, without building the whole Dataset)."""
    conn.execute("BEGIN")
    try:
        anns = read_annotations(conn, scope, with_task=True)
        tasks = scope_tasks(conn, scope, project_id)
    finally:
        conn.execute("COMMIT")
    task = anns.pop("task")
    if len(anns):
        anns["frame"] = number_frames(anns["frame"], task, tasks, scope.level)
    return anns


def read_sets(conn: sqlite3.Connection, scope: Scope) -> pd.DataFrame:
    names = ["set_id", "item_id", *_SET_COLS]
    sel = ", ".join(["s.set_id", "s.item_id", *(f"s.{q(c)}" for c in _SET_COLS)])
    df = fetch(conn, f"SELECT {sel} FROM sets s JOIN items i ON i.item_id = s.item_id WHERE {scope.cond} "
               "ORDER BY s.set_id", scope.params, names, _json_cols("sets"))
    return schema.conform("sets", df)


def read_relations(conn: sqlite3.Connection, scope: Scope) -> pd.DataFrame:
    names = ["item_id", *_REL_COLS]
    sel = ", ".join(["r.item_id", *(f"r.{q(c)}" for c in _REL_COLS)])
    df = fetch(conn, f"SELECT {sel} FROM relations r JOIN items i ON i.item_id = r.item_id WHERE {scope.cond} "
               "ORDER BY r.id", scope.params, names, _json_cols("relations"))
    return schema.conform("relations", df)


def read_labels(conn: sqlite3.Connection, project_id: int) -> pd.DataFrame:
    sel = ", ".join(q(c) for c in _LABEL_COLS)
    df = fetch(conn, f"SELECT {sel} FROM labels WHERE project_id = ? ORDER BY position", (project_id,),
               _LABEL_COLS, _json_cols("labels"))
    return schema.conform("labels", df)


def read_tasks(conn: sqlite3.Connection, where: str, params) -> pd.DataFrame:
    """Tasks; ``extra`` holds what CVAT's meta block shows beyond the columns (created, updated)."""
    names = ["task_id", "name", "subset", "mode", "size", "start_frame", "stop_frame", "frame_filter",
             "segment_size", "overlap", "extra", "created", "updated"]
    df = fetch(conn, f"SELECT id, name, subset, mode, size, start_frame, stop_frame, frame_filter, segment_size, "
               f"overlap, extra, created, updated FROM tasks WHERE {where} ORDER BY subset, id", params, names,
               json_cols=("extra",))
    if len(df):
        df["subset"] = df["subset"].where(df["subset"].astype(bool), "default")
        df["extra"] = [{**(e or {}), "created": cvat_time(c), "updated": cvat_time(u)}
                       for e, c, u in zip(df["extra"], df["created"], df["updated"], strict=True)]
    return schema.conform("tasks", df.drop(columns=["created", "updated"]))


def cvat_time(iso: str | None) -> str:
    """A stored ISO timestamp as CVAT writes it in ``<created>`` (``2020-04-23 08:57:24.614217+00:00``)."""
    return iso.replace("T", " ", 1) if isinstance(iso, str) else ""


def read_jobs(conn: sqlite3.Connection, where: str, params) -> pd.DataFrame:
    df = fetch(conn, f"SELECT id, task_id, start, stop FROM jobs WHERE {where} ORDER BY task_id, start", params,
               ["job_id", "task_id", "start", "stop"])
    return schema.conform("jobs", df)


def load_scope(conn: sqlite3.Connection, scope: Scope, project_id: int, media_root: str | None = None,
               annotations: bool = True) -> Dataset:
    """The job, task or project as a :class:`Dataset` (annotations of every source).

    A project keeps its tasks apart by subset as CVAT does: frame numbers are offset per
    subset (tasks ordered by id) so they stay unique within it. ``annotations=False`` reads
    the hierarchy and items only (``task.items`` need not load a million boxes).
    """
    conn.execute("BEGIN")  # one snapshot for all the reads, so a concurrent import is seen whole or not at all
    try:
        items = read_items(conn, scope)
        anns = read_annotations(conn, scope) if annotations else schema.empty("annotations")
        sets = read_sets(conn, scope) if annotations else None
        rels = read_relations(conn, scope) if annotations else None
        labels = read_labels(conn, project_id)
        tasks = scope_tasks(conn, scope, project_id)
        if scope.level == "project":
            jobs = read_jobs(conn, "task_id IN (SELECT id FROM tasks WHERE project_id = ?)", (project_id,))
        elif scope.level == "task":
            jobs = read_jobs(conn, "task_id = ?", (scope.id,))
        else:
            jobs = read_jobs(conn, "id = ?", (scope.id,))
    finally:
        conn.execute("COMMIT")
    if len(items):
        items["frame"] = number_frames(items["frame"], items["task"], tasks, scope.level)
        anns["frame"] = anns["item_id"].map(pd.Series(items["frame"].to_numpy(), index=items["item_id"].to_numpy()))
    return Dataset(items=items, annotations=anns, sets=sets, relations=rels, labels=labels, tasks=tasks,
                   jobs=jobs, media_root=media_root)


def number_frames(frames: pd.Series, task: pd.Series, tasks: pd.DataFrame, level: str) -> pd.Series:
    """Task-relative frame indexes (as stored) numbered as the scope's export numbers them.

    Job or task: CVAT's absolute frame numbers, ``start_frame + i * step`` (a video task
    started at frame 10 with ``step=3`` shows 10, 13, 16…, as CVAT's ``<image id>`` and track
    frames do; image tasks start at 0 with step 1). Project: the tasks of a subset (by id)
    follow each other, so frame numbers stay unique within the subset, as in CVAT's project
    export.
    """
    t = tasks.set_index("task_id")
    if level == "project":
        ordered = tasks.sort_values(["subset", "task_id"])
        size = ordered["size"].fillna(0)
        offset = size.groupby(ordered["subset"], sort=False).transform(lambda s: s.cumsum() - s)
        base = task.map(pd.Series(offset.to_numpy(), index=ordered["task_id"].to_numpy())).fillna(0)
        step = pd.Series(1, index=task.index)
    else:
        base = task.map(t["start_frame"].fillna(0)).fillna(0)
        step = task.map(t["frame_filter"].map(frame_step)).fillna(1)
    return (base.astype("int64") + frames.astype("int64") * step.astype("int64")).astype("Int64")


def project_frames(items: pd.DataFrame, tasks: pd.DataFrame) -> pd.Series:
    """:func:`number_frames` of a project's items."""
    return number_frames(items["frame"], items["task"], tasks, "project")


def absolute_frames(items: pd.DataFrame, tasks: pd.DataFrame) -> pd.Series:
    """:func:`number_frames` of a task's or job's items."""
    return number_frames(items["frame"], items["task"], tasks, "task")


def frame_step(frame_filter) -> int:
    """The ``step=N`` of a CVAT frame filter (1 when absent)."""
    import re

    m = re.search(r"step\s*=\s*(\d+)", frame_filter if isinstance(frame_filter, str) else "")
    return int(m.group(1)) if m else 1


# -- writing ---------------------------------------------------------------------------------
def insert_labels(conn: sqlite3.Connection, project_id: int, labels: pd.DataFrame) -> None:
    labels = schema.conform("labels", labels)
    start = conn.execute("SELECT coalesce(max(position), -1) + 1 FROM labels WHERE project_id = ?",
                         (project_id,)).fetchone()[0]
    cols = {"project_id": [project_id] * len(labels), "position": list(range(start, start + len(labels)))}
    for c in _LABEL_COLS:
        cols[c] = column_values(labels[c], schema.LABELS[c].dtype)
    insert(conn, "labels", cols)


def insert_items(conn: sqlite3.Connection, task_id: int, items: pd.DataFrame) -> np.ndarray:
    """Insert ``items`` (frames already relative to the task) and return their new ids."""
    base = next_id(conn, "items", "item_id")
    ids = np.arange(base, base + len(items), dtype=np.int64)
    cols = {"item_id": ids.tolist(), "task_id": [task_id] * len(items)}
    for c in _ITEM_COLS:
        cols[c] = column_values(items[c], schema.ITEMS[c].dtype)
    cols["media_frame"] = column_values(items["media_frame"], schema.INT) if "media_frame" in items \
        else [None] * len(items)
    insert(conn, "items", cols)
    return ids


def insert_annotations(conn: sqlite3.Connection, anns: pd.DataFrame, new_item: pd.Series, task_of_item: pd.Series,
                       sets: pd.DataFrame | None = None, relations: pd.DataFrame | None = None,
                       progress: Progress | None = None) -> int:
    """Insert annotations (and their sets and relations) of items already in the database.

    ``new_item`` maps the dataset's item ids to database item ids; ann ids, set ids and
    parent ids are renumbered in one column operation each. Returns the number inserted.
    """
    anns = schema.conform("annotations", anns)
    sets = schema.conform("sets", sets)
    relations = schema.conform("relations", relations)
    set_map = pd.Series(dtype="Int64")
    if len(sets):
        base = next_id(conn, "sets", "set_id")
        new_sets = np.arange(base, base + len(sets), dtype=np.int64)
        set_map = pd.Series(new_sets, index=sets["set_id"].to_numpy())
        cols = {"set_id": new_sets.tolist(), "item_id": column_values(sets["item_id"].map(new_item), schema.INT)}
        for c in _SET_COLS:
            cols[c] = column_values(sets[c], schema.SETS[c].dtype)
        insert(conn, "sets", cols)
    if len(relations):
        item = relations["item_id"].map(new_item)
        cols = {"item_id": column_values(item, schema.INT), "task_id": column_values(item.map(task_of_item), schema.INT)}
        for c in _REL_COLS:
            col = relations[c].map(set_map) if c == "set_id" else relations[c]
            cols[c] = column_values(col, schema.RELATIONS[c].dtype)
        insert(conn, "relations", cols)
    if not len(anns):
        return 0
    base = next_id(conn, "annotations", "ann_id")
    new_ids = np.arange(base, base + len(anns), dtype=np.int64)
    ann_map = pd.Series(new_ids, index=anns["ann_id"].to_numpy()) if anns["ann_id"].notna().all() \
        else pd.Series(dtype="Int64")
    item = anns["item_id"].map(new_item)
    cols = {"ann_id": new_ids.tolist(), "item_id": column_values(item, schema.INT),
            "task_id": column_values(item.map(task_of_item), schema.INT)}
    for c in _ANN_COLS:
        col = anns[c]
        if c == "parent_id":
            col = col.map(ann_map) if len(ann_map) and ann_map.index.is_unique else col.where(col.isna(), pd.NA)
        elif c == "set_id":
            col = col.map(set_map) if len(set_map) else pd.Series(pd.NA, index=col.index, dtype="Int64")
        cols[c] = column_values(col, schema.ANNOTATIONS[c].dtype)
    insert(conn, "annotations", cols, progress, "annotations")
    return len(anns)


def delete_annotations(conn: sqlite3.Connection, scope: Scope) -> int:
    """Remove every annotation, set and relation on the scope's items; return how many annotations."""
    sub = f"SELECT i.item_id FROM items i WHERE {scope.cond}"
    n = conn.execute(f"DELETE FROM annotations WHERE item_id IN ({sub})", scope.params).rowcount
    conn.execute(f"DELETE FROM relations WHERE item_id IN ({sub})", scope.params)
    conn.execute(f"DELETE FROM sets WHERE item_id IN ({sub})", scope.params)
    return n
