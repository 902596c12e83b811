"""WiderFace 1.0 (Datumaro ``wider_face``), as CVAT exports it.

Layout: ``wider_face_split/wider_face_<subset>_bbx_gt.txt``, ``labels.txt`` (one label a line;
Datumaro's ``dataset_meta.json`` is read too) and, with images, ``WIDER_<subset>/images/
<index>--<label>/<image>``. The annotation file lists each image as ``<index>--<label>/<image>``
(``no_label/<image>`` for an untagged one), then the number of boxes, then a line per box::

    x y w h blur expression illumination occluded pose invalid [label]

(Datumaro's attribute order; ``-`` for an attribute the box does not have; the label only when
it is not ``face``). The folder's label is the item's tag. ``occluded`` ``True``/``False`` is
CVAT's occluded flag (our ``occluded`` column); other values (WIDER's 0/1/2 levels) stay an
attribute. Boxes without a label are ``face`` (Datumaro leaves them unlabelled unless ``face``
is a label). An image followed by ``0`` and WIDER's placeholder ``0 0 0 …`` line has no boxes.
"""
from __future__ import annotations

import functools
import posixpath
import re

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.media_types import IMAGE_EXTS
from ._carry import report_scores
from ._faces import Unique, attr_text, build, empty_ann_cols, meta_labels, num, under
from ._media import copy_media
from .registry import FormatSpec, register
from .yolo_common import class_list, image_size, item_names, select_rows

SPLIT_DIR = "wider_face_split"
ATTRS = ("blur", "expression", "illumination", "occluded", "pose", "invalid")
DEFAULT_LABEL = "face"
NO_LABEL = "no_label"
_SUBSET = re.compile(r"^wider_face_(.+?)_(bbx_gt|filelist)$")


def _annotation_files(source) -> dict[str, list[str]]:
    """root -> annotation files under ``<root>/wider_face_split/`` (root '' or one folder)."""
    out: dict[str, list[str]] = {}
    for f in source.glob(f"{SPLIT_DIR}/*.txt", f"*/{SPLIT_DIR}/*.txt"):
        parts = f.split("/")
        if parts[-2].lower() == SPLIT_DIR:
            out.setdefault("/".join(parts[:-2]), []).append(f)
    return out


def _is_path(line: str) -> bool:
    return ("/" in line or "\\" in line) and "." in line  # Datumaro's rule for image lines


def detect(source) -> float:
    best = 0.0
    for files in _annotation_files(source).values():
        for f in files:
            text = source.read_bytes(f).decode("utf-8", "replace")
            for line in text.splitlines():
                if line.strip():
                    if _is_path(line.strip()):
                        return 0.9
                    break
            if not text.strip() and _SUBSET.match(posixpath.splitext(posixpath.basename(f))[0]):
                best = 0.5  # our own export of a dataset without images
    return best


def _parse(text: str, where: str):
    """(images [(path, line)], box lines [(image index, line number, tokens)]) of one file."""
    lines = text.splitlines()
    images: list[tuple[str, int]] = []
    boxes: list[tuple[int, int, list[str]]] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        if not _is_path(line):
            raise FormatError(where, f"expected an image path (<folder>/<image>), got {line[:60]!r}", line=i + 1)
        images.append((line.replace("\\", "/"), i + 1))
        i += 1
        if i >= n or not lines[i].strip() or _is_path(lines[i].strip()):
            continue
        try:
            count = int(lines[i].strip())
        except ValueError:
            raise FormatError(where, f"expected the number of boxes of {line!r} or the next image path, got "
                                     f"{lines[i].strip()[:60]!r}", line=i + 1) from None
        if count < 0:
            raise FormatError(where, f"negative number of boxes {count}", line=i + 1)
        i += 1
        if count == 0 and i < n and lines[i].strip() and not _is_path(lines[i].strip()):
            i += 1  # WIDER's placeholder box line of an image without faces
            continue
        for k in range(count):
            if i + k >= n or _is_path(lines[i + k].strip()) or not lines[i + k].strip():
                raise FormatError(where, f"{line!r} announces {count} boxes, found {k}", line=i + k + 1)
            toks = lines[i + k].split()
            if len(toks) not in (4, 5, 10, 11):
                raise FormatError(where, f"expected 'x y w h [{' '.join(ATTRS)}] [label]' (4, 5, 10 or 11 "
                                         f"fields), got {len(toks)}", line=i + k + 1)
            boxes.append((len(images) - 1, i + k + 1, toks))
        i += count
    return images, boxes


def _coords(boxes, where: str) -> np.ndarray:
    try:
        return np.array([t[:4] for _, _, t in boxes], dtype=float).reshape(-1, 4)
    except ValueError:
        for _, ln, t in boxes:
            try:
                [float(v) for v in t[:4]]
            except ValueError:
                raise FormatError(where, f"x y w h must be numbers, got {' '.join(t[:4])!r}", line=ln) from None
        raise


def _labels_file(source, root: str) -> list[str] | None:
    names = meta_labels(source, root)
    if names is not None:
        return names
    rel = under(root, "labels.txt")
    if source.exists(rel):
        return [s.strip() for s in source.read_text(rel).splitlines() if s.strip()]
    return None


def _box_frame(boxes, xywh: np.ndarray, base: int) -> pd.DataFrame:
    """The box rows of one file as columns (one dict per box only for its attributes)."""
    toks = [t for _, _, t in boxes]
    attrs, occluded = [], np.zeros(len(toks), dtype=bool)
    for k, t in enumerate(toks):
        if len(t) < 10:
            attrs.append({})
            continue
        d = {a: v for a, v in zip(ATTRS, t[4:10], strict=True) if v != "-"}
        occ = d.get("occluded")
        if occ == "True" or occ == "False":
            occluded[k] = occ == "True"
            del d["occluded"]
        attrs.append(d)
    return pd.DataFrame({
        "item_id": np.fromiter((base + i for i, _, _ in boxes), dtype=np.int64, count=len(boxes)),
        "label": [t[-1] if len(t) in (5, 11) else DEFAULT_LABEL for t in toks], "type": "bbox",
        "x": xywh[:, 0], "y": xywh[:, 1], "w": xywh[:, 2], "h": xywh[:, 3], "occluded": occluded,
        "attributes": attrs})


def read(source, **options) -> Dataset:
    roots = _annotation_files(source)
    if not roots:
        raise FormatError(source.display(), f"no WiderFace annotations here: expected {SPLIT_DIR}/"
                                            "wider_face_<subset>_bbx_gt.txt")
    items, anns, labels, frames = [], [], [], []
    for root, files in sorted(roots.items()):
        labels += [n for n in (_labels_file(source, root) or []) if n not in labels]
        for f in sorted(files):
            stem = posixpath.splitext(posixpath.basename(f))[0]
            m = _SUBSET.match(stem)
            subset = m.group(1) if m else stem
            where = source.display(f)
            images, boxes = _parse(source.read_text(f), where)
            base = len(items)
            for path, _ in images:
                folder, _, rest = path.partition("/")
                tag = None
                if rest:
                    tag = folder.split("--", 1)[1] if "--" in folder else folder
                    if folder == NO_LABEL or not tag:
                        tag = None
                name = rest or path
                img = under(root, f"WIDER_{subset}/images/{path}")
                size = image_size(source, img) if source.exists(img) else None
                iid = len(items)
                items.append({"item_id": iid, "name": name, "subset": subset, "frame": iid,
                              "media": source.url_of(img) if source.exists(img) else None,
                              "width": size[0] if size else None, "height": size[1] if size else None})
                if tag is not None:
                    anns.append({"item_id": iid, "label": tag, "type": "tag", **empty_ann_cols()})
            frames.append(_box_frame(boxes, _coords(boxes, where), base))
    return build(items, anns, labels, None, source, frames=frames)


def _token(v) -> str:
    """An attribute value or label as one field of a box line: whitespace becomes '_'."""
    try:
        return _token_of(v)
    except TypeError:  # unhashable (a list): not cached
        return "_".join(attr_text(v).split()) or "-"


@functools.lru_cache(maxsize=4096, typed=True)  # the few values of a column repeat on every box
def _token_of(v) -> str:
    return "_".join(attr_text(v).split()) or "-"


def _folder_label(label: str) -> str:
    return "_".join(label.replace("/", " ").replace("\\", " ").split()) or "_"


def _box_lines(boxes: pd.DataFrame) -> list[str]:
    """``x y w h blur expression illumination occluded pose invalid [label]`` per box, built
    column by column (one list per field, not one Python object per value and field)."""
    attrs = [d if isinstance(d, dict) else {} for d in boxes["attributes"].tolist()]
    cols = [num(boxes[c]) for c in "xywh"]
    for name in ATTRS:
        if name == "occluded":
            cols.append([_token(d["occluded"]) if d.get("occluded") is not None else ("True" if o else "False")
                         for d, o in zip(attrs, boxes["occluded"].tolist(), strict=True)])
        else:
            cols.append([_token(d[name]) if d.get(name) is not None else "-" for d in attrs])
    lines = [" ".join(f) for f in zip(*cols, strict=True)]
    labels = boxes["label"].fillna("").tolist()
    return [ln if lab in ("", DEFAULT_LABEL) else f"{ln} {_token(lab)}" for ln, lab in zip(lines, labels, strict=True)]


def write(ds, sink, ctx) -> None:
    a = select_rows(ds, ctx)
    kind = a["type"].to_numpy()
    ctx.report.add_mask("annotations", a, ~np.isin(kind, ("bbox", "tag")), "WiderFace carries only boxes and tags",
                        key="ann_id")
    boxes = a[kind == "bbox"]
    tags = a[kind == "tag"]
    ctx.report.add_mask("annotations", boxes, (boxes["rotation"].fillna(0) != 0).to_numpy(),
                        "WiderFace has no rotation: written unrotated", key="ann_id")
    other_attrs = boxes["attributes"].map(lambda d: isinstance(d, dict) and bool(set(d) - set(ATTRS))).to_numpy(bool)
    ctx.report.add_mask("annotations", boxes, other_attrs,
                        f"WiderFace boxes carry only the attributes {', '.join(ATTRS)}", key="ann_id")
    report_scores(ctx.report, boxes, "WiderFace")
    level = boxes["attributes"].map(lambda d: isinstance(d, dict) and d.get("occluded") is not None).to_numpy(bool)
    ctx.report.add_mask("annotations", boxes, level & boxes["occluded"].to_numpy(bool),
                        "WiderFace has one occluded field: the occluded attribute is written, not the flag",
                        key="ann_id")
    spaced = boxes["label"].fillna("").str.contains(r"\s", regex=True).to_numpy(bool)
    ctx.report.add_mask("annotations", boxes, spaced, "a label with spaces cannot end a WiderFace box line: "
                                                      "spaces written as '_'", key="ann_id")
    labels = class_list(ds)
    for lab in [*tags["label"].tolist(), *boxes["label"].tolist()]:
        if lab and lab not in labels:
            labels.append(lab)
    if (boxes["label"].fillna("") == "").any() and DEFAULT_LABEL not in labels:
        labels.append(DEFAULT_LABEL)
    index = {n: i for i, n in enumerate(labels)}

    items = ds.items
    names = item_names(items).map(lambda n: n if posixpath.splitext(n)[1].lower() in IMAGE_EXTS else n + ".jpg")
    subsets = items["subset"].fillna("default").astype(str).replace("", "default").tolist()
    ids = items["item_id"].tolist()
    first_tag: dict = {}
    more_tags = []
    for aid, iid, lab in zip(tags["ann_id"].tolist(), tags["item_id"].tolist(), tags["label"].tolist(), strict=True):
        if iid in first_tag:
            if first_tag[iid] != lab:
                more_tags.append(aid)
        else:
            first_tag[iid] = lab
    ctx.report.add("annotations", more_tags, "WiderFace keeps one tag per image (its folder): later tags dropped")
    odd = [aid for aid, iid, lab in zip(tags["ann_id"].tolist(), tags["item_id"].tolist(), tags["label"].tolist(),
                                        strict=True) if first_tag.get(iid) == lab and _folder_label(lab) != lab]
    ctx.report.add("annotations", odd, "a WiderFace tag is a folder name: '/', '\\' and spaces written as '_'")
    by_item: dict = {}
    for iid, line in zip(boxes["item_id"].tolist(), _box_lines(boxes), strict=True):
        by_item.setdefault(iid, []).append(line)
    out: dict[str, list[str]] = {}
    copies = []
    unique = Unique()
    for iid, name, subset, media in zip(ids, names.tolist(), subsets, items["media"].tolist(), strict=True):
        tag = first_tag.get(iid)
        folder = f"{index[tag]}--{_folder_label(tag)}" if tag is not None else NO_LABEL
        stem, ext = posixpath.splitext(name)
        path = f"{folder}/{unique(subset, stem, iid)}{ext}"
        lines = out.setdefault(subset, [])
        lines.append(path)
        rows = by_item.get(iid, [])
        if rows:
            lines.append(str(len(rows)))
        lines += rows
        copies.append((iid, media, f"WIDER_{subset}/images/{path}"))
    unique.report(ctx.report, "WiderFace")
    sink.write_text("labels.txt", "\n".join(labels))
    if not out:  # no images: an empty file still says what this is, and loads as an empty dataset
        sink.write_text(f"{SPLIT_DIR}/wider_face_default_bbx_gt.txt", "")
    for subset, lines in out.items():
        sink.write_text(f"{SPLIT_DIR}/wider_face_{subset}_bbx_gt.txt", "\n".join(lines) + "\n")
    if ctx.save_images:
        copy_media(ds, sink, copies, ctx.report)


register(FormatSpec(
    name="WiderFace 1.0", aliases=("wider_face", "widerface"),
    read=read, write=write, detect=detect, shapes=("bbox", "tag"), family="cvat",
    description="WIDER Face: wider_face_split/wider_face_<subset>_bbx_gt.txt, WIDER_<subset>/images/<n>--<label>/",
))
