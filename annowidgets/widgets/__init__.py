"""Jupyter widgets (anywidget): the front end lives in ``js/``, bundled into ``annowidgets/static/``."""
from __future__ import annotations

from .preview import Preview

__all__ = ["Preview"]
