"""What Pascal VOC and Segmentation mask share: ``labelmap.txt``, colour maps, item ids, subset
lists and the class/instance PNGs. Kept private so the registry does not load it as a format.
"""
from __future__ import annotations

import io
import posixpath
import re

import numpy as np
import pandas as pd
from PIL import Image

from ..core import raster
from ..core.errors import FormatError
from ..core.masks import coco_encode
from ..core.media_types import IMAGE_EXTS

BACKGROUND = "background"
VOC_LABELS = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
              "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
              "train", "tvmonitor")
VOC_PARTS = ("head", "hand", "foot")
VOC_ACTIONS = ("other", "jumping", "phoning", "playinginstrument", "reading", "ridingbike", "ridinghorse",
               "running", "takingphoto", "usingcomputer", "walking")


def colormap(n: int = 256) -> np.ndarray:
    """The Pascal VOC colour map: index -> (r, g, b), bits of the index spread over channels."""
    idx = np.arange(n, dtype=np.int64)
    cmap = np.zeros((n, 3), dtype=np.int64)
    for shift in range(7, -1, -1):
        for c in range(3):
            cmap[:, c] |= ((idx >> c) & 1) << shift
        idx = idx >> 3
    return cmap.astype(np.uint8)


VOC_CMAP = colormap(256)
VOID_COLOR = tuple(int(v) for v in VOC_CMAP[255])  # (224, 224, 192): VOC's "ignored" border


# -- labelmap.txt -----------------------------------------------------------------------------
def default_labelmap() -> list[tuple[str, tuple | None, list, list]]:
    """The labelmap VOC uses when a dataset has no ``labelmap.txt``: 21 classes plus ``ignored``."""
    out = [(n, tuple(int(v) for v in VOC_CMAP[i]), [], []) for i, n in enumerate(VOC_LABELS)]
    out[VOC_LABELS.index("person")] = ("person", out[15][1], list(VOC_PARTS), list(VOC_ACTIONS))
    out.append(("ignored", VOID_COLOR, [], []))
    return out


def parse_labelmap(text: str, where: str) -> list[tuple[str, tuple | None, list, list]]:
    """``name:r,g,b:part1,part2:action1,action2`` lines; ``#`` comments and blank lines skipped."""
    out, seen = [], set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) != 4:
            raise FormatError(where, f"expected 4 ':'-separated fields (name:r,g,b:parts:actions), "
                              f"got {len(fields)}", line=lineno)
        name, color, parts, actions = fields
        if name in seen:
            raise FormatError(where, f"label {name!r} is defined twice", line=lineno)
        seen.add(name)
        rgb = None
        if color.strip():
            try:
                rgb = tuple(int(c) for c in color.split(","))
            except ValueError:
                rgb = ()
            if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
                raise FormatError(where, f"label {name!r}: colour {color!r} is not an 'r,g,b' triplet of 0..255",
                                  line=lineno)
        out.append((name, rgb, [p.strip() for p in parts.split(",") if p.strip()],
                    [a.strip() for a in actions.split(",") if a.strip()]))
    return out


def format_labelmap(entries) -> str:
    lines = ["# label:color_rgb:parts:actions"]
    for name, rgb, parts, actions in entries:
        color = ",".join(str(int(c)) for c in rgb) if rgb is not None else ""
        lines.append(f"{name}:{color}:{','.join(parts)}:{','.join(actions)}")
    return "\n".join(lines) + "\n"


def fill_colors(entries) -> list[tuple[str, tuple, list, list]]:
    """Give every label a distinct colour: keep given ones, fill the rest from the VOC map."""
    used = {rgb for _, rgb, _, _ in entries if rgb is not None}
    taken: set = set()
    spare = (tuple(int(v) for v in c) for c in colormap(4096)[1:])
    out = []
    for name, rgb, parts, actions in entries:
        if rgb is None or rgb in taken:
            rgb = next(c for c in spare if c not in used and c not in taken)
        taken.add(rgb)
        out.append((name, rgb, parts, actions))
    return out


def labelmap_to_labels(entries) -> pd.DataFrame:
    """Labels table rows for a labelmap: actions become checkbox attribute specs, parts labels."""
    rows = []
    part_of: dict[str, list] = {}
    for name, rgb, parts, actions in entries:
        for p in parts:
            part_of.setdefault(p, []).append(name)
        rows.append({
            "name": name,
            "color": "#{:02x}{:02x}{:02x}".format(*rgb) if rgb is not None else pd.NA,
            "attributes": [{"name": a, "input_type": "checkbox", "values": ["false", "true"], "default": "false",
                            "mutable": False} for a in actions] or None,
            "extra": {"voc_parts": list(parts), "voc_actions": list(actions)} if parts or actions else None,
        })
    names = {r["name"] for r in rows}
    for part, owners in part_of.items():
        if part not in names:
            rows.append({"name": part, "color": pd.NA, "attributes": None, "extra": {"voc_part_of": owners}})
            names.add(part)
    return pd.DataFrame(rows, columns=["name", "color", "attributes", "extra"])


def labelmap_from_dataset(ds, extra_names=()) -> list[tuple[str, tuple | None, list, list]]:
    """A labelmap for writing: the dataset's labels (and any used only in annotations), with
    ``background`` first in black as CVAT puts it when the project has none."""
    entries, seen = [], set()
    part_labels = set()
    for rec in ds.labels.itertuples(index=False):
        ex = rec.extra if isinstance(rec.extra, dict) else {}
        if ex.get("voc_part_of"):
            part_labels.add(rec.name)
    for rec in ds.labels.itertuples(index=False):
        if rec.name in seen or rec.name in part_labels:
            continue
        seen.add(rec.name)
        ex = rec.extra if isinstance(rec.extra, dict) else {}
        rgb = _hex_to_rgb(rec.color)
        actions = list(ex.get("voc_actions") or [])
        entries.append((rec.name, rgb, list(ex.get("voc_parts") or []), actions))
    for name in extra_names:
        if name not in seen and name not in part_labels and name:
            seen.add(name)
            entries.append((name, None, [], []))
    idx = next((i for i, e in enumerate(entries) if e[0] == BACKGROUND), None)
    if idx is None:
        entries.insert(0, (BACKGROUND, (0, 0, 0), [], []))
    elif idx:
        entries.insert(0, entries.pop(idx))
    if entries[0][1] is None:
        entries[0] = (entries[0][0], (0, 0, 0), entries[0][2], entries[0][3])
    return fill_colors(entries)


def _hex_to_rgb(color) -> tuple | None:
    if not isinstance(color, str) or not re.fullmatch(r"#?[0-9a-fA-F]{6}", color.strip()):
        return None
    c = color.strip().lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


# -- item ids (file stems) ----------------------------------------------------------------------
def item_ids(items: pd.DataFrame) -> tuple[pd.Series, pd.Series, list]:
    """VOC ids (relative path without extension) and image file names for every item.

    The relative folder is kept (``a/x.jpg`` -> ``a/x``), so same basenames in different
    folders never collide. Items that would still share an id (same stem with another
    extension, or the same name in two subsets, since all subsets share ``Annotations/``)
    get ``<id>__2``, ``<id>__3``…; their ``item_id``s are returned so the writer can report
    the rename.
    """
    names = items["name"].astype(object).where(items["name"].notna() & (items["name"] != ""), None)
    media = items["media"].astype(object)
    rel = [_relative_name(n if n is not None else m, i) for n, m, i in zip(names, media, items["item_id"], strict=False)]
    stems, exts = [], []
    for r in rel:
        stem, ext = posixpath.splitext(r)
        if ext.lower() not in IMAGE_EXTS:
            stem, ext = r, ""
        stems.append(stem)
        exts.append(ext or ".jpg")
    ids = list(stems)
    count: dict[str, int] = {}
    renamed = []
    taken = set()
    for i, s in enumerate(stems):
        key = s.lower()  # case-insensitive file systems collide too
        n = count.get(key, 0) + 1
        count[key] = n
        if n == 1 and key not in taken:
            taken.add(key)
            continue
        k = n
        while f"{s}__{k}".lower() in taken:
            k += 1
        ids[i] = f"{s}__{k}"
        taken.add(ids[i].lower())
        renamed.append(items["item_id"].iloc[i])
    files = [i + e for i, e in zip(ids, exts, strict=False)]
    return pd.Series(ids, index=items.index), pd.Series(files, index=items.index), renamed


def prepared(ds, report):
    """What a per-image writer walks: items, their unique relative file names (renames reported),
    subsets, and the annotations of known items in item order with ``_pos``, the item's row."""
    items = ds.items.reset_index(drop=True)
    ids, files, renamed = item_ids(items)
    report.add("items", renamed, "file name collides with another item's; written as <name>__<n>")
    subsets = items["subset"].fillna("default").replace("", "default").to_numpy()
    pos = pd.Series(np.arange(len(items)), index=items["item_id"].to_numpy())
    a = ds.annotations
    a = a.assign(_pos=a["item_id"].map(pos).to_numpy())
    a = a[a["_pos"].notna()].astype({"_pos": np.int64}).sort_values(["_pos", "ann_id"], kind="stable")
    return items, ids, files, subsets, a


def _relative_name(name, item_id) -> str:
    if name is None or name is pd.NA or (isinstance(name, float) and name != name):
        return f"item_{item_id}"
    n = str(name).replace("\\", "/")
    if "://" in n:
        n = n.split("://", 1)[1].split("?", 1)[0]
        n = posixpath.basename(n)
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or n.startswith("/") or (len(n) > 1 and n[1] == ":"):
        return posixpath.basename(n.rstrip("/")) or f"item_{item_id}"
    return "/".join(parts)


# -- PNG codecs ------------------------------------------------------------------------------
def encode_index_png(index: np.ndarray, palette: np.ndarray) -> bytes:
    """A palette PNG: pixel values are indices, ``palette`` (N, 3) gives their colours."""
    img = Image.fromarray(index.astype(np.uint8), mode="P")
    pal = np.zeros((256, 3), dtype=np.uint8)
    pal[: min(len(palette), 256)] = palette[:256]
    img.putpalette(pal.reshape(-1).tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def encode_rgb_png(index: np.ndarray, palette: np.ndarray) -> bytes:
    """An RGB PNG of ``palette[index]`` (for more than 256 classes)."""
    buf = io.BytesIO()
    Image.fromarray(palette[index].astype(np.uint8), mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def decode_color_png(data: bytes, colors: np.ndarray, where: str) -> tuple[np.ndarray, list]:
    """Map a colour-coded PNG to indices into ``colors`` (N, 3).

    Palette PNGs are mapped through their palette (256 look-ups, not one per pixel), RGB
    PNGs through their distinct colours. Returns ``(indices, unknown)``: pixels of a colour
    not in ``colors`` get -1 and their colours are listed in ``unknown``.
    """
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
        raise FormatError(where, f"not a readable PNG ({exc})") from exc
    keys = _pack(np.asarray(colors, dtype=np.int64))
    lookup = {int(k): i for i, k in reversed(list(enumerate(keys)))}
    if img.mode == "P":
        idx = np.asarray(img)
        pal = np.asarray(img.getpalette() or [], dtype=np.int64).reshape(-1, 3)
        pal = np.vstack([pal, np.zeros((max(0, 256 - len(pal)), 3), dtype=np.int64)])
        table = np.array([lookup.get(int(k), -1) for k in _pack(pal)], dtype=np.int64)
        out = table[idx]
        used = np.unique(idx)
        unknown = [tuple(int(c) for c in pal[u]) for u in used if table[u] < 0]
        return out, unknown
    if img.mode in ("L", "I", "I;16"):
        arr = np.asarray(img).astype(np.int64)  # greyscale: values are indices already
        out = np.where(arr < len(colors), arr, -1)
        return out, sorted({int(v) for v in np.unique(arr[arr >= len(colors)])})
    rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
    packed = _pack(rgb.reshape(-1, 3))
    uniq, inv = np.unique(packed, return_inverse=True)
    table = np.array([lookup.get(int(k), -1) for k in uniq], dtype=np.int64)
    out = table[inv].reshape(rgb.shape[:2])
    unknown = [((int(k) >> 16) & 255, (int(k) >> 8) & 255, int(k) & 255) for k, t in zip(uniq, table, strict=False) if t < 0]
    return out, unknown


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def masks_from_maps(cls_map: np.ndarray | None, inst_map: np.ndarray | None, label_names: list,
                    background: int | None) -> list[dict]:
    """Mask rows from a class map and/or an instance map (indices, -1 = unknown colour).

    With an instance map: one row per instance id > 0, labelled by the class most of its
    pixels have (background pixels of an instance count only if nothing else does). Without
    one: one row per class present, except the background class.
    """
    rows = []
    if inst_map is not None:
        ids = np.unique(inst_map)
        ids = ids[ids > 0]
        for k in ids:
            m = inst_map == k
            label = None
            if cls_map is not None:
                vals = cls_map[m]
                vals = vals[vals >= 0]
                if vals.size:
                    counts = np.bincount(vals)
                    if background is not None and background < len(counts) and counts.sum() > counts[background]:
                        counts[background] = 0
                    label = label_names[int(counts.argmax())]
            rows.append(_mask_row(m, label, int(k)))
    elif cls_map is not None:
        for c in np.unique(cls_map):
            if c < 0 or c == background:
                continue
            rows.append(_mask_row(cls_map == c, label_names[int(c)], None))
    return rows


def _mask_row(m: np.ndarray, label, instance: int | None) -> dict:
    ys, xs = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
    x0, x1, y0, y1 = int(xs[0]), int(xs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1
    return {"type": "mask", "label": label or "", "mask": coco_encode(m), "x": float(x0), "y": float(y0),
            "w": float(x1 - x0), "h": float(y1 - y0),
            "extra": {"instance_id": instance} if instance is not None else None, "_bitmap": m}


def to_polygon_rows(rows: list[dict], start_group: int = 1) -> tuple[list[dict], int]:
    """Replace mask rows by polygon rows (pixel-edge outlines); returns rows and hole count.

    A mask of several parts becomes several polygons sharing a ``group``.
    """
    out, holes_lost = [], 0
    group = start_group
    for r in rows:
        outers, holes = raster.mask_to_polygons(r["_bitmap"], with_holes=True)
        holes_lost += len(holes)
        shared = group if len(outers) > 1 else None
        if shared is not None:
            group += 1
        for ring in outers:
            xs, ys = ring[0::2], ring[1::2]
            out.append({"type": "polygon", "label": r["label"], "points": ring, "x": min(xs), "y": min(ys),
                        "w": max(xs) - min(xs), "h": max(ys) - min(ys), "group": shared, "extra": r["extra"]})
    return out, holes_lost


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an image from its header, or None if it cannot be read."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:  # noqa: BLE001 - unreadable media only means "size unknown"
        return None


# -- writing class/instance PNGs ------------------------------------------------------------------
def item_sizes(ds, items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Widths and heights of ``items``; missing ones are read from the media header if possible."""
    from ..core.io import open_url

    w = items["width"].to_numpy(dtype="float64", na_value=np.nan)
    h = items["height"].to_numpy(dtype="float64", na_value=np.nan)
    for i in np.nonzero(np.isnan(w) | np.isnan(h))[0]:
        url = ds.media_url(items["media"].iloc[i])
        if url is None:
            continue
        try:
            with open_url(url) as f:
                size = image_size(f.read())
        except (OSError, ValueError):
            size = None
        if size:
            w[i], h[i] = size
    return w, h


def write_masks(ds, sink, ctx, rows: pd.DataFrame, items: pd.DataFrame, ids: pd.Series, entries,
                progress=(0.5, 0.9)) -> set:
    """Paint ``rows`` of each item into ``SegmentationClass/<id>.png`` (palette = labelmap
    colours, index = label position) and ``SegmentationObject/<id>.png`` (VOC colour map,
    index = instance, one per ``group`` or else per row), in z-order, each file written once.

    Returns the item_ids that got PNGs. Rows that cannot be painted are reported.
    """
    if rows.empty:
        return set()
    names = [e[0] for e in entries]
    index_of = {n: i for i, n in enumerate(names)}
    colors = np.array([e[1] for e in entries], dtype=np.uint8)
    class_ids = rows["label"].map(index_of).fillna(0).astype(np.int64).to_numpy()
    widths, heights = item_sizes(ds, items)
    pos = pd.Series(np.arange(len(items)), index=items["item_id"].to_numpy())
    rows = rows.assign(_cls=class_ids, _pos=rows["item_id"].map(pos).to_numpy())
    rows = rows.sort_values(["_pos"], kind="stable")
    done, no_size, too_many, bad, hidden = set(), [], [], [], []
    groups = list(rows.groupby("_pos", sort=False))
    for k, (p, grp) in enumerate(groups):
        width, height = widths[p], heights[p]
        if np.isnan(width) or np.isnan(height):
            no_size.extend(grp["ann_id"].tolist())
            continue
        g = grp["group"]
        # one instance per group (CVAT merges a group's shapes into one instance), else per row
        key = np.where(g.notna(), "g" + g.astype(str), "r" + grp["ann_id"].astype(str))
        _, inst = np.unique(key, return_inverse=True)
        order_first = pd.Series(np.arange(len(key))).groupby(inst).transform("min").to_numpy()
        _, inst = np.unique(order_first, return_inverse=True)
        inst = inst + 1
        if inst.max() > 255:
            too_many.extend(grp["ann_id"].to_numpy()[inst > 255].tolist())
            inst = np.where(inst > 255, 0, inst)
        try:
            cls_map, inst_map = raster.paint(grp, int(height), int(width), grp["_cls"].to_numpy(), inst)
        except ValueError:
            bad.extend(grp["ann_id"].tolist())
            continue
        # an instance whose every pixel a later shape (higher z_order) painted over is gone
        seen = np.bincount(inst_map.ravel(), minlength=256)[inst] > 0
        hidden.extend(grp["ann_id"].to_numpy()[~seen & (inst > 0)].tolist())
        rel = ids.iloc[p]
        if len(colors) <= 256:
            sink.write_bytes(f"SegmentationClass/{rel}.png", encode_index_png(cls_map, colors))
        else:
            sink.write_bytes(f"SegmentationClass/{rel}.png", encode_rgb_png(cls_map, colors))
        sink.write_bytes(f"SegmentationObject/{rel}.png", encode_index_png(inst_map, VOC_CMAP))
        done.add(items["item_id"].iloc[p])
        if k % 200 == 0:
            ctx.step(progress[0] + (progress[1] - progress[0]) * k / max(len(groups), 1), "masks")
    ctx.report.add("annotations", no_size, "item has no known width/height, shape not rasterised")
    ctx.report.add("annotations", too_many, "more than 255 instances in one image, left out of SegmentationObject")
    ctx.report.add("annotations", bad, "mask size differs from the image size, not rasterised")
    ctx.report.add("annotations", hidden, "no pixel of it left in SegmentationObject (covered by shapes painted "
                   "over it in z_order, or smaller than a pixel)")
    return done
