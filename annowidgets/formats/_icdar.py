"""What the three ICDAR formats share: the label CVAT gives every region ("icdar"), item rows
from ``<subset>/images/``, file names per item, and the ``text`` attribute."""
from __future__ import annotations

import posixpath

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.io import Source
from ..core.media_types import IMAGE_EXTS
from . import _voc_common as vc

LABEL = "icdar"


def images_of(source: Source, subset_dir: str) -> dict[str, str]:
    """``<subset_dir>images/<rel>`` by ``<rel>`` without extension and by ``<rel>`` itself."""
    d = f"{subset_dir}images/"
    out = {}
    for f in source.files:
        if f.startswith(d) and posixpath.splitext(f)[1].lower() in IMAGE_EXTS:
            out.setdefault(f[len(d):], f)
            out.setdefault(posixpath.splitext(f[len(d):])[0], f)
    return out


def item_row(source: Source, item_id: int, name: str, subset: str, img: str | None, probe: str | None = None) -> dict:
    size = vc.image_size(source.read_bytes(img or probe)) if (img or probe) else None
    return {"item_id": item_id, "name": name, "subset": subset, "media": source.url_of(img) if img else name,
            "width": size[0] if size else pd.NA, "height": size[1] if size else pd.NA}


def dataset(items: list[dict], rows: list[dict]) -> Dataset:
    it = pd.DataFrame(items, columns=["item_id", "name", "subset", "media", "width", "height"])
    for c in ("width", "height"):
        it[c] = pd.array(it[c].tolist(), dtype="Int64")
    ann = pd.DataFrame(rows)
    ann["ann_id"] = np.arange(len(ann))
    for c in ("attributes", "extra", "mask", "points"):
        if c in ann:
            ann[c] = ann[c].astype(object).where(ann[c].notna(), None)
    return Dataset(items=it, annotations=ann, labels=pd.DataFrame({"name": [LABEL]}) if len(ann) else None)




def text_of(attrs) -> str | None:
    if isinstance(attrs, dict) and attrs.get("text") is not None:
        return str(attrs["text"])
    return None


def report_other_labels(report, a: pd.DataFrame, where: str) -> None:
    """CVAT gives every ICDAR region the label "icdar": other labels do not survive."""
    other = (a["label"].astype(str) != LABEL).to_numpy()
    report.add_mask("annotations", a, other, f"{where} has no labels: read back as '{LABEL}'", key="ann_id")


def tasks_present(files: list[str]) -> set[str]:
    """Which ICDAR tasks' files an input holds; a detector refuses an input mixing several
    (its own reader would read only part of it), leaving the choice to ``format=``."""
    out = set()
    for f in files:
        base = posixpath.basename(f)
        if "/" not in f or not base.endswith(".txt"):
            continue
        if base == "gt.txt":
            out.add("recognition")
        elif base.startswith("gt_"):
            out.add("localization")
        elif base.endswith("_GT.txt"):
            out.add("segmentation")
    return out


def detect_gt(source: Source, gts: list[str], task: str, parse_line, confidence: float) -> float:
    """``confidence`` when ``task`` is the only ICDAR task here and the first lines of a few
    ground-truth files parse (``parse_line`` returns a str, the reason, when a line does not)."""
    if not gts or tasks_present(source.files) != {task}:
        return 0.0
    for rel in gts[:5]:
        try:
            text = source.read_bytes(rel)[:4096].decode("utf-8", "replace")
        except OSError:
            return 0.0
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        if first and isinstance(parse_line(first.strip()), str):
            return 0.0
    return confidence
