"""The front door of the core (DESIGN §8): load, read_dataframe, convert, formats."""
from __future__ import annotations

import pandas as pd

from .core.dataset import Dataset
from .core.loss import ExportResult
from .formats import registry


def load(source: str, format: str | None = None, storage_options: dict | None = None, **options) -> Dataset:
    """Read annotations from a file, folder or zip on any fsspec URL into a :class:`Dataset`.

    The format is detected from CVAT's default archive name, then from the content, unless
    ``format`` names it (CVAT display names and Label Studio names both work).
    ``to_polygons=True`` reads masks as polygons, as CVAT's "Convert masks to polygons" does.
    """
    return registry.read(source, format=format, storage_options=storage_options, **options)


def read_dataframe(source: str, format: str | None = None, **options) -> pd.DataFrame:
    """Annotations joined with their items, one row per annotation."""
    return load(source, format=format, **options).to_dataframe()


def convert(source: str, target: str, to: str, from_: str | None = None, save_images: bool = False,
            name: str | None = None, to_polygons: bool = False, **options) -> ExportResult:
    """Load ``source`` and export it as ``to`` under ``target``; return the archive path.

    ``to_polygons`` reads masks as polygons (CVAT's "Convert masks to polygons"); ``options``
    go to the writer.
    """
    ds = load(source, format=from_, **({"to_polygons": True} if to_polygons else {}))
    return ds.export(target, format=to, save_images=save_images, name=name, **options)


def formats() -> pd.DataFrame:
    """Every known format: name, aliases, import, export, shapes, media."""
    return registry.table()
