"""COCO RLE at the edge: checked before pycocotools sees it, for the COCO readers and writers.

COCO segmentation masks come as compressed RLE (``counts`` a string) or uncompressed RLE
(``counts`` a list of run lengths, column-major). Both are checked here before pycocotools
sees them, because pycocotools trusts its input: runs that do not add up to ``h * w`` give
garbage masks (cvat-ai/cvat#9460) instead of an error.
"""
from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from ..core import raster


class RLEError(ValueError):
    """An RLE whose runs do not describe an ``h x w`` mask; the caller names the file."""


def decode_counts(counts: str) -> list[int]:
    """Run lengths of a pycocotools compressed ``counts`` string (LEB128-like, delta coded)."""
    cnts: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise RLEError("compressed counts end in the middle of a number")
            c = ord(counts[p]) - 48
            if c < 0 or c > 63:
                raise RLEError(f"compressed counts hold an invalid character {counts[p]!r} at {p}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    return cnts


def _size(seg: dict) -> tuple[int, int]:
    size = seg.get("size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size)):
        raise RLEError(f"RLE 'size' must be [height, width] non-negative ints, got {size!r}")
    return int(size[0]), int(size[1])


def normalize_rle(seg: dict) -> dict:
    """Check an RLE dict and return it compressed as ``{"size": [h, w], "counts": str}``.

    Raises :class:`RLEError` when the runs are negative or do not add up to ``h * w``.
    """
    if not isinstance(seg, dict) or "counts" not in seg:
        raise RLEError(f"RLE must be a dict with 'size' and 'counts', got {type(seg).__name__}")
    h, w = _size(seg)
    counts = seg["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        runs = decode_counts(counts)
        if any(r < 0 for r in runs):
            raise RLEError("compressed counts decode to a negative run")
        total = sum(runs)
        if total != h * w:
            raise RLEError(f"RLE runs cover {total} pixels but size {h}x{w} has {h * w}")
        return {"size": [h, w], "counts": counts}
    if isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            raise RLEError("uncompressed counts must be a list of ints")
        if any(v < 0 for v in counts):
            raise RLEError("uncompressed counts hold a negative run")
        total = sum(counts)
        if total != h * w:
            raise RLEError(f"RLE runs cover {total} pixels but size {h}x{w} has {h * w}")
        rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        return {"size": [h, w], "counts": rle["counts"].decode("ascii")}
    raise RLEError(f"RLE 'counts' must be a string or a list of ints, got {type(counts).__name__}")


def ellipse_mask(x: float, y: float, w: float, h: float, rotation: float, height: int, width: int) -> np.ndarray:
    """Rasterise an ellipse (box ``x, y, w, h`` rotated clockwise about its centre) in pixels:
    a pixel belongs to it when its centre does (the rule of :mod:`annowidgets.core.raster`)."""
    if height <= 0 or width <= 0:
        return np.zeros((max(height, 0), max(width, 0)), dtype=bool)
    return raster.ellipse_mask(x + w / 2, y + h / 2, w / 2, h / 2, rotation, height, width)
