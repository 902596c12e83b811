"""One module per format, each registering a FormatSpec with :mod:`.registry`.

``annowidgets.formats`` is both this package and the public ``aw.formats()`` table: the package
module is callable, so ``import annowidgets.formats.registry`` and ``aw.formats()`` both work
(a plain function of that name would shadow the package for ``import ... as``).
"""
from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self):
        """Every known format: name, aliases, import, export, shapes, media (a DataFrame)."""
        from .registry import table

        return table()


sys.modules[__name__].__class__ = _CallablePackage
