"""A tiny test-only format: every table of the Dataset as JSON, media under images/<subset>/.

It carries everything, so the workspace's plumbing (levels, requests, matching, replace)
is tested without depending on a real format's losses.
"""
from __future__ import annotations

import orjson
import pandas as pd

from annowidgets.core.dataset import TABLE_NAMES, Dataset
from annowidgets.formats import registry
from annowidgets.formats._media import copy_media
from annowidgets.workspace.store import _json_default

NAME = "AW tables JSON 1.0"


def _default(v):
    try:
        return _json_default(v)
    except TypeError:
        return str(v)


def _media_rel(subset: str, name: str) -> str:
    return f"images/{subset}/{name}"


def write(ds: Dataset, sink, ctx) -> None:
    doc = {"info": ds.info, "tables": {}}
    for t in TABLE_NAMES:
        df = getattr(ds, t)
        doc["tables"][t] = {c: df[c].astype(object).where(df[c].notna(), None).tolist() if df[c].dtype != object
                            else df[c].tolist() for c in df.columns if c != "media_frame"}
    ctx.step(0.5, "tables")
    sink.write_bytes("tables.json", orjson.dumps(doc, default=_default, option=orjson.OPT_SERIALIZE_NUMPY))
    if ctx.save_images:
        pairs = [(i, m, _media_rel(s, n)) for i, m, s, n in
                 zip(ds.items["item_id"], ds.items["media"], ds.items["subset"], ds.items["name"], strict=True)]
        copy_media(ds, sink, pairs, ctx.report)


def read(source, **options) -> Dataset:
    doc = orjson.loads(source.read_bytes("tables.json" if source.kind != "file" else None))
    tables = {t: pd.DataFrame(cols) for t, cols in doc["tables"].items()}
    items = tables["items"]
    if len(items):
        rels = [_media_rel(s, n) for s, n in zip(items["subset"], items["name"], strict=True)]
        items["media"] = [source.url_of(r) if source.exists(r) else None for r in rels]
    return Dataset(**tables, info=doc.get("info", {}))


def detect(source) -> float:
    return 1.0 if source.exists("tables.json") else 0.0


registry.register(registry.FormatSpec(name=NAME, aliases=("aw-tables",), read=read, write=write, detect=detect,
                                      family="test"))
