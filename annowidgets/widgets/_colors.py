"""Per-label colours that are the same in every widget, source and session.

A label keeps the colour its labels table gives it (CVAT/LS colours); otherwise its colour is
derived from a hash of its name, so "car" is the same colour for annotations and predictions,
across items and across kernels (``hash()`` is salted per process, crc32 is not).
"""
from __future__ import annotations

import colorsys
import re
import zlib

import pandas as pd

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def color_from_name(name: str) -> str:
    """A readable ``#rrggbb`` from the label name: hue from crc32, fixed-ish saturation and lightness."""
    h = zlib.crc32(name.encode("utf-8"))
    hue = (h % 360) / 360.0
    light = 0.45 + ((h >> 9) % 3) * 0.07  # three lightness steps split labels with close hues
    r, g, b = colorsys.hls_to_rgb(hue, light, 0.75)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def label_colors(names, labels: pd.DataFrame | None = None) -> dict[str, str]:
    """``name -> #rrggbb`` for every name: the labels table's colour when valid, else from the name."""
    table: dict[str, str] = {}
    if labels is not None and len(labels):
        for name, color in zip(labels["name"], labels["color"], strict=True):
            if isinstance(color, str) and _HEX.match(color.strip()):
                table.setdefault(str(name), color.strip().lower())
    return {n: table.get(n) or color_from_name(n) for n in names}
