"""Parse errors that say where: one place turns a JSON decode error into a FormatError.

Every reader that parses JSON with orjson raises ``json_error(file, exc, what)`` so the error
names the file, the line and the character position the same way everywhere.
"""
from __future__ import annotations

import json

from .errors import FormatError


def json_error(where: str, exc: Exception, what: str = "not valid JSON") -> FormatError:
    """A :class:`FormatError` for ``exc``; decode errors (orjson's included) give line and position."""
    if isinstance(exc, json.JSONDecodeError):
        return FormatError(where, f"{what}: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                           line=exc.lineno, position=exc.pos)
    return FormatError(where, f"{what} ({exc})")
