"""annowidgets: CVAT and Label Studio export/import as pandas DataFrames, in the notebook.

>>> import annowidgets as aw
>>> ds = aw.load("task_7_annotations_2025_01_02_10_00_00_cvat for images 1.1.zip")  # doctest: +SKIP
>>> ds.annotations                                                                   # doctest: +SKIP
"""
from __future__ import annotations

from . import formats  # callable: aw.formats() is the table of every format
from .api import convert, load, read_dataframe
from .core.dataset import Dataset
from .core.errors import AnnowidgetsError, FormatError, UnknownFormatError, UnsafeInputError
from .core.loss import ExportResult, LossReport, LossWarning

__version__ = "0.1.0"

__all__ = [
    "AnnowidgetsError", "Dataset", "ExportResult", "FormatError", "LossReport", "LossWarning",
    "UnknownFormatError", "UnsafeInputError", "convert", "formats", "load", "read_dataframe",
    "Workspace", "Studio", "Preview", "HierarchyBrowser", "ExportForm", "ImportForm", "RequestsPanel",
]

_LAZY = {
    "Workspace": ("annowidgets.workspace", "Workspace"),
    "Studio": ("annowidgets.widgets", "Studio"),
    "Preview": ("annowidgets.widgets", "Preview"),
    "HierarchyBrowser": ("annowidgets.widgets", "HierarchyBrowser"),
    "ExportForm": ("annowidgets.widgets", "ExportForm"),
    "ImportForm": ("annowidgets.widgets", "ImportForm"),
    "RequestsPanel": ("annowidgets.widgets", "RequestsPanel"),
}


def __getattr__(name: str):
    # Widgets and the workspace load on first use, so scripts that only convert stay light.
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'annowidgets' has no attribute {name!r}")
