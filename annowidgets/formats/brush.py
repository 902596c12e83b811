"""Label Studio's BRUSH_TO_NUMPY / BRUSH_TO_PNG: one H×W uint8 file per mask region.

Layout (as the Label Studio converter writes it, so its users find what they expect)::

    task-<task>-annotation-<set>-by-<annotator>-<from_name>-<labels joined by "-">-<n>.npy|.png

``<task>`` is the item id (Label Studio task ids are our item ids), ``<set>`` the annotation
set id, the annotator keeps only letters, digits, ``@`` and ``.``, ``/`` becomes ``-``, and
``<n>`` counts files that would otherwise share a name, so nothing is overwritten. Content is
255 on the mask (or the original anti-aliased brush alpha when the row keeps Label Studio's
RLE in ``extra["rle"]`` and a brush codec is available), 0 elsewhere; PNGs are mode ``L``.

Beyond Label Studio, ``combined/<item>.png|.npy`` holds one class-index mask per item (0 is
background, later ``z_order`` wins) with ``combined/classes.json`` mapping index → label, which
is what a segmentation trainer wants. Reading accepts the per-region files (labels, task and
annotation ids from the names) and, when there are none, the combined masks.
"""
from __future__ import annotations

import gc
import io
import posixpath
import re

import numpy as np
import orjson
import pandas as pd
from PIL import Image
from pycocotools import mask as mask_utils

from ..core.dataset import Dataset
from ..core.errors import FormatError, UnsafeInputError
from ..core.io import Sink, Source
from ..core.parsing import json_error
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

NAME_RE = re.compile(
    r"^task-(?P<task>-?\d+)-annotation-(?P<set>-?\d+)-by-(?P<annotator>(?:[^\W_]|[@.])*)-(?P<rest>.+)-(?P<n>\d+)"
    r"\.(?P<ext>npy|png)$"
)
COMBINED = "combined"
NO_LABEL = "no_label"  # what Label Studio writes for a region without labels


# -- names ---------------------------------------------------------------------------------
def clean_annotator(value) -> str:
    """The annotator as Label Studio puts it in a file name: letters, digits, ``@`` and ``.`` only."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return "".join(c for c in str(value) if c.isalnum() or c in "@.")


def clean_part(value) -> str:
    """A from_name or label made safe for a flat folder: path separators become ``-``."""
    return str(value).replace("/", "-").replace("\\", "-")


def region_prefix(task, set_id, annotator, from_name, labels) -> str:
    return (f"task-{task}-annotation-{set_id}-by-{clean_annotator(annotator)}-{clean_part(from_name)}-"
            + "-".join(clean_part(lb) for lb in (labels or [NO_LABEL])))


def split_rest(rest: str, known: dict[str, str]) -> tuple[str, list[str]]:
    """Split ``<from_name>-<labels…>``; known labels (file-name form -> name) resolve the ``-`` ambiguity."""
    if known:
        for i, ch in enumerate(rest):
            if ch != "-":
                continue
            labels = _split_labels(rest[i + 1:], known)
            if labels is not None:
                return rest[:i], labels
    head, _, tail = rest.partition("-")
    return head, [tail] if tail else []


def _split_labels(s: str, known: dict[str, str]) -> list[str] | None:
    if s in known:
        return [known[s]]
    for i, ch in enumerate(s):
        if ch == "-" and s[:i] in known:
            tail = _split_labels(s[i + 1:], known)
            if tail is not None:
                return [known[s[:i]], *tail]
    return None


# -- the alpha of a brush region ----------------------------------------------------------------
def _brush_codec(names: tuple[str, ...]):
    """A function of ``annowidgets.core.brush`` (the Label Studio RLE codec) if that module exists."""
    try:
        from ..core import brush  # type: ignore[attr-defined]
    except ImportError:
        return None
    for name in names:
        fn = getattr(brush, name, None)
        if callable(fn):
            return fn
    return None


def _brush_decoder():
    return _brush_codec(("decode", "decode_rle"))


def _brush_encoder():
    return _brush_codec(("encode", "encode_rle"))


def _alpha(rle, h: int, w: int, decoder) -> np.ndarray | None:
    """Label Studio's brush alpha (H×W uint8) from its RLE, or None if it cannot be decoded."""
    if decoder is None or rle is None:
        return None
    try:
        try:
            arr = np.asarray(decoder(rle, h, w))
        except TypeError:
            arr = np.asarray(decoder(rle))
    except (ValueError, TypeError, IndexError):
        return None
    if arr.size == h * w * 4:
        arr = arr.reshape(h, w, 4)[..., 3]
    elif arr.size == h * w:
        arr = arr.reshape(h, w)
    else:
        return None
    return arr.astype(np.uint8)


def region_array(mask: np.ndarray, extra, decoder) -> np.ndarray:
    """255 on the mask, or the brush alpha where it is kept and agrees with the mask."""
    out = np.where(mask, np.uint8(255), np.uint8(0)).astype(np.uint8)
    rle = extra.get("rle") if isinstance(extra, dict) else None
    alpha = _alpha(rle, *mask.shape, decoder) if rle is not None else None
    if alpha is not None:
        soft = mask & (alpha > 0)
        out[soft] = alpha[soft]
    return out


# -- encoding files ---------------------------------------------------------------------------
def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    if arr.dtype == np.uint8:
        Image.fromarray(arr, mode="L").save(buf, format="PNG")
    else:
        Image.fromarray(arr.astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def _decode_mask(rle) -> np.ndarray:
    m = dict(rle)
    if isinstance(m.get("counts"), str):
        m["counts"] = m["counts"].encode("ascii")
    return mask_utils.decode(m).astype(bool)


# -- writing ------------------------------------------------------------------------------------
def _mask_rows(ds: Dataset, ctx: WriteContext) -> pd.DataFrame:
    a = ds.annotations
    is_mask = (a["type"] == "mask") & a["mask"].notna()
    ctx.report.add_mask("annotations", a, ~is_mask, "not a mask region; brush formats carry masks only",
                        key="ann_id")
    rows = a[is_mask].copy()
    if not len(rows):
        return rows
    # annotator and set of each row; rows without a set get fresh set ids per item, so names stay unique
    sets = ds.sets[["set_id", "annotator"]].rename(columns={"annotator": "_set_annotator"})
    rows = rows.merge(sets, on="set_id", how="left", sort=False)
    rows["annotator"] = rows["annotator"].fillna(rows["_set_annotator"])
    missing = rows["set_id"].isna()
    if missing.any():
        used = pd.concat([ds.sets["set_id"], a["set_id"]]).dropna()
        base = int(used.max()) + 1 if len(used) else 0
        codes = pd.factorize(rows.loc[missing, "item_id"])[0]
        rows.loc[missing, "set_id"] = base + codes
    rows["from_name"] = rows["from_name"].fillna("mask")
    rows["_order"] = np.arange(len(rows))
    # rows of one region (a list of brushlabels exploded) share a file, labels joined by "-"
    rid = rows["region_id"].astype(object).where(rows["region_id"].notna(),
                                                 "#" + rows["ann_id"].astype(str))
    rows["_region"] = rid
    return rows


def write(ds: Dataset, sink: Sink, ctx: WriteContext, ext: str) -> None:
    rows = _mask_rows(ds, ctx)
    decoder = _brush_decoder()
    encode = _npy_bytes if ext == "npy" else _png_bytes
    combined = ctx.options.get("combined", True)
    counts: dict[str, int] = {}
    groups = list(rows.groupby(["item_id", "set_id", "_region"], sort=False, dropna=False)) if len(rows) else []
    for i, (_, g) in enumerate(groups):
        first = g.iloc[0]
        labels = [lb for lb in g["label"].tolist() if lb]
        prefix = region_prefix(first["item_id"], first["set_id"], first["annotator"], first["from_name"], labels)
        n = counts.get(prefix, 0)
        counts[prefix] = n + 1
        mask = _decode_mask(first["mask"])
        sink.write_bytes(f"{prefix}-{n}.{ext}", encode(region_array(mask, first["extra"], decoder)))
        if i % 64 == 0:
            ctx.step(0.8 * i / max(len(groups), 1), "brush masks")
    if combined and len(rows):
        write_combined(ds, rows, sink, ctx)
    if ctx.save_images:
        items = ds.items[ds.items["item_id"].isin(rows["item_id"])] if len(rows) else ds.items.iloc[:0]
        stems = item_stems(items)
        copy_media(ds, sink, ((i, m, f"images/{stems[i]}{_media_ext(m)}")
                              for i, m in zip(items["item_id"], items["media"], strict=True)), ctx.report)


def item_stems(items: pd.DataFrame) -> dict:
    """item_id -> ``<item_id>-<name stem>``: unique even when names repeat across folders."""
    out = {}
    for item_id, name, media in zip(items["item_id"], items["name"], items["media"], strict=True):
        src = name if isinstance(name, str) and name else (media if isinstance(media, str) else "")
        stem = posixpath.splitext(posixpath.basename(src.split("?")[0]))[0]
        out[item_id] = f"{item_id}-{clean_part(stem)}" if stem else str(item_id)
    return out


def _media_ext(media) -> str:
    return posixpath.splitext(media.split("?")[0])[1] if isinstance(media, str) else ""


def class_table(ds: Dataset, rows: pd.DataFrame) -> list[str]:
    """Class names for index 1…: the dataset's label order first, then any others as met."""
    used = list(dict.fromkeys(lb for lb in rows["label"].tolist() if lb))
    known = [n for n in ds.labels["name"].tolist() if n in set(used)]
    return list(dict.fromkeys(known + used))


def write_combined(ds: Dataset, rows: pd.DataFrame, sink: Sink, ctx: WriteContext) -> None:
    """One class-index mask per item (per item and set when an item has several sets)."""
    rows = rows[rows["source"] == "annotation"]
    classes = class_table(ds, rows)
    index = {name: i + 1 for i, name in enumerate(classes)}
    dtype = np.uint8 if len(classes) < 256 else np.uint16
    stems = item_stems(ds.items)
    sets_per_item = rows.groupby("item_id")["set_id"].nunique()
    for (item_id, set_id), g in rows.groupby(["item_id", "set_id"], sort=False):
        g = g[g["label"] != ""].sort_values(["z_order", "_order"], kind="stable")
        if not len(g):
            continue
        h, w = g["mask"].iloc[0]["size"]
        canvas = np.zeros((h, w), dtype=dtype)
        wrong = []
        for ann_id, m, label in zip(g["ann_id"], g["mask"], g["label"], strict=True):
            if list(m["size"]) != [h, w]:
                wrong.append(ann_id)
                continue
            canvas[_decode_mask(m)] = index[label]
        ctx.report.add("annotations", wrong, "mask size differs from the item's other masks; "
                       "left out of the combined mask")
        stem = stems.get(item_id, str(item_id))
        if sets_per_item.get(item_id, 1) > 1:
            stem += f"-annotation-{set_id}"
        sink.write_bytes(f"{COMBINED}/{stem}.png", _png_bytes(canvas))
        sink.write_bytes(f"{COMBINED}/{stem}.npy", _npy_bytes(canvas))
    sink.write_bytes(f"{COMBINED}/classes.json",
                     orjson.dumps({"0": "background", **{str(i): n for n, i in index.items()}},
                                  option=orjson.OPT_INDENT_2))


def write_numpy(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    write(ds, sink, ctx, "npy")


def write_png(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    write(ds, sink, ctx, "png")


# -- reading ------------------------------------------------------------------------------------
def _load_array(source: Source, rel: str) -> np.ndarray:
    data = source.read_bytes(rel)
    try:
        if rel.lower().endswith(".npy"):
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            with Image.open(io.BytesIO(data)) as im:
                arr = np.asarray(im.convert("L") if im.mode not in ("L", "I;16", "I", "P", "1") else im)
    except Image.DecompressionBombError as exc:
        raise UnsafeInputError(source.display(rel), f"image too large to decode safely ({exc})") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise FormatError(source.display(rel), f"not a readable mask ({exc})") from exc
    if arr.ndim != 2:
        raise FormatError(source.display(rel), f"expected an H×W mask, got shape {arr.shape}")
    return arr


def _encode(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def read(source: Source, **options) -> Dataset:
    """Per-region files back to mask rows; the combined class-index masks when there are none."""
    matches = []
    for rel in source.files:
        if rel.startswith(f"{COMBINED}/"):
            continue
        m = NAME_RE.match(posixpath.basename(rel))
        if m:
            matches.append((rel, m))
    classes = _read_classes(source)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        if matches:
            names = [n for i, n in classes.items() if i != 0]
            return _read_regions(source, matches, {clean_part(n): n for n in names})
        if classes:
            return _read_combined(source, classes)
    finally:
        if gc_was:
            gc.enable()
    raise FormatError(source.display(), "no brush mask files named task-<id>-annotation-<id>-by-…-<n>.npy|.png "
                      "and no combined/classes.json")


def _read_classes(source: Source) -> dict[int, str]:
    rel = f"{COMBINED}/classes.json"
    if not source.exists(rel):
        return {}
    try:
        raw = orjson.loads(source.read_bytes(rel))
        return {int(k): str(v) for k, v in raw.items()}
    except (orjson.JSONDecodeError, AttributeError, ValueError) as exc:
        raise json_error(source.display(rel), exc, "expected a JSON object index -> label") from exc


def _read_regions(source: Source, matches, known: set[str]) -> Dataset:
    ann, items, sets = [], {}, {}
    encoder = _brush_encoder()
    for rel, m in sorted(matches, key=lambda t: (int(t[1]["task"]), int(t[1]["set"]), t[0])):
        arr = _load_array(source, rel)
        fg = arr > 0
        task, set_id = int(m["task"]), int(m["set"])
        from_name, labels = split_rest(m["rest"], {NO_LABEL: "", **known})
        labels = [lb for lb in labels if lb]
        h, w = arr.shape
        items.setdefault(task, {"item_id": task, "name": f"task-{task}", "width": w, "height": h, "kind": "image"})
        annotator = m["annotator"] or pd.NA
        sets.setdefault(set_id, {"set_id": set_id, "item_id": task, "annotator": annotator})
        rle = _encode(fg)
        x, y, bw, bh = mask_utils.toBbox({"size": rle["size"], "counts": rle["counts"].encode()}).tolist()
        extra = {"file": rel}
        soft = np.unique(arr[fg])
        if len(soft) > 1 or (len(soft) == 1 and soft[0] != 255):
            extra["alpha_values"] = soft.tolist()
            if encoder is not None and arr.dtype == np.uint8:  # keep the soft edge for the next export
                extra["rle"] = list(encoder(arr))
        region = f"{m['rest']}-{m['n']}@{set_id}"
        for label in labels or [""]:
            ann.append({"item_id": task, "set_id": set_id, "annotator": annotator, "label": label,
                        "type": "mask", "from_name": from_name, "region_id": region, "mask": rle,
                        "x": x, "y": y, "w": bw, "h": bh, "extra": dict(extra)})
    annotations = pd.DataFrame(ann)
    annotations.insert(0, "ann_id", np.arange(len(annotations)))
    labels = pd.DataFrame({"name": list(dict.fromkeys(annotations["label"][annotations["label"] != ""])),
                           "type": "mask"})
    return Dataset(items=pd.DataFrame(list(items.values())), sets=pd.DataFrame(list(sets.values())),
                   annotations=annotations, labels=labels)


def _read_combined(source: Source, classes: dict[int, str]) -> Dataset:
    files = sorted(f for f in source.files if f.startswith(f"{COMBINED}/") and f.lower().endswith((".png", ".npy")))
    by_stem: dict[str, str] = {}
    for rel in files:  # the .npy and .png of one item carry the same mask; read one of them
        by_stem.setdefault(posixpath.splitext(rel)[0], rel)
    ann, items = [], []
    for item_id, (stem, rel) in enumerate(by_stem.items()):
        arr = _load_array(source, rel)
        h, w = arr.shape
        items.append({"item_id": item_id, "name": posixpath.basename(stem), "width": w, "height": h, "kind": "image"})
        for value in np.unique(arr):
            if value == 0:
                continue
            label = classes.get(int(value))
            if label is None:
                raise FormatError(source.display(rel), f"class index {int(value)} is not in combined/classes.json")
            rle = _encode(arr == value)
            x, y, bw, bh = mask_utils.toBbox({"size": rle["size"], "counts": rle["counts"].encode()}).tolist()
            ann.append({"item_id": item_id, "label": label, "type": "mask", "mask": rle,
                        "x": x, "y": y, "w": bw, "h": bh, "extra": {"file": rel}})
    annotations = pd.DataFrame(ann)
    annotations.insert(0, "ann_id", np.arange(len(annotations)))
    labels = pd.DataFrame({"name": [classes[k] for k in sorted(classes) if k != 0], "type": "mask"})
    return Dataset(items=pd.DataFrame(items), annotations=annotations, labels=labels)


# -- detection ------------------------------------------------------------------------------------
def _detect(ext: str):
    def detect(source: Source) -> float:
        names = [posixpath.basename(f) for f in source.files[:2000]]
        hits = [NAME_RE.match(n) for n in names]
        if any(h and h["ext"] == ext for h in hits):
            return 0.9
        if source.exists(f"{COMBINED}/classes.json") and any(
                f.startswith(f"{COMBINED}/") and f.endswith(f".{ext}") for f in source.files):
            return 0.5
        return 0.0

    return detect


COMMON = dict(read=read, shapes=("mask",), media=("image",), family="label_studio")
register(FormatSpec(name="BRUSH_TO_NUMPY", aliases=("brush numpy", "brush npy"), write=write_numpy,
                    detect=_detect("npy"), description="Label Studio brush masks, one .npy per region, "
                    "plus combined class-index masks", **COMMON))
register(FormatSpec(name="BRUSH_TO_PNG", aliases=("brush png",), write=write_png, detect=_detect("png"),
                    description="Label Studio brush masks, one .png per region, plus combined class-index masks",
                    **COMMON))
