"""Market-1501 1.0 (Datumaro ``market1501``), as CVAT exports it.

Layout: ``images_<subset>.txt`` lists each image as ``bounding_box_<subset>/<file>`` or
``query/<file>``; with images those folders hold them. Everything is in the file name::

    <person_id>_c<camera>s<track>_<frame:06d>_<bbox:02d>[<name>].jpg

CVAT keeps these item attributes on a tag ``market-1501`` (attributes ``person_id`` (text,
e.g. ``0001``, ``-1`` for junk), ``camera_id`` (0-based: ``c1`` is 0), ``query`` (the image is
in ``query/``), and Datumaro's ``track_id``, ``frame_id``, ``bbox_id``), which is what we read
and write. The item name is the file name, or the ``<name>`` after the fields when there is
one. A folder without list files reads as Datumaro reads it: ``bounding_box_<subset>/`` gives
subset ``<subset>``, ``query/`` subset ``query``.
"""
from __future__ import annotations

import posixpath
import re

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.media_types import IMAGE_EXTS
from ._faces import build, empty_ann_cols
from ._media import copy_media
from .registry import FormatSpec, register
from .yolo_common import image_size, item_names, select_rows

TAG = "market-1501"
QUERY = "query"
BBOX_DIR = "bounding_box_"
LIST = "images_"
PATTERN = re.compile(r"^(-?\d+)_c(\d+)s(\d+)_(\d+)_(\d+)(.*)$")
ATTRS = ("person_id", "camera_id", "track_id", "frame_id", "bbox_id", "query")


def _is_image(rel: str) -> bool:
    return posixpath.splitext(rel)[1].lower() in IMAGE_EXTS


def _lists(source) -> list[str]:
    return [f for f in source.files if "/" not in f and f.startswith(LIST) and f.endswith(".txt")]


def _folder_images(source) -> dict[str, list[str]]:
    """subset -> images in ``bounding_box_<subset>/`` and ``query/`` (subset ``query``)."""
    out: dict[str, list[str]] = {}
    for f in source.files:
        top, _, rest = f.partition("/")
        if rest and _is_image(f):
            if top.startswith(BBOX_DIR) and len(top) > len(BBOX_DIR):
                out.setdefault(top[len(BBOX_DIR):], []).append(f)
            elif top == QUERY:
                out.setdefault(QUERY, []).append(f)
    return out


def detect(source) -> float:
    for f in _lists(source):
        for line in source.read_bytes(f)[:4096].decode("utf-8", "replace").splitlines()[:1]:
            top = line.strip().split("/", 1)[0]
            if top == QUERY or top.startswith(BBOX_DIR):
                return 0.8
    for files in _folder_images(source).values():
        if any(PATTERN.match(posixpath.basename(f)) for f in files):
            return 0.7
    return 0.0


def _fields(path: str) -> tuple[str, dict | None]:
    """(item name, tag attributes or None) of an image path."""
    base = posixpath.basename(path)
    stem, ext = posixpath.splitext(base)
    m = PATTERN.match(stem)
    if not m:
        return base, None
    pid, cam, track, frame, bbox, custom = m.groups()
    attrs = {"person_id": pid, "camera_id": int(cam) - 1, "track_id": int(track), "frame_id": int(frame),
             "bbox_id": int(bbox), "query": path.split("/", 1)[0] == QUERY}
    return (custom + ext if custom else base), attrs


def read(source, **options) -> Dataset:
    lists = _lists(source)
    folders = _folder_images(source)
    if not lists and not folders:
        raise FormatError(source.display(), f"no Market-1501 layout here: expected {LIST}<subset>.txt, "
                                            f"{BBOX_DIR}<subset>/ or {QUERY}/ with images")
    entries: list[tuple[str, str]] = []  # (subset, image path)
    listed: set[str] = set()
    for f in sorted(lists):
        subset = f[len(LIST):-4]
        for n, line in enumerate(source.read_text(f).splitlines(), 1):
            path = line.strip().replace("\\", "/")
            if not path:
                continue
            top = path.split("/", 1)[0]
            if "/" not in path or not (top == QUERY or top.startswith(BBOX_DIR)) or ".." in path.split("/"):
                raise FormatError(source.display(f), f"expected an image path {BBOX_DIR}<subset>/<file> or "
                                                     f"{QUERY}/<file>, got {path[:80]!r}", line=n)
            entries.append((subset, path))
            listed.add(path)
    for subset, files in sorted(folders.items()):
        entries += [(subset, f) for f in sorted(files) if f not in listed]
    items, anns = [], []
    for subset, path in entries:
        name, attrs = _fields(path)
        iid = len(items)
        there = source.exists(path)
        size = image_size(source, path) if there else None
        items.append({"item_id": iid, "name": name, "subset": subset, "frame": iid,
                      "media": source.url_of(path) if there else None,
                      "width": size[0] if size else None, "height": size[1] if size else None})
        if attrs is not None:
            anns.append({"item_id": iid, "label": TAG, "type": "tag", "attributes": attrs, **empty_ann_cols()})
    return build(items, anns, [TAG] if anns else [], {TAG: "tag"}, source)


def _int(v, default: int) -> int:
    if v is None or v == "" or (isinstance(v, float) and np.isnan(v)):
        return default
    return int(float(v))


def _bool(v) -> bool:
    return v.strip().lower() in ("true", "1", "yes") if isinstance(v, str) else bool(v)


def write(ds, sink, ctx) -> None:
    a = select_rows(ds, ctx)
    mine = ((a["type"] == "tag") & (a["label"] == TAG)).to_numpy()
    ctx.report.add_mask("annotations", a, ~mine, f"Market-1501 carries only its {TAG!r} tag (the fields of the file name)",
                        key="ann_id")
    tags = a[mine]
    dup = tags.duplicated("item_id").to_numpy()
    ctx.report.add_mask("annotations", tags, dup, f"Market-1501 holds one {TAG!r} tag per image", key="ann_id")
    tags = tags[~dup]
    other = tags["attributes"].map(lambda d: isinstance(d, dict) and bool(set(d) - set(ATTRS))).to_numpy(bool)
    ctx.report.add_mask("annotations", tags, other, f"Market-1501 file names carry only {', '.join(ATTRS)}",
                        key="ann_id")
    attrs_of = dict(zip(tags["item_id"].tolist(), tags["attributes"].tolist(), strict=True))
    items = ds.items
    names = item_names(items).tolist()
    subsets = items["subset"].fillna("default").astype(str).replace("", "default").tolist()
    used: dict[tuple, int] = {}
    renamed, same, lines, copies, taken = [], [], {}, [], set()
    for iid, name, subset, media in zip(items["item_id"].tolist(), names, subsets, items["media"].tolist(),
                                        strict=True):
        base = posixpath.basename(name)
        stem, ext = posixpath.splitext(base)
        if ext.lower() not in IMAGE_EXTS:
            stem, ext = base, ".jpg"
        attrs = attrs_of.get(iid)
        folder = f"{BBOX_DIR}{subset}"
        if isinstance(attrs, dict) and attrs.get("person_id") not in (None, ""):
            pid = str(attrs["person_id"])
            cam, track = _int(attrs.get("camera_id"), 0) + 1, _int(attrs.get("track_id"), 1)
            key = (pid, cam, track)
            frame = _int(attrs.get("frame_id"), used.get(key, -1) + 1)
            used[key] = max(used.get(key, -1), frame)
            code = f"{pid}_c{cam}s{track}_{frame:06d}_{_int(attrs.get('bbox_id'), 0):02d}"
            if PATTERN.match(stem):  # the name is itself a Market-1501 code: the tag decides
                stem = code
            elif stem[:1].isdigit():  # a digit would run into the bbox field
                renamed.append(iid)
                stem = code
            else:
                stem = code + stem
            if _bool(attrs.get("query", False)):
                folder = QUERY
        rel = f"{folder}/{stem}{ext}"
        if rel.lower() in taken:
            same.append(iid)
            continue
        taken.add(rel.lower())
        lines.setdefault(subset, []).append(rel)
        copies.append((iid, media, rel))
    ctx.report.add("items", renamed, "Market-1501 names an image by its fields; a name starting with a digit "
                                     "cannot follow them, so it is replaced")
    ctx.report.add("items", same, "Market-1501 names an image by its fields and name: another image has the same "
                                  "file name, this one is not written")
    if not lines:  # no images: an empty list still says what this is
        sink.write_text(f"{LIST}default.txt", "")
    for subset, rows in lines.items():
        sink.write_text(f"{LIST}{subset}.txt", "\n".join(rows) + "\n")
    if ctx.save_images:
        copy_media(ds, sink, copies, ctx.report)


register(FormatSpec(
    name="Market-1501 1.0", aliases=("market1501", "market_1501"),
    read=read, write=write, detect=detect, shapes=("tag",), family="cvat",
    description="Market-1501: images_<subset>.txt, bounding_box_<subset>/ and query/; fields in the file names",
))
