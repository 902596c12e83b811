"""CVAT's "ImageNet 1.0" (Datumaro ``imagenet`` / ``imagenet_txt``): image-level tags.

Two layouts, and CVAT picks one by "save images":

- with images (``imagenet``): ``<label>/<image>``, an image once in each of its labels' folders,
  an untagged one in ``no_label/``. Labels are folder paths (``a/b`` for nested folders, as
  Datumaro reads them); an image at the top carries no tag. Subsets are not kept.
- without images (``imagenet_txt``): ``<subset>.txt`` with lines ``<image> <label index>…``
  (a name with spaces is written ``"<stem>"<ext>``) and ``synsets.txt``, one label a line;
  ``images/<image>`` when images are saved.

``layout="folders"`` or ``layout="txt"`` picks one explicitly (default ``"auto"``: CVAT's
choice). Reading takes the txt layout when there are top-level ``.txt`` files, else folders;
an image found in several label folders is one item with several tags.
"""
from __future__ import annotations

import posixpath
import re

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ._carry import report_attributes, report_predictions_as_shapes
from ._media import copy_media, unique_file_names
from .registry import FormatSpec, WriteContext, register
from .yolo_layout import is_image

NO_LABEL = "no_label"
LABELS_FILE = "synsets.txt"
IMAGE_DIR = "images"
# folder names that mean another layout: splits (Ultralytics classification, KITTI's training/),
# other formats' image/mask folders (MOTS, KITTI, Cityscapes, Market-1501, VOC, MOT)
NOT_LABELS = {"train", "val", "valid", "validation", "test", "default", "training", "testing", "images", "image_2",
              "instance", "instances", "semantic", "query", "gtfine", "leftimg8bit", "imgsfine", "jpegimages",
              "segmentationclass", "segmentationobject", "img1", "masks"}
_QUOTED = re.compile(r'^"([^"]*)"(\S*)((?:\s+\S+)*)\s*$')


# == reading ===================================================================================
def _harmless(rel: str) -> bool:
    base = posixpath.basename(rel).lower()
    return base.startswith(".") or base in ("thumbs.db", "desktop.ini")


def _txt_files(source, labels_file: str) -> list[str]:
    return [f for f in source.files if "/" not in f and f.lower().endswith(".txt") and f != labels_file]


def parse_line(line: str, where: str, lineno: int) -> tuple[str, list[int]]:
    """``<image> <id>…`` or ``"<stem with spaces>"<ext> <id>…`` -> (image, label ids)."""
    if '"' in line:
        m = _QUOTED.match(line.strip())
        if m is None:
            raise FormatError(where, f'expected "<name>"<ext> <label index>…, got {line.strip()[:60]!r}',
                              line=lineno)
        image, ids = m.group(1) + m.group(2), m.group(3).split()
    else:
        image, *ids = line.split()
    try:
        values = [int(v) for v in ids]
    except ValueError:
        raise FormatError(where, f"expected '<image> <label index>…' with integer indices, got "
                                 f"{line.strip()[:60]!r}", line=lineno) from None
    if any(v < 0 for v in values):
        raise FormatError(where, f"negative label index in {line.strip()[:60]!r}", line=lineno)
    return image, values


def _parse_list(text: str, where: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Lines of a subset list -> (image per line, label-index count per line, indices flat).

    Lines are split in one pass and the indices converted by numpy; quoted names, or anything
    that fails, go through :func:`parse_line`, which names the line at fault."""
    if '"' not in text:
        split = [p for p in (ln.split() for ln in text.splitlines()) if p]
        try:
            flat = np.array([v for p in split for v in p[1:]], dtype=str).astype(np.int64)
        except (ValueError, OverflowError):
            flat = None
        if flat is not None and not (flat < 0).any():
            counts = np.fromiter((len(p) - 1 for p in split), np.int64, len(split))
            return [p[0] for p in split], counts, flat
    images, counts, flat = [], [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            image, ids = parse_line(line, where, lineno)
            images.append(image)
            counts.append(len(ids))
            flat += ids
    return images, np.asarray(counts, dtype=np.int64), np.asarray(flat, dtype=np.int64)


def _line_of(text: str, k: int) -> int:
    """1-based line number of the ``k``-th non-blank line (for an error message)."""
    seen = -1
    for lineno, line in enumerate(text.splitlines(), 1):
        seen += bool(line.strip())
        if seen == k:
            return lineno
    return 0


def _read_txt(source, labels_file: str) -> Dataset:
    lf = labels_file if source.exists(labels_file) else None
    classes = [s.strip() for s in source.read_text(lf).splitlines() if s.strip()] if lf else []
    images = {f[len(IMAGE_DIR) + 1:]: f for f in source.files if f.startswith(IMAGE_DIR + "/")}
    parsed = []
    for rel in _txt_files(source, labels_file) if source.kind != "file" else [None]:
        where = source.display(rel)
        text = source.read_text(rel)
        names, counts, flat = _parse_list(text, where)
        if lf is not None and len(flat) and flat.max() >= len(classes):
            bad = int(np.argmax(flat >= len(classes)))
            line = _line_of(text, int(np.searchsorted(np.cumsum(counts), bad, side="right")))
            raise FormatError(where, f"label index {int(flat[bad])} is not in {labels_file} ({len(classes)} labels)",
                              line=line)
        parsed.append((posixpath.splitext(rel if rel else source.name)[0], names, counts, flat))
    generated = lf is None and any(len(f) for *_, f in parsed)
    if generated:  # no label file: Datumaro's generated names
        top = max(int(f.max()) for *_, f in parsed if len(f))
        classes = [f"class-{k}" for k in range(top + 1)]
    if lf is None and not generated:
        raise FormatError(source.display(), f"no ImageNet annotations here: no {labels_file} and no "
                                            "'<image> <label index>' line")
    cols: dict[str, list] = {"name": [], "subset": [], "media": []}
    tag_items, tag_labels = [], []
    names_arr = np.asarray(classes, dtype=object)
    for subset, names, counts, flat in parsed:
        codes, uniq = pd.factorize(pd.Series(names, dtype=object))  # a name listed twice is one item
        base = len(cols["name"])
        cols["name"] += list(uniq)
        cols["subset"] += [subset] * len(uniq)
        cols["media"] += [source.url_of(images[n]) if n in images else n for n in uniq]
        tag_items.append(base + np.repeat(codes, counts))
        tag_labels.append(names_arr[flat])
    items = pd.DataFrame({"item_id": np.arange(len(cols["name"]), dtype=np.int64), **cols})
    tags = pd.DataFrame({"item_id": np.concatenate(tag_items) if tag_items else [],
                         "label": np.concatenate(tag_labels) if tag_labels else []})
    ds = _dataset(items, tags, classes)
    if source.kind == "file":
        ds.media_root = source.folder
    else:
        ds.media_root = source.url_of(IMAGE_DIR)
    if generated:
        ds.info["imagenet_labels"] = "generated (no synsets.txt)"
    return ds


def _read_folders(source) -> Dataset:
    files = [f for f in source.files if not _harmless(f)]
    for f in files:
        if not is_image(f):
            raise FormatError(source.display(f), "expected only images in <label>/<image> folders "
                                                 "(ImageNet) or <subset>.txt + synsets.txt")
    if not files or source.kind == "file":
        raise FormatError(source.display(), "no ImageNet layout here: expected <label>/<image> folders or "
                                            "<subset>.txt + synsets.txt")
    classes: list[str] = []
    items, tags, pos = [], [], {}
    for f in files:
        label, name = posixpath.split(f)
        if label not in classes and label and label != NO_LABEL:
            classes.append(label)
        if name not in pos:
            pos[name] = len(items)
            items.append({"item_id": len(items), "name": name, "subset": "default", "media": source.url_of(f)})
        if label and label != NO_LABEL:
            tags.append((pos[name], label))
    ds = _dataset(items, tags, sorted(classes))
    ds.media_root = source.url_of("")
    return ds


def _dataset(items, tags, classes: list[str]) -> Dataset:
    """``items``/``tags``: DataFrames or lists of dicts / (item_id, label) pairs."""
    ann = pd.DataFrame(tags, columns=["item_id", "label"]) if not isinstance(tags, pd.DataFrame) else tags
    ann = ann.drop_duplicates(ignore_index=True)
    if len(ann):
        ann.insert(0, "ann_id", np.arange(len(ann), dtype=np.int64))
        ann["type"] = "tag"
    items = items if isinstance(items, pd.DataFrame) else pd.DataFrame(items)
    return Dataset(items=items if len(items) else None, annotations=ann if len(ann) else None,
                   labels=pd.DataFrame({"name": classes, "type": "tag"}) if classes else None)


def read(source, layout: str = "auto", labels_file: str = LABELS_FILE, **options) -> Dataset:
    """Items and tags from ``<subset>.txt`` + ``synsets.txt``, else from ``<label>/<image>`` folders."""
    if layout not in ("auto", "txt", "folders"):
        raise ValueError(f"layout={layout!r}: expected 'auto', 'txt' or 'folders'")
    if source.kind == "file" and not source.name.lower().endswith(".txt"):
        raise FormatError(source.display(), "expected an ImageNet <subset>.txt or a folder/zip of the layout")
    is_txt = source.kind == "file" or bool(_txt_files(source, labels_file))
    if layout == "txt" or (layout == "auto" and is_txt):
        if source.kind != "file" and not _txt_files(source, labels_file):
            raise FormatError(source.display(), "no ImageNet <subset>.txt here")
        return _read_txt(source, labels_file)
    return _read_folders(source)


# == writing ===================================================================================
def write(ds: Dataset, sink, ctx: WriteContext) -> None:
    layout = ctx.options.get("layout", "auto")
    if layout not in ("auto", "txt", "folders"):
        raise ValueError(f"layout={layout!r}: expected 'auto', 'txt' or 'folders'")
    if layout == "auto":
        layout = "folders" if ctx.save_images else "txt"
    report = ctx.report
    items = ds.items.reset_index(drop=True)
    a = ds.annotations
    a = a[a["item_id"].isin(items["item_id"])]
    wrong = (a["type"] != "tag").to_numpy()
    report.add_mask("annotations", a, wrong, "ImageNet carries only tags", key="ann_id")
    a = a[~wrong]
    report_attributes(report, a, "ImageNet")
    report_predictions_as_shapes(report, a, "ImageNet")
    classes = list(dict.fromkeys(n for n in ds.labels["name"].tolist() if isinstance(n, str) and n))
    classes += [n for n in dict.fromkeys(a["label"].tolist()) if n not in set(classes)]
    pos = pd.Index(items["item_id"]).get_indexer(a["item_id"])
    tags: dict[int, list[str]] = {}
    for p, lab in zip(pos.tolist(), a["label"].tolist(), strict=True):
        lst = tags.setdefault(p, [])
        if lab not in lst:
            lst.append(lab)
    if layout == "txt":
        _write_txt(ds, items, tags, classes, sink, ctx)
    else:
        _write_folders(ds, items, tags, sink, ctx)


def _write_txt(ds, items, tags, classes, sink, ctx) -> None:
    subsets = items["subset"].fillna("default").astype(str).tolist()
    item_ids = items["item_id"].tolist()
    names, renamed = unique_file_names(items)
    ctx.report.add("items", renamed, "file name collides with another item's; written as <name>__<id>")
    index = {n: str(i) for i, n in enumerate(classes)}
    ok = ['"' not in n and "\n" not in n and "\r" not in n for n in names]
    ctx.report.add("items", [i for i, k in zip(item_ids, ok, strict=True) if not k],
                   "a name with a quote or line break cannot be an ImageNet line; item left out")
    lines: dict[str, list[str]] = {s: [] for s in dict.fromkeys(subsets)}
    for p, (n, subset, keep) in enumerate(zip(names, subsets, ok, strict=True)):
        if not keep:
            continue
        if len(n.split()) > 1 or n != n.strip():
            stem, ext = posixpath.splitext(n)
            n = f'"{stem}"{ext}'
        labs = tags.get(p)
        lines[subset].append(f"{n} {' '.join(index[lab] for lab in labs)}\n" if labs else f"{n}\n")
    for subset, text in lines.items():
        sink.write_text(f"{subset}.txt", "".join(text))
    sink.write_text(LABELS_FILE, "".join(f"{c}\n" for c in classes))
    if ctx.save_images:
        media = items["media"].tolist()
        copy_media(ds, sink, [(item_ids[p], media[p], f"{IMAGE_DIR}/{names[p]}") for p in range(len(names))
                              if ok[p]], ctx.report)


def _write_folders(ds, items, tags, sink, ctx) -> None:
    names, renamed = unique_file_names(items, given=items["name"].map(
        lambda n: posixpath.basename(str(n)) if isinstance(n, str) and n else None), flat=True)
    ctx.report.add("items", renamed, "file name collides with another item's; written as <name>__<id>")
    if items["subset"].fillna("default").astype(str).nunique() > 1:
        ctx.report.add("items", items["item_id"], "ImageNet folders do not keep subsets (all items in one tree)")
    if not ctx.save_images:
        ctx.report.add("items", items["item_id"], "the ImageNet folder layout is images in label folders: "
                                                  "nothing written without save_images=True")
        return
    item_ids, media = items["item_id"].tolist(), items["media"].tolist()
    copies = [(item_ids[p], media[p], f"{lab}/{names[p]}") for p in range(len(names))
              for lab in tags.get(p) or [NO_LABEL]]
    copy_media(ds, sink, copies, ctx.report)


# == detection =================================================================================
def detect(source) -> float:
    """txt: ``synsets.txt`` beside a ``<subset>.txt`` whose lines are ``<image> <index>…``;
    folders: nothing but images in label folders (none named like a split or another layout's
    image folder), at most 3 deep."""
    if source.kind == "file":
        return 0.0
    txts = _txt_files(source, LABELS_FILE)
    if source.exists(LABELS_FILE) and txts:
        try:
            text = source.read_text(txts[0])
            lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
            for k, ln in enumerate(lines, 1):
                parse_line(ln, txts[0], k)
        except (FormatError, OSError):
            return 0.0
        return 0.6 if lines else 0.3
    files = [f for f in source.files if not _harmless(f)]
    if not files or not any("/" in f for f in files):
        return 0.0
    for f in files:
        parts = f.split("/")
        if len(parts) > 3 or not is_image(f) or any(p.lower() in NOT_LABELS or p.lower().startswith("bounding_box_")
                                                                  for p in parts[:-1]):
            return 0.0
    return 0.2


register(FormatSpec(
    name="ImageNet 1.0", aliases=("imagenet", "imagenet_txt"),
    read=read, write=write, detect=detect, shapes=("tag",), family="cvat",
    description="ImageNet: <label>/<image> folders (with images) or <subset>.txt + synsets.txt",
))
