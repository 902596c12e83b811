"""Pieces shared by the face / person formats Datumaro writes for CVAT (WiderFace, VGGFace2,
Market-1501, LFW): the label list files, number formatting and the dataset skeleton."""
from __future__ import annotations

import posixpath

import numpy as np
import orjson
import pandas as pd

from ..core.dataset import Dataset
from ..core.io import Source
from ..core.parsing import json_error

META = "dataset_meta.json"


def meta_labels(source: Source, root: str) -> list[str] | None:
    """Label names of Datumaro's ``dataset_meta.json`` in ``root`` (``labels`` list and/or
    ``label_map`` {index: name}), or None when there is no such file."""
    rel = posixpath.join(root, META) if root else META
    if not source.exists(rel):
        return None
    try:
        doc = orjson.loads(source.read_bytes(rel))
        names = [str(n) for n in doc.get("labels", [])]
        lm = doc.get("label_map", {})
        for _, n in sorted(lm.items(), key=lambda kv: int(kv[0])):
            if str(n) not in names:
                names.append(str(n))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise json_error(source.display(rel), exc, "expected {labels: [...]} or {label_map: {index: name}}") from exc
    return names


def num(values) -> list[str]:
    """Shortest exact text of each number: ``2`` for 2.0, ``2.5`` for 2.5 (repr precision),
    converted by numpy for the whole column at once."""
    arr = np.asarray(values, dtype=float).reshape(-1)
    out = arr.astype(str)
    whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 1e15)
    out[whole] = arr[whole].astype(np.int64).astype(str)
    return out.tolist()


def under(prefix: str, rel: str) -> str:
    return posixpath.join(prefix, rel) if prefix else rel


def empty_ann_cols() -> dict:
    return {"x": np.nan, "y": np.nan, "w": np.nan, "h": np.nan}


def build(items: list[dict], anns: list[dict], labels: list[str], label_types: dict[str, str] | None,
          source: Source, label_extra: dict[str, dict] | None = None,
          frames: list[pd.DataFrame] | None = None) -> Dataset:
    """A Dataset of ``items`` and ``anns`` rows (``item_id`` set; more rows as DataFrames in
    ``frames``), labels in first-seen order."""
    parts = [pd.DataFrame(anns)] if anns else []
    parts += [f for f in frames or [] if len(f)]
    ann = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts else None
    used = ann["label"].dropna().tolist() if ann is not None else []
    names = list(dict.fromkeys([*labels, *(n for n in used if n)]))
    label_types = label_types or {}
    lab = pd.DataFrame({"name": names, "type": [label_types.get(n, "any") for n in names],
                        "extra": [(label_extra or {}).get(n) for n in names]}) if names else None
    if ann is not None:
        ann.insert(0, "ann_id", np.arange(len(ann), dtype=np.int64))
    ds = Dataset(items=pd.DataFrame(items) if items else None, annotations=ann, labels=lab)
    ds.media_root = source.url_of("") if source.kind != "file" else source.folder
    return ds


class Unique:
    """Keeps image ids unique (case-insensitively) within a group: a repeat gets ``__<item_id>``
    (two items named ``a.jpg`` and ``a.png`` share the id ``a`` in these formats)."""

    def __init__(self) -> None:
        self.seen: set = set()
        self.renamed: list = []

    def __call__(self, group, stem: str, item_id) -> str:
        if (group, stem.lower()) in self.seen:
            stem = f"{stem}__{item_id}"
            self.renamed.append(item_id)
        self.seen.add((group, stem.lower()))
        return stem

    def report(self, report, fmt: str) -> None:
        report.add("items", self.renamed, f"{fmt} names images by id and another image has this one: "
                                          "written as <id>__<item_id>")


def attr_text(v) -> str:
    """An attribute value as the text files hold it (bools as True/False, floats without .0)."""
    if isinstance(v, bool | np.bool_):
        return "True" if v else "False"
    if isinstance(v, float | np.floating):
        return num([v])[0]
    return str(v)
