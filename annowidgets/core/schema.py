"""The one place that defines every table of a :class:`Dataset`: columns, dtypes, units.

Every reader fills these columns with these dtypes and units, and every writer reads only
these columns, so a conversion between two formats is a pair of column operations.
Geometry is always in absolute pixels of the item's media; rotation is in degrees clockwise
about the centre of the box or ellipse; times are in seconds; text offsets in characters.

``conform(table, df)`` adds missing columns with their defaults, casts dtypes and puts the
columns in schema order (extra columns a reader adds are kept after them);
``validate(dataset)`` checks the invariants and raises :class:`SchemaError` naming the
table, column and offending rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

STR = "str"
INT = "Int64"  # nullable: missing ids stay missing instead of turning into floats
FLOAT = "float64"
BOOL = "bool"
OBJ = "object"

#: Annotation ``type`` values. The first group is geometry on images/frames, the second is
#: whole-item or text/audio results (mostly from Label Studio).
SHAPE_TYPES = ("bbox", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton",
               "cuboid_3d")  # a box in a point cloud: ``points`` = position xyz, rotation xyz (rad), scale xyz
OTHER_TYPES = (
    "tag",  # whole-item class (CVAT tag, LS choices); one row per chosen value
    "text",  # free text (LS textarea); one row per entry
    "span",  # text span: start/end are character offsets, end exclusive
    "segment",  # time range: start/end in seconds (audio, time series) or frames (timeline)
    "number",  # LS number / rating: the value is in ``value``
    "rating",
    "datetime",  # LS datetime: the value is in ``text``
    "taxonomy",  # LS taxonomy: ``label`` is the leaf, ``extra['path']`` the full path
    "relation_label",  # reserved
    "other",  # a result type we keep verbatim in ``extra`` (pairwise, ranker, …)
)
ANNOTATION_TYPES = SHAPE_TYPES + OTHER_TYPES

SOURCES = ("annotation", "prediction")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    default: Any
    doc: str
    unit: str = ""


def _cols(*cols: Column) -> dict[str, Column]:
    return {c.name: c for c in cols}


ITEMS = _cols(
    Column("item_id", INT, pd.NA, "unique key of the item in this dataset"),
    Column("name", STR, "", "item name as the source names it (CVAT image name, LS media file name)"),
    Column("task", INT, pd.NA, "task id (see Dataset.tasks); missing when the source has no tasks"),
    Column("subset", STR, "default", "subset (train/val/…); 'default' when the source has none"),
    Column("frame", INT, pd.NA, "frame number within the task (CVAT absolute frame id)"),
    Column("media", STR, pd.NA, "URL or path of the media; relative paths are relative to Dataset.media_root"),
    Column("width", INT, pd.NA, "media width", "px"),
    Column("height", INT, pd.NA, "media height", "px"),
    Column("kind", STR, "image", "image | video_frame | video | text | audio | point_cloud | other"),
    Column("duration", FLOAT, np.nan, "audio/video length", "s"),
    Column("data", OBJ, None, "original Label Studio task data (dict), None otherwise"),
    Column("extra", OBJ, None, "fields of the source with no column (dict), kept for round trips"),
)

SETS = _cols(
    Column("set_id", INT, pd.NA, "unique key of the annotation set (LS annotation or prediction id)"),
    Column("item_id", INT, pd.NA, "item the set belongs to"),
    Column("source", STR, "annotation", "annotation | prediction"),
    Column("annotator", STR, pd.NA, "who made it (user id or e-mail as the source writes it)"),
    Column("model_version", STR, pd.NA, "model version of a prediction"),
    Column("score", FLOAT, np.nan, "overall score of a prediction"),
    Column("cancelled", BOOL, False, "LS was_cancelled / legacy skipped"),
    Column("ground_truth", BOOL, False, "LS ground_truth flag"),
    Column("created", STR, pd.NA, "creation time as the source writes it"),
    Column("updated", STR, pd.NA, "update time as the source writes it"),
    Column("lead_time", FLOAT, np.nan, "time spent annotating", "s"),
    Column("extra", OBJ, None, "fields of the source with no column (dict)"),
)

ANNOTATIONS = _cols(
    Column("ann_id", INT, pd.NA, "unique key of the annotation row"),
    Column("item_id", INT, pd.NA, "item the annotation is on"),
    Column("frame", INT, pd.NA, "frame of the item (CVAT frame; video frame, 0-based)"),
    Column("set_id", INT, pd.NA, "annotation set it came from (see Dataset.sets)"),
    Column("source", STR, "annotation", "annotation | prediction"),
    Column("annotator", STR, pd.NA, "who made it"),
    Column("model_version", STR, pd.NA, "model version of a prediction"),
    Column("score", FLOAT, np.nan, "confidence of a prediction (region score, else set score)"),
    Column("origin", STR, pd.NA, "CVAT source (manual/auto/semi-auto/file) or LS origin"),
    Column("region_id", STR, pd.NA, "original region id (LS result id); rows of one region share it"),
    Column("track_id", INT, pd.NA, "track this row belongs to (video)"),
    Column("group", INT, pd.NA, "CVAT group id (missing = no group)"),
    Column("parent_id", INT, pd.NA, "ann_id of the parent (skeleton of a point, box of a LS keypoint)"),
    Column("label", STR, "", "label name"),
    Column("type", STR, "bbox", "one of schema.ANNOTATION_TYPES"),
    Column("from_name", STR, pd.NA, "LS control tag name"),
    Column("to_name", STR, pd.NA, "LS object tag name"),
    Column("x", FLOAT, np.nan, "left of the (unrotated) box; for other shapes their bounding box", "px"),
    Column("y", FLOAT, np.nan, "top of the (unrotated) box", "px"),
    Column("w", FLOAT, np.nan, "width of the (unrotated) box", "px"),
    Column("h", FLOAT, np.nan, "height of the (unrotated) box", "px"),
    Column("rotation", FLOAT, 0.0, "rotation clockwise about the centre", "deg"),
    Column("points", OBJ, None, "flat [x0, y0, x1, y1, …] (polygon, polyline, points, cuboid); cuboid_3d: [px, py, pz, rx, ry, "
           "rz, sx, sy, sz] (position and scale in the cloud's units, rotation in radians)", "px"),
    Column("mask", OBJ, None, "COCO RLE dict {'size': [h, w], 'counts': str} over the whole image"),
    Column("z_order", "int64", 0, "drawing order"),
    Column("occluded", BOOL, False, "CVAT occluded flag"),
    Column("outside", BOOL, False, "track is not visible from this keyframe on"),
    Column("keyframe", BOOL, False, "set by the annotator (True) or interpolated (False); tracks only"),
    Column("start", FLOAT, np.nan, "span/segment start (characters, seconds or frames)"),
    Column("end", FLOAT, np.nan, "span/segment end, exclusive"),
    Column("text", STR, pd.NA, "text of a span, a textarea entry or a datetime"),
    Column("value", FLOAT, np.nan, "number/rating value"),
    Column("attributes", OBJ, None, "attribute name -> value (dict)"),
    Column("extra", OBJ, None, "fields of the source with no column (dict), kept for round trips"),
)

LABELS = _cols(
    Column("name", STR, "", "label name"),
    Column("color", STR, pd.NA, "#rrggbb"),
    Column("type", STR, "any", "any | rectangle | polygon | polyline | points | ellipse | cuboid | mask | skeleton | tag"),
    Column("attributes", OBJ, None, "list of attribute specs: {name, input_type, values, default, mutable}"),
    Column("parent", STR, pd.NA, "parent skeleton label of a skeleton point"),
    Column("svg", STR, pd.NA, "skeleton SVG (CVAT)"),
    Column("from_name", STR, pd.NA, "LS control tag the label belongs to"),
    Column("extra", OBJ, None, "fields of the source with no column (dict)"),
)

RELATIONS = _cols(
    Column("set_id", INT, pd.NA, "annotation set the relation belongs to"),
    Column("item_id", INT, pd.NA, "item"),
    Column("from_region", STR, "", "region_id of the source region"),
    Column("to_region", STR, "", "region_id of the target region"),
    Column("direction", STR, "right", "right | left | bi"),
    Column("labels", OBJ, None, "list of relation labels"),
    Column("extra", OBJ, None, "fields of the source with no column (dict)"),
)

TASKS = _cols(
    Column("task_id", INT, pd.NA, "task id"),
    Column("name", STR, "", "task name"),
    Column("subset", STR, "default", "subset"),
    Column("mode", STR, "annotation", "annotation (images) | interpolation (video)"),
    Column("size", INT, pd.NA, "number of frames"),
    Column("start_frame", INT, 0, "first frame"),
    Column("stop_frame", INT, pd.NA, "last frame, inclusive"),
    Column("frame_filter", STR, "", "e.g. step=3"),
    Column("segment_size", INT, pd.NA, "frames per job"),
    Column("overlap", INT, 0, "frames shared by neighbouring jobs"),
    Column("extra", OBJ, None, "fields of the source with no column (dict)"),
)

JOBS = _cols(
    Column("job_id", INT, pd.NA, "job id"),
    Column("task_id", INT, pd.NA, "task"),
    Column("start", INT, pd.NA, "first frame index of the segment (relative)"),
    Column("stop", INT, pd.NA, "last frame index of the segment, inclusive"),
    Column("url", STR, pd.NA, "job URL as CVAT writes it"),
)

TABLES: dict[str, dict[str, Column]] = {
    "items": ITEMS,
    "sets": SETS,
    "annotations": ANNOTATIONS,
    "labels": LABELS,
    "relations": RELATIONS,
    "tasks": TASKS,
    "jobs": JOBS,
}

KEYS = {"items": "item_id", "sets": "set_id", "annotations": "ann_id", "tasks": "task_id", "jobs": "job_id"}


class SchemaError(ValueError):
    """A table breaks the schema; the message names the table, column and rows."""


def empty(table: str) -> pd.DataFrame:
    """An empty table with every column of ``table`` in its dtype."""
    cols = TABLES[table]
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in cols.values()})


def _fill(series: pd.Series, col: Column) -> pd.Series:
    if col.default is None or col.default is pd.NA or (isinstance(col.default, float) and np.isnan(col.default)):
        return series
    if series.dtype == object and col.dtype != OBJ:
        return series.where(series.notna(), col.default)
    return series.fillna(col.default)


def conform(table: str, df: pd.DataFrame | dict | None) -> pd.DataFrame:
    """Return ``df`` with every column of ``table``: defaults added, dtypes cast, schema order.

    Columns ``df`` has beyond the schema are kept (after the schema's), so a reader may add
    columns of its own without losing them here.
    """
    cols = TABLES[table]
    if df is None:
        return empty(table)
    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    n = len(df)
    out = {}
    for name, col in cols.items():
        if name in df.columns:
            s = df[name]
            if col.dtype == OBJ:
                s = s.astype(object)
                missing = s.isna()
                if missing.any():  # records without the key give NaN; the schema says None
                    s = s.where(~missing, None)
            else:
                s = _fill(s, col)
                if s.dtype != col.dtype:
                    try:
                        s = s.astype(col.dtype)
                    except (TypeError, ValueError) as exc:
                        bad = _bad_rows(s, col.dtype)
                        raise SchemaError(
                            f"{table}.{name}: cannot convert to {col.dtype} (rows {bad[:10]}): {exc}"
                        ) from exc
        else:
            s = _default_column(col, n, df.index)
        out[name] = s
    for name in df.columns:
        if name not in out:
            out[name] = df[name]
    result = pd.DataFrame(out, index=df.index)
    return result.reset_index(drop=True)


def _default_column(col: Column, n: int, index: pd.Index) -> pd.Series:
    """A column of ``n`` defaults, built from arrays (no n-long Python list to infer: readers of
    100k rows leave a dozen columns to this)."""
    d = col.default
    if col.dtype == OBJ:
        return pd.Series(np.full(n, None, dtype=object), index=index, dtype=object)
    if d is pd.NA and col.dtype == INT:
        return pd.Series(pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, bool)), index=index)
    if d is pd.NA and col.dtype == STR:
        return pd.Series(pd.array([], dtype=STR)).reindex(range(n)).set_axis(index)
    if col.dtype in (FLOAT, BOOL, "int64"):
        return pd.Series(np.full(n, d, dtype=col.dtype), index=index)
    if col.dtype == INT:
        return pd.Series(np.full(n, d, dtype=np.int64), index=index).astype(INT)
    return pd.Series(np.full(n, d, dtype=object), index=index).astype(col.dtype)


def _bad_rows(s: pd.Series, dtype: str) -> list:
    bad = []
    for i, v in s.items():
        try:
            pd.Series([v]).astype(dtype)
        except (TypeError, ValueError):
            bad.append(i)
    return bad


def describe() -> pd.DataFrame:
    """The schema as a table (table, column, dtype, unit, meaning): the README's table."""
    rows = [
        {"table": t, "column": c.name, "dtype": c.dtype, "unit": c.unit, "meaning": c.doc}
        for t, cols in TABLES.items()
        for c in cols.values()
    ]
    return pd.DataFrame(rows)


def check_table(table: str, df: pd.DataFrame) -> None:
    """Raise :class:`SchemaError` if ``df`` lacks a column, has a wrong dtype or duplicate keys."""
    cols = TABLES[table]
    for name, col in cols.items():
        if name not in df.columns:
            raise SchemaError(f"{table}: missing column {name!r}")
        if col.dtype != OBJ and str(df[name].dtype) != col.dtype:
            raise SchemaError(f"{table}.{name}: dtype is {df[name].dtype}, expected {col.dtype}")
    key = KEYS.get(table)
    if key and len(df):
        dup = df[key].duplicated(keep=False) & df[key].notna()
        if dup.any():
            rows = df.index[dup].tolist()[:10]
            raise SchemaError(f"{table}.{key}: duplicate keys in rows {rows}")


def markdown(tables=("items", "annotations", "sets", "labels", "relations", "tasks", "jobs")) -> str:
    """The schema as Markdown tables; the README embeds this text (a test keeps them equal)."""
    out = []
    for t in tables:
        out.append(f"**{t}**\n\n| column | dtype | unit | meaning |\n|---|---|---|---|")
        out.extend(f"| `{c.name}` | {c.dtype} | {c.unit} | {c.doc} |" for c in TABLES[t].values())
        out.append("")
    return "\n".join(out).rstrip() + "\n"
