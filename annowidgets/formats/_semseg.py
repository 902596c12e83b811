"""What CamVid and Cityscapes share: ``label_colors.txt`` (``r g b name`` lines, as Datumaro
writes them), the label list for export (background first, black), and painting each item's
shapes into class/instance maps with the losses reported. Private: not a format itself.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from ..core import raster
from ..core.errors import FormatError
from . import _voc_common as vc
from ._carry import report_predictions_as_shapes

LABEL_COLORS = "label_colors.txt"
BLACK = (0, 0, 0)


def parse_label_colors(text: str, where: str) -> list[tuple[str, tuple | None]]:
    """``r g b name`` (or a bare ``name``) lines -> [(name, rgb or None)]; ``#`` comments skipped."""
    out, seen = [], set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) >= 4:
            try:
                rgb = tuple(int(v) for v in fields[:3])
            except ValueError:
                rgb = ()
            if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
                raise FormatError(where, f"expected 'r g b name' with r, g, b in 0..255, got {line[:60]!r}",
                                  line=lineno)
            name = " ".join(fields[3:])
        elif len(fields) == 1:
            name, rgb = fields[0], None
        else:
            raise FormatError(where, f"expected 'r g b name' or a bare label name, got {line[:60]!r}", line=lineno)
        if name in seen:
            raise FormatError(where, f"label {name!r} is defined twice", line=lineno)
        seen.add(name)
        out.append((name, rgb))
    return out


def index_png(data: bytes, where: str) -> np.ndarray:
    """The values of a single-channel (8- or 16-bit) id PNG as int64."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
        raise FormatError(where, f"not a readable PNG ({exc})") from exc
    if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise FormatError(where, f"expected a single-channel id PNG, got mode {img.mode}")
    return np.asarray(img).astype(np.int64)


def id_png(arr: np.ndarray, dtype) -> bytes:
    """A single-channel PNG of ``arr`` as ``dtype`` (``np.uint8`` or ``np.uint16``)."""
    buf = io.BytesIO()
    Image.fromarray(arr.astype(dtype)).save(buf, format="PNG")
    return buf.getvalue()


def format_label_colors(entries) -> str:
    return "".join(f"{r} {g} {b} {name}\n" for name, (r, g, b) in entries)


def with_background(entries: list[tuple[str, tuple | None]], move: bool = True) -> tuple[list, bool, int]:
    """Find the background class as Datumaro does: the first black label, else one named
    ``background``, else a new black ``background`` at index 0. ``move`` puts a found one first
    (CamVid); Cityscapes leaves it where the file has it, since its ids index the list. Labels
    without a colour get one from the VOC colour map. Returns (entries, added, background index)."""
    entries = list(entries)
    idx = next((i for i, e in enumerate(entries) if e[1] == BLACK), None)
    if idx is None:
        idx = next((i for i, e in enumerate(entries) if e[0] == vc.BACKGROUND), None)
    added = idx is None
    if added:
        entries.insert(0, (vc.BACKGROUND, BLACK))
        idx = 0
    elif move:
        entries.insert(0, entries.pop(idx))
        idx = 0
    if any(e[1] is None for e in entries):
        if all(e[1] is None for i, e in enumerate(entries) if i != idx):
            cmap = vc.colormap(max(len(entries), 1))
            entries = [(n, tuple(int(v) for v in cmap[i])) for i, (n, _) in enumerate(entries)]
        else:
            entries = [(n, c) for n, c, _, _ in vc.fill_colors([(n, c, [], []) for n, c in entries])]
    return entries, added, idx


def labels_table(entries, implicit_background: bool) -> pd.DataFrame:
    rows = entries[1:] if implicit_background else entries
    return pd.DataFrame({"name": [n for n, _ in rows],
                         "color": ["#{:02x}{:02x}{:02x}".format(*c) for _, c in rows]})


def export_entries(ds, used_labels) -> list[tuple[str, tuple]]:
    """(name, rgb) for writing: the dataset's labels (sub-labels of skeletons left out) and any
    used only in annotations; the background first in black (a label already black, else one
    named ``background``, else a new one, as Datumaro finds it on reading); every colour distinct."""
    colors: dict[str, tuple | None] = {}
    for name, color, parent in zip(ds.labels["name"].tolist(), ds.labels["color"].tolist(),
                                   ds.labels["parent"].tolist(), strict=True):
        if isinstance(name, str) and name and name not in colors and not (isinstance(parent, str) and parent):
            colors[name] = vc._hex_to_rgb(color)
    for name in used_labels:
        if isinstance(name, str) and name and name not in colors:
            colors[name] = None
    entries, _, _ = with_background(list(colors.items()))
    entries[0] = (entries[0][0], BLACK)
    return [(n, c) for n, c, _, _ in vc.fill_colors([(n, c, [], []) for n, c in entries])]


def paintable_rows(ds, items: pd.DataFrame, report, where: str, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Annotation rows of ``items`` (``rows``, else all of ``ds``) with an area, sorted by item
    position; the rest reported."""
    a = ds.annotations if rows is None else rows
    pos = pd.Series(np.arange(len(items)), index=items["item_id"].to_numpy())
    a = a.assign(_pos=a["item_id"].map(pos).to_numpy())
    a = a[a["_pos"].notna()].astype({"_pos": np.int64}).sort_values(["_pos", "ann_id"], kind="stable")
    ok = np.isin(a["type"].to_numpy(), raster.RASTER_TYPES)
    for t, g in a[~ok].groupby("type"):
        report.add("annotations", g["ann_id"], f"{t} has no area to paint into a {where} mask")
    report_predictions_as_shapes(report, a[ok], where)
    return a[ok]


def paint_items(ds, rows: pd.DataFrame, items: pd.DataFrame, class_ids: np.ndarray, instance_ids: np.ndarray,
                report, ctx=None):
    """Yield ``(position, class_map, instance_map, rows_of_item)`` per item with rows, painted in
    ``z_order``; report rows of items without a size, masks of the wrong size and rows no pixel
    of which is left (covered by later shapes)."""
    widths, heights = vc.item_sizes(ds, items)
    rows = rows.assign(_cls=class_ids, _inst=instance_ids)
    no_size, bad, hidden = [], [], []
    groups = list(rows.groupby("_pos", sort=True))
    for k, (p, grp) in enumerate(groups):
        width, height = widths[p], heights[p]
        if np.isnan(width) or np.isnan(height):
            no_size.extend(grp["ann_id"].tolist())
            continue
        try:
            cls_map, inst_map = raster.paint(grp, int(height), int(width), grp["_cls"].to_numpy(),
                                             grp["_inst"].to_numpy())
        except ValueError:
            bad.extend(grp["ann_id"].tolist())
            continue
        # a row is visible when some pixel holds its (class, instance) pair
        key_map = cls_map.astype(np.int64) * 1_000_003 + inst_map
        key_rows = grp["_cls"].to_numpy(np.int64) * 1_000_003 + grp["_inst"].to_numpy(np.int64)
        seen = np.isin(key_rows, np.unique(key_map))
        hidden.extend(grp["ann_id"].to_numpy()[~seen].tolist())
        if ctx is not None and k % 200 == 0:
            ctx.step(0.05 + 0.85 * k / max(len(groups), 1), "masks")
        yield int(p), cls_map, inst_map, grp
    report.add("annotations", no_size, "item has no known width/height, shape not rasterised")
    report.add("annotations", bad, "mask size differs from the image size, not rasterised")
    report.add("annotations", hidden, "no pixel of it left in the mask (covered by shapes painted over it in "
                                      "z_order, or smaller than a pixel)")


def segments(ids: np.ndarray):
    """Yield ``(value, rle, (x, y, w, h), pixel indices)`` for each value of an id map.

    One stable sort of the map in column-major order gives every value's pixels already in
    COCO RLE order, so each segment's runs come from its own pixels only (no full-image
    comparison per segment, which made a many-segment image cost seconds)."""
    from pycocotools import mask as mask_utils

    height, width = ids.shape
    flat = np.asarray(ids).ravel(order="F")
    order = np.argsort(flat, kind="stable")
    values, starts = np.unique(flat[order], return_index=True)
    ends = np.r_[starts[1:], flat.size]
    for v, s, e in zip(values.tolist(), starts.tolist(), ends.tolist(), strict=True):
        idx = order[s:e]
        brk = np.flatnonzero(np.diff(idx) != 1)
        run_start = np.r_[idx[0], idx[brk + 1]]
        run_end = np.r_[idx[brk] + 1, idx[-1] + 1]
        counts = np.empty(2 * len(run_start) + 1, dtype=np.int64)
        counts[0] = run_start[0]
        counts[1:-1:2] = run_end - run_start
        counts[2:-1:2] = run_start[1:] - run_end[:-1]
        counts[-1] = flat.size - run_end[-1]
        rle = mask_utils.frPyObjects({"counts": counts.tolist(), "size": [height, width]}, height, width)
        rows, cols = idx % height, idx // height
        x0, y0 = int(cols.min()), int(rows.min())
        box = (float(x0), float(y0), float(cols.max() + 1 - x0), float(rows.max() + 1 - y0))
        yield int(v), {"size": [height, width], "counts": rle["counts"].decode("ascii")}, box, idx


def bitmap(idx: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The boolean mask of column-major pixel indices ``idx``."""
    m = np.zeros(shape[0] * shape[1], dtype=bool)
    m[idx] = True
    return m.reshape(shape, order="F")
