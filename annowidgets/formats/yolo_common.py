"""Shared parts of the YOLO family: label-file parsing, line writing, file keys and image sizes.

Every YOLO flavour stores one text file per image with one object per line, coordinates
normalised to the image size. Parsing is done for *all* label files of an input at once:
the lines are split in one pass, the numbers converted by numpy in one call, and the
per-format readers then pick columns by the number of fields on each line. Errors name
the file and the line.

Label files are keyed by the item's relative name (``a/img.jpg`` -> ``a/img.txt``), never
by its bare basename, so equal basenames in different folders do not collide. Names that
are URLs or absolute paths contribute only their basename; a key that still repeats
within a subset gets ``__<item_id>`` appended (deterministic, documented in the README).
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd

from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from ..core.io import Source, open_url
from ..core.parsing import json_error

#: Our side file with each item's name and size, so an export without images loads back in
#: pixels. Trainers ignore it; pass ``image_info=False`` to the writer to leave it out.
IMAGE_INFO = "image_info.json"


# -- parsing ------------------------------------------------------------------------------
@dataclass
class Lines:
    """The non-empty lines of many label files, as flat numpy columns.

    ``file[i]`` indexes ``rels``; ``line[i]`` is the 1-based line number; the fields of line
    ``i`` are ``values[offsets[i]:offsets[i + 1]]`` (``n[i]`` of them).
    """

    rels: list[str]
    displays: list[str]
    file: np.ndarray
    line: np.ndarray
    n: np.ndarray
    offsets: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.n)

    def error(self, i: int, message: str) -> FormatError:
        return FormatError(self.displays[int(self.file[i])], message, line=int(self.line[i]))

    def fixed(self, sel: np.ndarray, width: int) -> np.ndarray:
        """Fields of the selected lines (all with >= ``width`` fields) as an (M, width) array."""
        idx = self.offsets[:-1][sel][:, None] + np.arange(width)
        return self.values[idx]

    def ragged(self, sel: np.ndarray, skip: int = 1) -> list[list[float]]:
        """Fields after the first ``skip`` of each selected line, one list per line."""
        starts = self.offsets[:-1][sel] + skip
        ends = self.offsets[1:][sel]
        vals = self.values
        return [vals[s:e].tolist() for s, e in zip(starts.tolist(), ends.tolist(), strict=False)]

    def class_ids(self, n_classes: int, sel: np.ndarray | None = None) -> np.ndarray:
        """The first field of each (selected) line as a class index in ``0..n_classes-1``."""
        idx = np.flatnonzero(sel) if sel is not None else np.arange(len(self))
        cls = self.values[self.offsets[:-1][idx]]
        bad = (cls != np.floor(cls)) | (cls < 0) | (cls >= n_classes)
        if bad.any():
            i = idx[np.argmax(bad)]
            c = self.values[self.offsets[i]]
            shown = int(c) if c == int(c) else c
            raise self.error(i, f"class id {shown} out of range: the class list has {n_classes} "
                                f"entries (0..{n_classes - 1})")
        return cls.astype(np.int64)

    def require(self, ok: np.ndarray, expected: str) -> None:
        """Raise for the first line where ``ok`` is False, saying what was expected."""
        if not ok.all():
            i = int(np.argmin(ok))
            raise self.error(i, f"{int(self.n[i])} fields; expected {expected}")


def parse(source: Source, rels: list[str]) -> Lines:
    """Read and parse the label files ``rels`` of ``source`` in one numpy pass."""
    with gc_paused():
        texts = [source.read_text(r) for r in rels]
        all_lines: list[str] = []
        per_file = np.zeros(len(texts), dtype=np.int64)
        for i, t in enumerate(texts):
            ls = t.splitlines()
            all_lines.extend(ls)
            per_file[i] = len(ls)
        del texts
        counts = np.fromiter(map(len, map(str.split, all_lines)), dtype=np.int64, count=len(all_lines))
        tokens = " ".join(all_lines).split()
        del all_lines
        displays = [source.display(r) for r in rels]
        fidx = np.repeat(np.arange(len(rels), dtype=np.int64), per_file)
        first = np.repeat(np.cumsum(per_file) - per_file, per_file)
        lineno = np.arange(len(fidx), dtype=np.int64) - first + 1
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        try:
            values = np.array(tokens, dtype=np.float64) if tokens else np.zeros(0)
        except ValueError:
            values = None
        if values is None or not np.isfinite(values).all():
            bad = _first_bad(tokens)
            i = int(np.searchsorted(offsets, bad, side="right") - 1)
            raise FormatError(displays[fidx[i]], f"field {bad - offsets[i] + 1} is {tokens[bad]!r}; "
                              f"expected a finite number", line=int(lineno[i]))
        keep = counts > 0
        return Lines(list(rels), displays, fidx[keep], lineno[keep], counts[keep],
                     np.append(offsets[:-1][keep], offsets[-1]), values)


def _first_bad(tokens: list[str]) -> int:
    for i, t in enumerate(tokens):
        try:
            if not np.isfinite(float(t)):
                return i
        except ValueError:
            return i
    return 0


# -- writing ------------------------------------------------------------------------------
def format_rows(cls: np.ndarray, vals: np.ndarray, tail: np.ndarray | None = None) -> list[str]:
    """``cls v0 v1 … [tail]`` per row; floats as ``%.10g`` (exact for LS-style short numbers)."""
    n, k = vals.shape if vals.ndim == 2 else (len(vals), 0)
    if n == 0:
        return []
    fmt = "%d" + " %.10g" * k + (" %d" if tail is not None else "")
    cols = [np.asarray(cls, dtype=np.int64)] + [vals[:, j] for j in range(k)]
    if tail is not None:
        cols.append(np.asarray(tail, dtype=np.int64))
    rows = zip(*[c.tolist() for c in cols], strict=False)
    return [fmt % r for r in rows]


def format_ragged(cls: np.ndarray, lists: list) -> list[str]:
    """``cls v0 v1 …`` for rows of different lengths (polygons)."""
    return [f"{c} " + " ".join(f"{v:.10g}" for v in p) for c, p in zip(np.asarray(cls).tolist(), lists, strict=False)]


def join_files(keys: np.ndarray, lines: list[str], all_keys) -> dict[str, str]:
    """Group lines by file key into file texts (every key of ``all_keys`` gets a file, maybe empty)."""
    out = {k: "" for k in all_keys}
    if not lines:
        return out
    keys = np.asarray(keys, dtype=object)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    arr = np.asarray(lines, dtype=object)[order]
    cut = np.flatnonzero(sk[1:] != sk[:-1]) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(sk)]])
    for s, e in zip(starts.tolist(), ends.tolist(), strict=False):
        out[sk[s]] = "\n".join(arr[s:e].tolist()) + "\n"
    return out


# -- keys, names, sizes ----------------------------------------------------------------------
def _clean_rel(name: str) -> str:
    if not name:
        return ""
    if "://" in name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        name = posixpath.basename(name.split("?")[0].replace("\\", "/"))
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts)


def item_names(items: pd.DataFrame) -> pd.Series:
    """A relative file name per item: ``items.name``, else the media basename, else ``item_<id>``."""
    names = items["name"].fillna("").astype(str).map(_clean_rel)
    media = items["media"].fillna("").astype(str).map(_clean_rel)
    names = names.where(names != "", media)
    fallback = "item_" + items["item_id"].astype(str)
    return names.where(names != "", fallback)


def item_keys(items: pd.DataFrame, names: pd.Series, group: pd.Series | None = None) -> pd.Series:
    """Label-file key (relative path without extension) per item, unique within ``group``."""
    stems = names.map(lambda n: posixpath.splitext(n)[0] or n)
    g = group if group is not None else pd.Series("", index=items.index)
    dup = pd.DataFrame({"g": g.to_numpy(), "k": stems.str.lower().to_numpy()}).duplicated(keep="first").to_numpy()
    if dup.any():
        stems = stems.copy()
        stems[dup] = stems[dup] + "__" + items.loc[dup, "item_id"].astype(str)
    return stems


def image_size(source: Source, rel: str) -> tuple[int, int] | None:
    """(width, height) from an image file's header (PIL reads only the header)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with source.open(rel) as f, Image.open(f) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def media_size(url: str | None) -> tuple[int, int] | None:
    """(width, height) of media at ``url`` from its header, or None."""
    if not url:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with open_url(url, "rb") as f, Image.open(f) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def export_sizes(ds, items: pd.DataFrame, need: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Width and height per item (float, NaN if unknown); reads image headers where needed."""
    w = items["width"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    h = items["height"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    miss = np.flatnonzero(need & (np.isnan(w) | np.isnan(h) | (w <= 0) | (h <= 0)))
    media = items["media"].to_numpy(dtype=object)
    for i in miss.tolist():
        m = media[i]
        size = media_size(ds.media_url(None if m is pd.NA else m))
        if size:
            w[i], h[i] = size
    return w, h


def read_image_info(source: Source) -> dict[str, tuple[str, int | None, int | None]]:
    """Our side file: label rel -> (item name, width, height)."""
    rels = source.glob(IMAGE_INFO)
    if not rels:
        return {}
    try:
        data = orjson.loads(source.read_bytes(rels[0]))
        return {r["label"]: (r["name"], r.get("width"), r.get("height")) for r in data["items"]}
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise json_error(source.display(rels[0]), exc, "not a valid image info file") from exc


def image_info_bytes(label_rels, names, widths, heights) -> bytes:
    rows = [{"label": r, "name": n, "width": None if w != w else int(w), "height": None if h != h else int(h)}
            for r, n, w, h in zip(label_rels, names, widths, heights, strict=False)]
    return orjson.dumps({"version": 1, "items": rows}, option=orjson.OPT_INDENT_2)


def resolve_sizes(source: Source, items: dict, used: np.ndarray, options: dict) -> tuple[np.ndarray, np.ndarray]:
    """Sizes for the items being read: side file / options / image headers, else FormatError.

    ``items`` holds lists ``label`` (label rel), ``image`` (image rel or None), ``width``,
    ``height``. ``used`` marks items that have annotation lines (only they need a size).
    Options: ``image_size=(w, h)`` for all items, ``image_sizes={name or stem: (w, h)}``.
    """
    n = len(items["label"])
    w = np.array([np.nan if v is None else v for v in items["width"]], dtype=float)
    h = np.array([np.nan if v is None else v for v in items["height"]], dtype=float)
    per = options.get("image_sizes") or {}
    allsize = options.get("image_size")
    for i in range(n):
        if not (np.isnan(w[i]) or np.isnan(h[i])):
            continue
        name = items["name"][i]
        size = per.get(name) or per.get(posixpath.splitext(name)[0]) if per else None
        if size is None and items["image"][i] is not None:
            size = image_size(source, items["image"][i])
        if size is None and allsize is not None:
            size = allsize
        if size is not None:
            w[i], h[i] = size
    bad = used & (np.isnan(w) | np.isnan(h))
    if bad.any():
        i = int(np.argmax(bad))
        what = items["image"][i] or items["label"][i]
        raise FormatError(source.display(what), "image size unknown: no readable image next to the labels and no "
                          "image_info.json; pass image_size=(w, h) or image_sizes={name: (w, h)}")
    return w, h


def class_list(ds, sort: bool = False, types: tuple[str, ...] | None = None) -> list[str]:
    """Class names for export: labels table order (CVAT) or sorted (Label Studio), plus unknowns."""
    lab = ds.labels
    if types is not None and len(lab):
        lab = lab[lab["type"].isin(types)]
    names = [n for n, p in zip(lab["name"].tolist(), lab["parent"].tolist(), strict=False) if p is pd.NA or p is None or p != p]
    seen = dict.fromkeys(n for n in names if n)
    return sorted(seen) if sort else list(seen)


def select_rows(ds, ctx) -> pd.DataFrame:
    """Annotation rows to write: by default annotations, not predictions or cancelled sets (reported)."""
    a = ds.annotations
    keep = np.ones(len(a), dtype=bool)
    if not ctx.options.get("include_predictions", False):
        pred = (a["source"] == "prediction").to_numpy()
        ctx.report.add_mask("annotations", a, pred, "predictions are not written (pass include_predictions=True)",
                            key="ann_id")
        keep &= ~pred
    if len(ds.sets) and a["set_id"].notna().any():
        cancelled = set(ds.sets.loc[ds.sets["cancelled"], "set_id"].tolist())
        if cancelled:
            c = a["set_id"].isin(cancelled).to_numpy() & keep
            ctx.report.add_mask("annotations", a, c, "rows of cancelled annotation sets are not written",
                                key="ann_id")
            keep &= ~c
    return a[keep]


def ellipse_polygons(df: pd.DataFrame, n: int = 32) -> list[list[float]]:
    """Ellipses (x, y, w, h, rotation about the centre) as n-point polygons in pixels."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cx = (df["x"] + df["w"] / 2).to_numpy()[:, None]
    cy = (df["y"] + df["h"] / 2).to_numpy()[:, None]
    rx = (df["w"] / 2).to_numpy()[:, None]
    ry = (df["h"] / 2).to_numpy()[:, None]
    r = np.deg2rad(df["rotation"].to_numpy())[:, None]
    ex, ey = rx * np.cos(t), ry * np.sin(t)
    px = cx + ex * np.cos(r) - ey * np.sin(r)
    py = cy + ex * np.sin(r) + ey * np.cos(r)
    return np.stack([px, py], axis=-1).reshape(len(df), -1).tolist()
