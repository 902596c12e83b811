"""Jupyter widgets (anywidget): the front end lives in ``js/``, bundled into ``annowidgets/static/``."""
from __future__ import annotations

from .hierarchy import HierarchyBrowser
from .preview import Preview
from .requests_panel import RequestsPanel

__all__ = ["HierarchyBrowser", "Preview", "RequestsPanel"]
