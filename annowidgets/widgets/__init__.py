"""Jupyter widgets (anywidget): the front end lives in ``js/``, bundled into ``annowidgets/static/``."""
from __future__ import annotations

from .export_form import ExportForm
from .hierarchy import HierarchyBrowser
from .import_form import ImportForm
from .preview import Preview
from .requests_panel import RequestsPanel
from .studio import Studio

__all__ = ["ExportForm", "HierarchyBrowser", "ImportForm", "Preview", "RequestsPanel", "Studio"]
