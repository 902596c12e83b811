"""``Dataset``: a handful of DataFrames (see :mod:`annowidgets.core.schema`) plus metadata.

Conversions are column operations on these tables, never one Python object per annotation.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd

from . import schema
from .loss import ExportResult, LossReport

TABLE_NAMES = ("items", "sets", "annotations", "labels", "relations", "tasks", "jobs")


@dataclass
class Dataset:
    """Annotations and their items, labels and hierarchy, as pandas DataFrames.

    ``items``: one row per image / frame / text / audio clip. ``annotations``: one row per
    region (or per chosen value of a classification). ``sets``: one row per annotation set
    (a Label Studio annotation or prediction), so an empty or cancelled set is kept.
    ``labels``, ``relations``, ``tasks`` and ``jobs`` as named. ``info`` holds what the
    source says about itself (format, level, project, dump time…); ``media_root`` is the
    URL relative ``items.media`` paths are resolved against.
    """

    items: pd.DataFrame = None
    annotations: pd.DataFrame = None
    labels: pd.DataFrame = None
    sets: pd.DataFrame = None
    relations: pd.DataFrame = None
    tasks: pd.DataFrame = None
    jobs: pd.DataFrame = None
    info: dict[str, Any] = field(default_factory=dict)
    media_root: str | None = None
    loss: LossReport = field(default_factory=LossReport)

    def __post_init__(self) -> None:
        for name in TABLE_NAMES:
            setattr(self, name, schema.conform(name, getattr(self, name)))

    # -- checks ----------------------------------------------------------------------
    def validate(self) -> Dataset:
        """Check every table against the schema and the links between them; return self."""
        for name in TABLE_NAMES:
            schema.check_table(name, getattr(self, name))
        a, items = self.annotations, self.items
        _check_in(a, "type", schema.ANNOTATION_TYPES, "annotations")
        _check_in(a, "source", schema.SOURCES, "annotations")
        _check_in(self.sets, "source", schema.SOURCES, "sets")
        orphan = ~a["item_id"].isin(items["item_id"])
        if orphan.any():
            raise schema.SchemaError(
                f"annotations.item_id: rows {a.index[orphan].tolist()[:10]} point to items that do not exist")
        if len(self.sets):
            orphan = a["set_id"].notna() & ~a["set_id"].isin(self.sets["set_id"])
            if orphan.any():
                raise schema.SchemaError(
                    f"annotations.set_id: rows {a.index[orphan].tolist()[:10]} point to sets that do not exist")
        neg = (a["w"] < 0) | (a["h"] < 0)
        if neg.any():
            raise schema.SchemaError(f"annotations.w/h: negative size in rows {a.index[neg].tolist()[:10]}")
        parent = a["parent_id"].notna() & ~a["parent_id"].isin(a["ann_id"])
        if parent.any():
            raise schema.SchemaError(
                f"annotations.parent_id: rows {a.index[parent].tolist()[:10]} point to annotations that do not exist")
        return self

    # -- views ---------------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """Annotations joined with their items: one row per annotation, item columns prefixed."""
        it = self.items.drop(columns=["data", "extra"]).add_prefix("item_").rename(columns={"item_item_id": "item_id"})
        return self.annotations.merge(it, on="item_id", how="left", sort=False)

    def summary(self) -> dict[str, Any]:
        """Counts a person wants first: items, annotations by label/type/source, subsets, tasks."""
        a = self.annotations
        return {
            "items": len(self.items),
            "annotations": len(a),
            "sets": len(self.sets),
            "labels": sorted(set(self.labels["name"]) | set(a["label"].dropna())),
            "by_label": a["label"].value_counts().to_dict(),
            "by_type": a["type"].value_counts().to_dict(),
            "by_source": a["source"].value_counts().to_dict(),
            "subsets": self.items["subset"].value_counts().to_dict(),
            "tasks": len(self.tasks),
            "jobs": len(self.jobs),
        }

    def media_url(self, media: str | None) -> str | None:
        """Resolve an ``items.media`` value against ``media_root`` (absolute URLs pass through)."""
        if media is None or media is pd.NA or (isinstance(media, float) and np.isnan(media)):
            return None
        mapped = _map_prefix(media, self.info.get("media_map"))
        if mapped is not None:
            return mapped
        if "://" in media or media.startswith("/") or not self.media_root:
            return media
        if "::" in self.media_root:  # chained URL, e.g. zip://prefix::archive.zip
            head, tail = self.media_root.split("::", 1)
            return f"{posixpath.join(head, media)}::{tail}"
        return posixpath.join(self.media_root, media)

    def copy(self) -> Dataset:
        return Dataset(**{n: getattr(self, n).copy() for n in TABLE_NAMES}, info=dict(self.info),
                       media_root=self.media_root, loss=LossReport(self.loss.format, list(self.loss.entries)))

    # -- export ------------------------------------------------------------------------
    def export(self, target: str, format: str, save_images: bool = False, name: str | None = None,
               archive: bool = True, storage_options: dict | None = None, **options) -> ExportResult:
        """Write this dataset in ``format`` under ``target``; return the archive path.

        ``target`` is a folder URL (the archive gets ``name`` or CVAT's default name) or, when
        it ends in ``.zip``, the archive itself; ending in ``.json``/``.xml``/``.csv``/… it is
        the one file of a single-file export (an error, leaving nothing, if the format writes more). ``save_images`` copies the media in. What the
        format cannot carry is warned about and returned as ``result.loss``.
        """
        from ..formats import registry  # the one upward call: core does not know formats otherwise

        return registry.export(self, target, format, save_images=save_images, name=name, archive=archive,
                               storage_options=storage_options, **options)

    def __repr__(self) -> str:
        a = self.annotations
        kinds = ", ".join(f"{k}: {v}" for k, v in a["type"].value_counts().items())
        return (f"<Dataset {len(self.items)} items, {len(a)} annotations ({kinds or 'none'}), "
                f"{len(self.labels)} labels, {len(self.tasks)} tasks>")


def _map_prefix(media: str, media_map: dict | None) -> str | None:
    """``media`` with the longest matching prefix of ``media_map`` replaced, else None.

    Label Studio stores uploads as ``/data/upload/<project>/<file>`` (also behind its host,
    ``http://host:8080/data/upload/…``) and local storage as ``/data/local-files/?d=<path>``;
    the map says where those live on this machine.
    """
    if not media_map:
        return None
    path = media
    if media.startswith(("http://", "https://")):
        parts = urlsplit(media)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    for prefix in sorted(media_map, key=len, reverse=True):
        if path.startswith(prefix):
            rest = unquote(path[len(prefix):])
            return posixpath.join(str(media_map[prefix]), rest.lstrip("/"))
    return None


def _check_in(df: pd.DataFrame, col: str, allowed, table: str) -> None:
    bad = ~df[col].isin(allowed)
    if bad.any():
        vals = sorted(set(df.loc[bad, col].astype(str)))[:5]
        raise schema.SchemaError(f"{table}.{col}: unknown values {vals} in rows {df.index[bad].tolist()[:10]}; "
                                 f"expected one of {list(allowed)}")
