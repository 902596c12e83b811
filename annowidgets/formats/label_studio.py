"""Label Studio JSON: registration and detection (reader in ``ls_read``, writer in ``ls_write``)."""
from __future__ import annotations

import re

from ..core.io import Source
from .ls_read import read
from .ls_write import write
from .registry import FormatSpec, register

_HEAD = 1 << 16


def head(source: Source, rel: str | None) -> bytes:
    """The first 64 KiB of a file, for detection by content."""
    with source.open(rel) as f:
        return f.read(_HEAD)


def _json_files(source: Source) -> list[str | None]:
    if source.kind == "file":
        return [None] if source.name.lower().endswith(".json") or True else []
    return source.glob("*.json")[:3]


_TASK = re.compile(rb'"(annotations|completions|predictions)"\s*:')
_DATA = re.compile(rb'"data"\s*:\s*\{')


def detect(source: Source) -> float:
    """A list (or one) of dicts with ``data`` and ``annotations``/``completions``/``predictions``."""
    score = 0.0
    for rel in _json_files(source):
        try:
            b = head(source, rel).lstrip()
        except (OSError, FileNotFoundError):
            continue
        if b[:1] not in (b"[", b"{"):
            continue
        if _DATA.search(b) and _TASK.search(b):
            score = max(score, 0.95)
        elif source.kind != "file" and any(f.split("/")[-2:-1] == ["completions"] for f in source.files):
            score = max(score, 0.6)
    return score


register(FormatSpec(
    name="Label Studio JSON",
    aliases=("JSON", "label_studio", "ls", "Label Studio"),
    read=read,
    write=write,
    detect=detect,
    shapes=("bbox", "polygon", "polyline", "points", "ellipse", "mask", "tag", "text", "span", "segment",
            "taxonomy", "rating", "number", "datetime", "other"),
    media=("image", "video", "audio", "text"),
    family="label_studio",
    description="Label Studio raw JSON export: tasks with annotations, predictions, relations (result.json)",
))
