"""CVAT's tight-box mask RLE <-> COCO RLE over the whole image, in one tested place.

CVAT writes a mask as runs over a ``width x height`` box placed at (``left``, ``top``),
read row by row (C order); the first run counts background pixels (it is 0 when the first
pixel is set) and the runs sum to ``width*height``. The dataset keeps masks as COCO RLE
(column-major, whole image, compressed ``counts`` string), so both directions live here.
Everything is done with numpy over the flattened mask: no per-pixel Python loops.
"""
from __future__ import annotations

import warnings

import numpy as np
from pycocotools import mask as mask_utils

from .errors import FormatError


def _fail(file, line, message):
    raise FormatError(file or "<mask>", message, line=line, element="mask")


def parse_cvat_rle(text: str, *, file: str | None = None, line: int | None = None) -> np.ndarray:
    """``"a, b, c"`` -> int64 array of runs (FormatError for junk or negative runs)."""
    try:
        runs = np.array([int(v) for v in text.split(",") if v.strip()], dtype=np.int64)
    except ValueError:
        _fail(file, line, f"rle {text[:40]!r} is not a comma-separated list of integers")
    if (runs < 0).any():
        _fail(file, line, "rle has negative runs")
    return runs


def format_cvat_rle(runs) -> str:
    """Runs -> CVAT's ``"a, b, c"`` text."""
    return ", ".join(map(str, np.asarray(runs, dtype=np.int64).tolist()))


def decode_cvat_rle(runs, width: int, height: int, *, file: str | None = None,
                    line: int | None = None) -> np.ndarray:
    """Runs over a ``width x height`` box -> bool array (height, width), row-major."""
    runs = np.asarray(runs, dtype=np.int64)
    if width < 0 or height < 0:
        _fail(file, line, f"negative mask size {width}x{height}")
    if (runs < 0).any():
        _fail(file, line, "rle has negative runs")
    total = int(runs.sum())
    if total != width * height:
        _fail(file, line, f"rle runs sum to {total}, expected width*height = {width}*{height} = {width * height}")
    values = (np.arange(runs.size) & 1).astype(bool)  # run 0 is background, then alternating
    return np.repeat(values, runs).reshape(height, width)


def encode_cvat_rle(box_mask) -> np.ndarray:
    """Bool array (height, width) -> runs, row-major, first run background (may be 0)."""
    flat = np.asarray(box_mask, dtype=bool).ravel(order="C")
    if flat.size == 0:
        return np.zeros(1, dtype=np.int64)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds)
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return runs.astype(np.int64)


def coco_encode(full_mask) -> dict:
    """Bool/uint8 array (H, W) -> COCO RLE ``{'size': [H, W], 'counts': str}``."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(full_mask, dtype=np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def _coco_obj(rle: dict) -> dict:
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed COCO RLE
        h, w = int(rle["size"][0]), int(rle["size"][1])
        if sum(counts) != h * w:
            raise ValueError(f"RLE runs sum to {sum(counts)}, expected {h * w} for a {h}x{w} mask")
        return mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def coco_decode(rle: dict) -> np.ndarray:
    """COCO RLE (compressed ``counts`` str/bytes or uncompressed list) -> bool array (H, W)."""
    with warnings.catch_warnings():  # pycocotools' numpy-2 copy= deprecation, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(_coco_obj(rle)).astype(bool)


def cvat_to_coco(runs, left: int, top: int, width: int, height: int, image_width: int | None,
                 image_height: int | None, *, file: str | None = None, line: int | None = None) -> dict:
    """CVAT mask (runs + tight box) -> COCO RLE over the whole image.

    Without an image size the image is taken to end where the box does.
    """
    box = decode_cvat_rle(runs, width, height, file=file, line=line)
    if image_width is None or image_height is None:
        image_width, image_height = left + width, top + height
    if left < 0 or top < 0 or left + width > image_width or top + height > image_height:
        _fail(file, line, f"mask box left={left} top={top} width={width} height={height} lies outside the "
                          f"{image_width}x{image_height} image")
    full = np.zeros((image_height, image_width), dtype=np.uint8, order="F")
    full[top:top + height, left:left + width] = box
    return coco_encode(full)


def coco_to_cvat(rle: dict, box: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, int, int, int, int]:
    """COCO RLE -> ``(runs, left, top, width, height)``.

    ``box`` (left, top, width, height) keeps the box a CVAT file gave; by default the tight
    box around the foreground (a 1x1 box at 0,0 for an empty mask).
    """
    full = coco_decode(rle)
    if box is None:
        rows = np.flatnonzero(full.any(axis=1))
        cols = np.flatnonzero(full.any(axis=0))
        if rows.size == 0:
            left, top, width, height = 0, 0, 1, 1
        else:
            left, top = int(cols[0]), int(rows[0])
            width, height = int(cols[-1]) - left + 1, int(rows[-1]) - top + 1
    else:
        left, top, width, height = (int(v) for v in box)
    crop = full[top:top + height, left:left + width]
    if crop.shape != (height, width) or full[:, :left].any() or full[:top].any() \
            or full[:, left + width:].any() or full[top + height:].any():
        return coco_to_cvat(rle, None)  # the given box does not hold the mask: use the tight one
    return encode_cvat_rle(crop), left, top, width, height


def rle_bbox(rles) -> np.ndarray:
    """Boxes (N, 4) ``x, y, w, h`` of COCO RLEs (pycocotools.toBbox)."""
    rles = list(rles)
    if not rles:
        return np.zeros((0, 4))
    return np.asarray(mask_utils.toBbox([_coco_obj(r) for r in rles]), dtype=np.float64).reshape(-1, 4)


def rle_area(rles) -> np.ndarray:
    """Foreground pixel counts of COCO RLEs (pycocotools.area)."""
    rles = list(rles)
    if not rles:
        return np.zeros(0)
    return np.asarray(mask_utils.area([_coco_obj(r) for r in rles]), dtype=np.float64)
