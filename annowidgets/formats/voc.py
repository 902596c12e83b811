"""Pascal VOC ("PASCAL VOC 1.1", as CVAT exports it through Datumaro) and Label Studio's VOC.

Layout: ``Annotations/<id>.xml`` (one per image), ``ImageSets/Main/<subset>.txt`` and
``<label>_<subset>.txt`` (tags, ``1``/``-1``), ``ImageSets/Segmentation/<subset>.txt``,
``SegmentationClass/<id>.png`` + ``SegmentationObject/<id>.png``, ``labelmap.txt``
(``name:r,g,b:parts:actions``), ``JPEGImages/`` with "save images". ``<id>`` keeps the item's
relative folder, so same basenames in different folders do not collide.

Why a writer of our own: Datumaro's VOC writer re-serialises an image's XML once per object
(quadratic); here annotations are grouped by item with pandas and every file is written once.

Rotated boxes: VOC boxes are axis-aligned. By default (``rotated="enclosing"``) the
enclosing box is written, computed in pixels, and the exact box is kept in the attribute
``aw_rotated_box`` (``x y w h rotation``), which this reader restores; the approximation is
reported. ``rotated="cvat"`` writes what CVAT writes instead: the unrotated box plus a
``rotation`` attribute, which CVAT re-imports as a rotated box.

Label Studio's VOC (spec "Label Studio VOC") is ``Annotations/<stem>.xml`` + ``images/``
with coordinates truncated by ``int()`` and a fixed ``source``/``owner`` block. We write the
same bytes by default (``coords="int"``; ``coords="float"`` keeps fractions, and truncated
rows are reported). Two deliberate differences: a rotated box becomes its enclosing box (LS
ignores the rotation; ``rotated="ls"`` copies that), and every non-cancelled annotation of a
task is written (LS keeps only the oldest).
"""
from __future__ import annotations

import posixpath
from collections import defaultdict
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from lxml import etree

from ..core import geometry
from ..core.dataset import Dataset
from ..core.errors import FormatError, UnsafeInputError
from ..core.gcpause import gc_paused
from ..core.io import Sink, Source
from . import _voc_common as vc
from ._carry import report_attributes
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

MARKERS = ("Annotations", "ImageSets", "SegmentationClass", "SegmentationObject", "JPEGImages")
BUILTIN = {"pose", "truncated", "difficult"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)


# == reading ===================================================================================
def find_root(files: list[str]) -> str:
    """The folder (prefix ending in '/', or '') holding the VOC tree inside the input."""
    best = None
    for f in files:
        parts = f.split("/")
        for i, p in enumerate(parts[:-1]):
            if p in MARKERS:
                prefix = "/".join(parts[:i]) + ("/" if i else "")
                if best is None or len(prefix) < len(best):
                    best = prefix
                break
        if f.split("/")[-1] == "labelmap.txt":
            prefix = f[: -len("labelmap.txt")]
            if best is None or len(prefix) < len(best):
                best = prefix
    return best or ""


def parse_xml(data: bytes, where: str):
    """Parse one annotation file safely: no DTD, no entities, no network."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise FormatError(where, f"not well-formed XML: {exc.msg}", line=exc.lineno) from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeInputError(where, "XML with a DOCTYPE/ENTITY declaration refused", element="!DOCTYPE")
    if root.tag != "annotation":
        raise FormatError(where, f"expected the root element <annotation>, found <{root.tag}>",
                          line=root.sourceline, element=root.tag)
    return root


def _num(el, tag: str, where: str, parent: str, required: bool = True) -> float:
    child = el.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise FormatError(where, f"missing <{tag}>", line=el.sourceline, element=parent)
        return np.nan
    try:
        return float(child.text)
    except ValueError:
        raise FormatError(where, f"<{tag}> is {child.text!r}, expected a number", line=child.sourceline,
                          element=parent) from None


def _attr_value(text: str | None):
    if text is None:
        return ""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    return text


_OBJ_COLS = ("key", "label", "x0", "y0", "x1", "y1", "attributes", "occluded", "extra", "parent", "group",
             "rotation", "track_id", "keyframe", "score")


class _Objects:
    """Columns of annotation rows, appended to while parsing (no object per row kept)."""

    def __init__(self):
        self.cols = {k: [] for k in _OBJ_COLS}
        self._appends = [self.cols[k].append for k in _OBJ_COLS]

    def add(self, *values):
        for append, v in zip(self._appends, values, strict=True):
            append(v)


_FLAGS = {"1": True, "0": False, "-1": False, "true": True, "false": False, "": False, "yes": True, "no": False}
_COORDS = ("xmin", "ymin", "xmax", "ymax")


def _flag_text(child, where: str) -> bool:
    t = (child.text or "").strip()
    v = _FLAGS.get(t, _FLAGS.get(t.lower()))
    if v is None:
        raise FormatError(where, f"<{child.tag}> is {child.text!r}, expected 0 or 1", line=child.sourceline,
                          element=child.tag)
    return v


def _bndbox(bb, where: str) -> tuple:
    """xmin, ymin, xmax, ymax of a <bndbox>, in one pass over its children."""
    vals = {}
    for c in bb:
        vals[c.tag] = c
    out = []
    for tag in _COORDS:
        c = vals.get(tag)
        if c is None or not (c.text or "").strip():
            raise FormatError(where, f"missing <{tag}>", line=bb.sourceline, element="bndbox")
        try:
            out.append(float(c.text))
        except ValueError:
            raise FormatError(where, f"<{tag}> is {c.text!r}, expected a number", line=c.sourceline,
                              element="bndbox") from None
    return out


def _parse_annotation(root, where: str, key: int, objs: _Objects, actions_of: dict) -> dict:
    """Item fields of one XML and its objects into ``objs``; returns the item's fields."""
    item: dict = {"extra": {}}
    for child in root:
        tag = child.tag
        if tag == "filename":
            item["filename"] = (child.text or "").strip()
        elif tag == "folder":
            item["extra"]["folder"] = child.text or ""
        elif tag == "size":
            item["width"] = _num(child, "width", where, "size", required=False)
            item["height"] = _num(child, "height", where, "size", required=False)
            d = child.findtext("depth")
            if d and d.strip():
                item["extra"]["depth"] = int(float(d))
        elif tag == "segmented":
            item["extra"]["segmented"] = (child.text or "0").strip()
        elif tag in ("source", "owner"):
            item["extra"][tag] = {c.tag: c.text or "" for c in child}
        elif tag == "object":
            _parse_object(child, where, key, objs, actions_of)
        elif tag == "path":
            item["extra"]["path"] = child.text or ""
    if not item["extra"]:
        item["extra"] = None
    return item


def _parse_object(el, where: str, key: int, objs: _Objects, actions_of: dict) -> None:
    """One <object> (and its <part>s) into ``objs``, visiting each child element once."""
    name = box = None
    attrs: dict = {"truncated": False, "difficult": False}  # VOC's defaults when the element is absent
    extra: dict = {}
    occluded = False
    parts = []
    for child in el:
        tag = child.tag
        if tag == "name":
            name = (child.text or "").strip()
        elif tag == "bndbox":
            box = child
        elif tag == "truncated" or tag == "difficult":
            attrs[tag] = _flag_text(child, where)
        elif tag == "occluded":
            occluded = _flag_text(child, where)
        elif tag == "pose":
            attrs["pose"] = child.text or ""
        elif tag == "part":
            parts.append(child)
        elif tag == "point":
            extra["point"] = [_num(child, "x", where, "point"), _num(child, "y", where, "point")]
        elif tag == "actions":
            for a in child:
                if isinstance(a.tag, str):
                    attrs[a.tag] = _flag_text(a, where)
        elif tag == "attributes":
            for a in child.iter("attribute"):
                an = a.findtext("name")
                if an is None:
                    raise FormatError(where, "missing <name>", line=a.sourceline, element="attribute")
                attrs[an] = _attr_value(a.findtext("value"))
    if name is None:
        raise FormatError(where, "missing <name>", line=el.sourceline, element="object")
    if box is None:
        raise FormatError(where, "missing <bndbox>", line=el.sourceline, element="object")
    x0, y0, x1, y1 = _bndbox(box, where)
    rotation, track_id, keyframe, score = 0.0, None, False, np.nan
    if len(attrs) > 2 or name in actions_of:
        for a in actions_of.get(name, ()):
            attrs.setdefault(a, False)
        # what CVAT (and our writer) keep in the attribute block that has a column of its own
        if "rotation" in attrs:
            rotation = _float_or(attrs.pop("rotation"), 0.0)
        if "track_id" in attrs:
            t = _float_or(attrs.pop("track_id"), np.nan)
            track_id = None if np.isnan(t) else int(t)
            kf = attrs.pop("keyframe", False)
            keyframe = kf is True or str(kf).lower() in ("1", "true")
        if "score" in attrs:
            score = _float_or(attrs.pop("score"), np.nan)
        exact = attrs.pop("aw_rotated_box", None)
        if exact is not None:
            vals = [_float_or(v, np.nan) for v in str(exact).replace(",", " ").split()]
            if len(vals) == 5 and not np.isnan(vals).any():
                x0, y0, x1, y1 = vals[0], vals[1], vals[0] + vals[2], vals[1] + vals[3]
                rotation = vals[4]
        for k in ("group", "z_order"):
            if k in attrs:
                extra[k] = attrs.pop(k)
    obj_index = len(objs.cols["key"])
    group = obj_index + 1 if parts else None  # unique in the dataset: the owner's row index + 1
    objs.add(key, name, x0, y0, x1, y1, attrs, occluded, extra or None, None, group, rotation, track_id,
             keyframe, score)
    for part in parts:
        pname = (part.findtext("name") or "").strip()
        bb = part.find("bndbox")
        if bb is None:
            raise FormatError(where, "missing <bndbox>", line=part.sourceline, element="part")
        px0, py0, px1, py1 = _bndbox(bb, where)
        objs.add(key, pname, px0, py0, px1, py1, None, False, {"voc_part": True}, obj_index, group, 0.0, None,
                 False, np.nan)


def _float_or(v, default):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def _subset_lists(source: Source, root: str, label_names: list[str]):
    """``{subset: [ids in order]}`` and ``{(label, subset): {id: present}}`` from ImageSets."""
    base = f"{root}ImageSets/"
    files = [f for f in source.files if f.startswith(base) and f.lower().endswith(".txt")]
    main = {posixpath.splitext(f[len(base) + 5:])[0]: f for f in files if f.startswith(base + "Main/")}
    stems = set(main)
    labels = sorted(label_names, key=len, reverse=True)
    class_files, subset_files = {}, {}
    for stem, f in main.items():
        hit = next((lab for lab in labels if stem.startswith(lab + "_") and len(stem) > len(lab) + 1), None)
        if hit is not None:
            class_files[(hit, stem[len(hit) + 1:])] = f
        else:
            subset_files.setdefault(stem, []).append(f)
    for task in ("Segmentation", "Layout", "Action"):
        for f in files:
            if f.startswith(f"{base}{task}/") and "/" not in f[len(base) + len(task) + 1:]:
                stem = posixpath.splitext(f[len(base) + len(task) + 1:])[0]
                if task == "Action" and "_" in stem and stem.split("_", 1)[1] in stems:
                    continue  # <action>_<subset>.txt
                subset_files.setdefault(stem, []).append(f)
    subsets: dict[str, list] = {}
    for subset, fs in subset_files.items():
        seen: dict = {}
        for f in fs:
            for line in source.read_text(f).splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith('"'):
                    end = line.find('"', 1)
                    if end < 0:
                        raise FormatError(source.display(f), "unbalanced quote in an item name")
                    name = line[1:end]
                else:
                    name = line.split()[0]
                seen.setdefault(name, None)
        subsets[subset] = list(seen)
    for (_, subset) in class_files:
        subsets.setdefault(subset, [])
    tags: dict = {}
    for (label, subset), f in class_files.items():
        for lineno, line in enumerate(source.read_text(f).splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or parts[1] not in ("1", "-1", "0"):
                raise FormatError(source.display(f), f"expected '<image> 1|-1|0', got {line!r}", line=lineno)
            if parts[1] == "1":
                tags.setdefault((parts[0], subset), []).append(label)
            if parts[0] not in subsets[subset]:
                subsets[subset].append(parts[0])
    return subsets, tags


def read_voc(source: Source, to_polygons: bool = False, **options) -> Dataset:
    """Read a Pascal VOC tree (folder or zip; a flat set of VOC XML files also works).

    Boxes come from ``Annotations/``, tags from the classification lists, masks (one per
    instance) from ``SegmentationObject``/``SegmentationClass``, or polygons with
    ``to_polygons=True``.
    """
    root = find_root(source.files)
    lm_rel = f"{root}labelmap.txt"
    if source.exists(lm_rel):
        entries = vc.parse_labelmap(source.read_text(lm_rel), source.display(lm_rel))
    else:
        entries = vc.default_labelmap()
    label_names = [e[0] for e in entries]
    actions_of = {e[0]: e[3] for e in entries if e[3]}
    ann_dir = f"{root}Annotations/"
    xmls = [f for f in source.files if f.startswith(ann_dir) and f.lower().endswith(".xml")]
    if not xmls and not any(f.startswith(root + m + "/") for f in source.files for m in MARKERS[1:]):
        ann_dir = root
        xmls = [f for f in source.files if f.lower().endswith(".xml") and f.startswith(root)]
        if not xmls and not source.exists(lm_rel) and not (
                source.kind == "folder" and source.fs.isdir(posixpath.join(source.root, ann_dir + "Annotations"))):
            raise FormatError(source.display(), "no Pascal VOC annotations here: expected Annotations/*.xml, "
                                                "ImageSets/ lists, SegmentationClass/SegmentationObject PNGs or "
                                                "labelmap.txt")
    subsets, tags = _subset_lists(source, root, label_names)

    objs = _Objects()
    parsed: dict[str, dict] = {}
    with gc_paused():
        for rel in xmls:
            ident = rel[len(ann_dir):-4]
            where = source.display(rel)
            parsed[ident] = _parse_annotation(parse_xml(source.read_bytes(rel), where), where, len(parsed), objs,
                                              actions_of)
    ident_of_key = list(parsed)

    # images: JPEGImages/ (VOC) or images/ (Label Studio), by id and by file name
    images = {}
    for f in source.files:
        for d in (f"{root}JPEGImages/", f"{root}images/"):
            if f.startswith(d) and posixpath.splitext(f)[1].lower() in vc.IMAGE_EXTS:
                images.setdefault(f[len(d):], f)
                images.setdefault(posixpath.splitext(f[len(d):])[0], f)

    seg_cls = {f[len(root) + 18:-4]: f for f in source.files
               if f.startswith(f"{root}SegmentationClass/") and f.lower().endswith(".png")}
    seg_obj = {f[len(root) + 19:-4]: f for f in source.files
               if f.startswith(f"{root}SegmentationObject/") and f.lower().endswith(".png")}

    # items: every (id, subset) pair the lists name, plus files no list names ("default")
    listed = {i for ids in subsets.values() for i in ids}
    pairs = [(i, s) for s, ids in subsets.items() for i in ids]
    rest = [i for i in dict.fromkeys([*parsed, *seg_cls, *seg_obj]) if i not in listed]
    pairs += [(i, "default") for i in rest]

    item_rows = defaultdict(list)
    for n, (ident, subset) in enumerate(pairs):
        info = parsed.get(ident, {})
        fname = info.get("filename") or ""
        if fname and "/" not in fname and "/" in ident:
            fname = posixpath.join(posixpath.dirname(ident), fname)
        img = images.get(fname) or images.get(ident)
        if not fname:
            fname = img[img.find("/", len(root)) + 1:] if img else ident + ".jpg"
            if img and img.startswith(f"{root}JPEGImages/"):
                fname = img[len(root) + len("JPEGImages/"):]
            elif img:
                fname = img[len(root) + len("images/"):]
        width, height = info.get("width", np.nan), info.get("height", np.nan)
        if (width is None or np.isnan(width) or height is None or np.isnan(height)):
            probe = img or seg_cls.get(ident) or seg_obj.get(ident)
            size = vc.image_size(source.read_bytes(probe)) if probe else None
            if size:
                width, height = size
        item_rows["item_id"].append(n)
        item_rows["name"].append(fname)
        item_rows["subset"].append(subset)
        item_rows["media"].append(source.url_of(img) if img else fname)
        item_rows["width"].append(width)
        item_rows["height"].append(height)
        item_rows["extra"].append(info.get("extra"))
        item_rows["_ident"].append(ident)
    items = pd.DataFrame(item_rows, columns=["item_id", "name", "subset", "media", "width", "height", "extra",
                                             "_ident"])
    for c in ("width", "height"):
        items[c] = pd.to_numeric(items[c], errors="coerce").round().astype("Int64")

    ann = _annotation_table(objs, ident_of_key, items)
    loss: list = []
    extra_rows = _tag_rows(tags, items) + _mask_rows(source, items, seg_cls, seg_obj, entries, to_polygons, loss)
    if extra_rows:
        more = pd.DataFrame(extra_rows)
        ann = pd.concat([ann, more], ignore_index=True) if len(ann) else more
        for c in ("attributes", "extra", "points", "mask"):
            if c in ann:
                ann[c] = ann[c].astype(object).where(ann[c].notna(), None)
    ann["ann_id"] = np.arange(len(ann))
    if "_parent_row" in ann:  # box rows come first, so a row's position is its ann_id
        ann["parent_id"] = ann["_parent_row"]
        ann = ann.drop(columns=["_parent_row"])
    labels = vc.labelmap_to_labels(entries)
    used = set(ann["label"]) if len(ann) else set()
    missing = [n for n in used if n and n not in set(labels["name"])]
    if missing:
        labels = pd.concat([labels, pd.DataFrame({"name": sorted(missing)})], ignore_index=True)
    ds = Dataset(items=items.drop(columns=["_ident"]), annotations=ann, labels=labels)
    for item_ids, reason in loss:
        ds.loss.add("items", item_ids, reason)
    return ds


def _annotation_table(objs: _Objects, ident_of_key: list, items: pd.DataFrame) -> pd.DataFrame:
    c = objs.cols
    if not c.get("key"):
        return pd.DataFrame()
    df = pd.DataFrame({
        "_key": np.asarray(c["key"], dtype=np.int64), "label": c["label"],
        "x0": np.asarray(c["x0"], dtype=np.float64), "y0": np.asarray(c["y0"], dtype=np.float64),
        "x1": np.asarray(c["x1"], dtype=np.float64), "y1": np.asarray(c["y1"], dtype=np.float64),
        "attributes": c["attributes"], "occluded": c["occluded"], "extra": c["extra"],
        "_parent": c["parent"], "group": c["group"], "rotation": np.asarray(c["rotation"], dtype=np.float64),
        "track_id": c["track_id"], "keyframe": c["keyframe"], "score": np.asarray(c["score"], dtype=np.float64),
    })
    df["_row"] = np.arange(len(df))
    df["_ident"] = np.asarray(ident_of_key, dtype=object)[df["_key"].to_numpy()]
    # an XML shared by an id listed in several subsets gives its objects to each of them
    df = df.merge(items[["item_id", "_ident"]], on="_ident", how="inner", sort=False)
    df = df.sort_values(["item_id", "_row"], kind="stable").reset_index(drop=True)
    df["type"] = "bbox"
    df["x"], df["y"] = df["x0"], df["y0"]
    df["w"], df["h"] = df["x1"] - df["x0"], df["y1"] - df["y0"]
    df["source"] = np.where(df["score"].notna(), "prediction", "annotation")
    # parts: parent is the owning object's row within the same item
    pos = pd.Series(np.arange(len(df)), index=pd.MultiIndex.from_arrays([df["item_id"], df["_row"]]))
    has_parent = df["_parent"].notna()
    parent_row = pd.Series(np.nan, index=df.index)
    if has_parent.any():
        keys = pd.MultiIndex.from_arrays([df.loc[has_parent, "item_id"], df.loc[has_parent, "_parent"].astype(int)])
        parent_row[has_parent] = pos.reindex(keys).to_numpy()
    df["_parent_row"] = parent_row.astype("Int64")
    grp = df["group"]
    if grp.notna().any():  # renumber groups per (item, object) so copies in two subsets stay apart
        k = df["item_id"].astype(str) + ":" + grp.astype(str)
        df["group"] = np.where(grp.notna(), pd.factorize(k)[0] + 1, np.nan)
        df["group"] = df["group"].astype("Int64")
    return df.drop(columns=["_key", "x0", "y0", "x1", "y1", "_parent", "_row", "_ident"])


def _tag_rows(tags: dict, items: pd.DataFrame) -> list[dict]:
    if not tags:
        return []
    lookup = {(i, s): n for n, i, s in zip(items["item_id"], items["_ident"], items["subset"], strict=False)}
    rows = []
    for (ident, subset), labels in tags.items():
        item_id = lookup.get((ident, subset))
        for lab in labels:
            rows.append({"item_id": item_id, "label": lab, "type": "tag"})
    return rows


def _mask_rows(source, items, seg_cls, seg_obj, entries, to_polygons, loss: list) -> list[dict]:
    if not seg_cls and not seg_obj:
        return []
    names = [e[0] for e in entries]
    colors = np.array([e[1] if e[1] is not None else (-1, -1, -1) for e in entries], dtype=np.int64)
    background = names.index(vc.BACKGROUND) if vc.BACKGROUND in names else None
    rows, unknown_items, hole_items = [], defaultdict(list), []
    group = 1
    cache: dict = {}
    for item_id, ident in zip(items["item_id"], items["_ident"], strict=False):
        if ident not in seg_cls and ident not in seg_obj:
            continue
        if ident not in cache:
            cls_map = inst_map = None
            if ident in seg_cls:
                rel = seg_cls[ident]
                cls_map, unk = vc.decode_color_png(source.read_bytes(rel), colors, source.display(rel))
                for u in unk:
                    unknown_items[u].append(item_id)
            if ident in seg_obj:
                rel = seg_obj[ident]
                inst_map, _ = vc.decode_color_png(source.read_bytes(rel), vc.VOC_CMAP, source.display(rel))
                inst_map = np.where(inst_map < 0, 0, inst_map)
            if cls_map is not None and inst_map is not None and cls_map.shape != inst_map.shape:
                raise FormatError(source.display(seg_obj[ident]), f"size {inst_map.shape[::-1]} differs from "
                                  f"SegmentationClass {cls_map.shape[::-1]}")
            cache[ident] = vc.masks_from_maps(cls_map, inst_map, names, background)
        found = cache[ident]
        if to_polygons:
            found, holes = vc.to_polygon_rows(found, group)
            group += len(found)
            if holes:
                hole_items.append(item_id)
        for r in found:
            r = {k: v for k, v in r.items() if k != "_bitmap"}
            r["item_id"] = item_id
            rows.append(r)
    for color, ids in unknown_items.items():
        loss.append((ids, f"pixels of colour {color} (not in labelmap.txt) read as unlabelled"))
    if hole_items:
        loss.append((hole_items, "mask holes cannot be polygons; holes filled (to_polygons=True)"))
    return rows


_LABELME = ("imagesize", "object/polygon", "object/segm", "source/sourceImage", "source/sourceAnnotation")


def xml_evidence(source: Source, xmls: list[str], sample: int = 10) -> str:
    """What a few annotation XMLs look like: "voc" (an ``<object>`` with ``<bndbox>``),
    "plain" (VOC's ``<size>``/``<filename>`` but no box to prove it), or "no" (another
    root element, or LabelMe's ``<imagesize>``/``<polygon>``/``<segm>``: LabelMe 3.0 also
    keeps ``Annotations/*.xml`` with an ``<annotation>`` root)."""
    found = "no"
    for rel in sorted(xmls)[:sample]:
        try:
            el = etree.fromstring(source.read_bytes(rel), _PARSER)
        except etree.XMLSyntaxError:
            continue  # the reader reports it with its line
        if el.tag != "annotation" or any(el.find(t) is not None for t in _LABELME):
            return "no"
        if el.find("object/bndbox") is not None:
            found = "voc"
        elif found == "no" and (el.find("size") is not None or el.find("filename") is not None):
            found = "plain"
    return found


def detect_voc(source: Source) -> float:
    root = find_root(source.files)
    xmls = [f for f in source.files if f.startswith(f"{root}Annotations/") and f.lower().endswith(".xml")]
    has_sets = any(f.startswith(f"{root}ImageSets/") for f in source.files)
    has_jpeg = any(f.startswith(f"{root}JPEGImages/") for f in source.files)
    if xmls:
        kind = xml_evidence(source, xmls)
        if kind == "no" or (kind == "plain" and not (has_sets or has_jpeg)):
            return 0.0
        if has_sets:
            return 0.95
        return 0.8 if has_jpeg else 0.6
    if has_sets and any(f.startswith(f"{root}Segmentation") for f in source.files):
        return 0.5  # also a Segmentation mask export; that spec says 0.9
    return 0.0


# == writing ===================================================================================
def _fmt(values: np.ndarray) -> list[str]:
    """Shortest round-trip text of each number; whole numbers without '.0'."""
    v = np.asarray(values, dtype=np.float64)
    out = v.astype(str).astype(object)
    whole = np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2**53)
    out[whole] = v[whole].astype(np.int64).astype(str)
    return out.tolist()


def _attr_text(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def _tagname(s: str) -> str:
    s = s.replace(" ", "_")
    return "_" + s if s[:1].isdigit() else s


def _boxes(a: pd.DataFrame, rotated: str):
    """xmin, ymin, xmax, ymax of box rows; rotated ones enclosed (or unrotated for 'cvat'/'ls')."""
    x, y, w, h, r = (a[c].to_numpy(dtype=np.float64) for c in ("x", "y", "w", "h", "rotation"))
    r = np.nan_to_num(r)
    rot = np.mod(r, 360.0) != 0
    if rotated == "enclosing" and rot.any():
        ex, ey, ew, eh = geometry.enclosing_box(x[rot], y[rot], w[rot], h[rot], r[rot])
        x, y, w, h = x.copy(), y.copy(), w.copy(), h.copy()
        x[rot], y[rot], w[rot], h[rot] = ex, ey, ew, eh
    elif rotated == "ls" and rot.any():
        tx, ty = geometry.centre_to_topleft(x[rot], y[rot], w[rot], h[rot], r[rot])
        x, y = x.copy(), y.copy()
        x[rot], y[rot] = tx, ty
    return x, y, x + w, y + h, rot


def _object_xml(a: pd.DataFrame, parts_of: dict, actions_of: dict, rotated: str, report) -> list[str]:
    """One ``<object>`` snippet per main box row of ``a`` (sorted by item); parts nested."""
    x0, y0, x1, y1, rot = _boxes(a, rotated)
    sx0, sy0, sx1, sy1 = _fmt(x0), _fmt(y0), _fmt(x1), _fmt(y1)
    labels = a["label"].to_numpy()
    esc = {lab: escape(lab) for lab in pd.unique(labels)}
    attrs = a["attributes"].to_numpy()
    occl = a["occluded"].to_numpy()
    extra = a["extra"].to_numpy()
    track = a["track_id"].to_numpy(dtype="float64", na_value=np.nan)
    keyf = a["keyframe"].to_numpy()
    score = a["score"].to_numpy(dtype=np.float64)
    is_part = a["_is_part"].to_numpy()
    parent = a["_parent_pos"].to_numpy()
    rx, ry, rw, rh, rr = (a[c].to_numpy(dtype=np.float64) for c in ("x", "y", "w", "h", "rotation"))
    part_children = defaultdict(list)
    for i in np.nonzero(is_part)[0]:
        part_children[int(parent[i])].append(i)
    # fast path: rows that are a bare box with at most the VOC flags (most detection data)
    plain = ~(is_part | rot | ~np.isnan(track) | ~np.isnan(score))
    plain &= np.fromiter((not e for e in extra), dtype=bool, count=len(a))
    plain &= np.fromiter((not at or at.keys() <= _FLAG_KEYS for at in attrs), dtype=bool, count=len(a))
    plain &= ~np.isin(labels, list(actions_of))
    if part_children:
        plain[list(part_children)] = False
    out: list = [None] * len(a)
    for i in np.nonzero(plain)[0].tolist():
        at = attrs[i] or _NO_ATTRS
        out[i] = (f"  <object>\n    <name>{esc[labels[i]]}</name>\n"
                  f"    <truncated>{int(_truthy(at.get('truncated')))}</truncated>\n"
                  f"    <occluded>{int(bool(occl[i]))}</occluded>\n"
                  f"    <difficult>{int(_truthy(at.get('difficult')))}</difficult>\n"
                  f"    <bndbox>\n      <xmin>{sx0[i]}</xmin>\n      <ymin>{sy0[i]}</ymin>\n"
                  f"      <xmax>{sx1[i]}</xmax>\n      <ymax>{sy1[i]}</ymax>\n    </bndbox>\n  </object>\n")
    for i in np.nonzero(~plain & ~is_part)[0].tolist():
        at = attrs[i] if isinstance(attrs[i], dict) else {}
        lab = labels[i]
        s = [f"  <object>\n    <name>{esc[lab]}</name>\n"]
        if "pose" in at:
            s.append(f"    <pose>{escape(str(at['pose']))}</pose>\n")
        s.append(f"    <truncated>{int(_truthy(at.get('truncated')))}</truncated>\n"
                 f"    <occluded>{int(bool(occl[i]))}</occluded>\n"
                 f"    <difficult>{int(_truthy(at.get('difficult')))}</difficult>\n"
                 f"    <bndbox>\n      <xmin>{sx0[i]}</xmin>\n      <ymin>{sy0[i]}</ymin>\n"
                 f"      <xmax>{sx1[i]}</xmax>\n      <ymax>{sy1[i]}</ymax>\n    </bndbox>\n")
        ex = extra[i] if isinstance(extra[i], dict) else {}
        if "point" in ex:
            px, py = ex["point"]
            s.append(f"    <point>\n      <x>{_fmt([px])[0]}</x>\n      <y>{_fmt([py])[0]}</y>\n    </point>\n")
        for j in part_children.get(i, ()):
            s.append(f"    <part>\n      <name>{escape(labels[j])}</name>\n      <bndbox>\n"
                     f"        <xmin>{sx0[j]}</xmin>\n        <ymin>{sy0[j]}</ymin>\n"
                     f"        <xmax>{sx1[j]}</xmax>\n        <ymax>{sy1[j]}</ymax>\n      </bndbox>\n    </part>\n")
        acts = actions_of.get(lab, ())
        if acts:
            s.append("    <actions>\n")
            for act in acts:
                s.append(f"      <{_tagname(act)}>{int(_truthy(at.get(act)))}</{_tagname(act)}>\n")
            s.append("    </actions>\n")
        other = {k: v for k, v in at.items() if k not in BUILTIN and k not in acts}
        if rot[i]:
            if rotated == "cvat":
                other["rotation"] = rr[i]
            elif rotated == "enclosing":
                other["aw_rotated_box"] = " ".join(_fmt([rx[i], ry[i], rw[i], rh[i], rr[i]]))
        if not np.isnan(track[i]):
            other["track_id"] = int(track[i])
            other["keyframe"] = bool(keyf[i])
        if not np.isnan(score[i]):
            other["score"] = score[i]
        if other:
            s.append("    <attributes>\n")
            for k, v in other.items():
                s.append(f"      <attribute>\n        <name>{escape(str(k))}</name>\n"
                         f"        <value>{escape(_attr_text(v))}</value>\n      </attribute>\n")
            s.append("    </attributes>\n")
        s.append("  </object>\n")
        out[i] = "".join(s)
    return out


_FLAG_KEYS = frozenset(("truncated", "difficult"))
_NO_ATTRS: dict = {}


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes")
    return bool(v) if v is not None and v is not pd.NA else False


def _header(filename: str, width, height, extra: dict | None, segmented: bool) -> str:
    ex = extra if isinstance(extra, dict) else {}
    src = ex.get("source") if isinstance(ex.get("source"), dict) else {
        "database": "Unknown", "annotation": "Unknown", "image": "Unknown"}
    s = [f"<annotation>\n  <folder>{escape(str(ex.get('folder', '')))}</folder>\n"
         f"  <filename>{escape(filename)}</filename>\n  <source>\n"]
    s += [f"    <{_tagname(k)}>{escape(str(v))}</{_tagname(k)}>\n" for k, v in src.items()]
    s.append("  </source>\n")
    if width is not None and height is not None:
        s.append(f"  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n"
                 f"    <depth>{ex.get('depth', 3)}</depth>\n  </size>\n")
    s.append(f"  <segmented>{int(segmented)}</segmented>\n")
    return "".join(s)


def _prepare_items(ds: Dataset, report):
    items = ds.items.reset_index(drop=True)
    ids, files, renamed = vc.item_ids(items)
    report.add("items", renamed, "file name collides with another item's; written as <name>__<n> "
               "(the original name is not kept)")
    return items, ids, files


def _ann_with_pos(ds: Dataset, items: pd.DataFrame) -> pd.DataFrame:
    a = ds.annotations
    pos = pd.Series(np.arange(len(items)), index=items["item_id"].to_numpy())
    a = a.assign(_pos=a["item_id"].map(pos).to_numpy())
    return a[a["_pos"].notna()].astype({"_pos": np.int64}).sort_values(["_pos", "ann_id"], kind="stable")


def write_voc(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    """Write every item's XML once, the subset and class lists, the labelmap, PNGs for masks.

    Options: ``segmentation`` (default False) also rasterises polygons and ellipses into
    the PNGs (masks always go there); ``rotated`` ("enclosing" | "cvat").
    """
    rotated = ctx.options.get("rotated", "enclosing")
    if rotated not in ("enclosing", "cvat"):
        raise ValueError(f"rotated={rotated!r}: expected 'enclosing' or 'cvat'")
    seg_all = bool(ctx.options.get("segmentation", False))
    report = ctx.report
    items, ids, files = _prepare_items(ds, report)
    a = _ann_with_pos(ds, items)
    entries = vc.labelmap_from_dataset(ds, extra_names=pd.unique(a["label"]).tolist())
    parts_of = {e[0]: e[2] for e in entries if e[2]}
    actions_of = {e[0]: e[3] for e in entries if e[3]}

    kind = a["type"].to_numpy()
    boxes = a[kind == "bbox"]
    boxes = _mark_parts(boxes, a, parts_of)
    seg_types = ("mask", "polygon", "ellipse") if seg_all else ("mask",)
    seg_rows = a[np.isin(kind, seg_types)]
    tags = a[kind == "tag"]
    other = a[~np.isin(kind, ("bbox", "tag", *seg_types))]
    if len(other):
        for t, g in other.groupby("type"):
            hint = " (segmentation=True rasterises them)" if t in ("polygon", "ellipse") else ""
            report.add("annotations", g["ann_id"], f"{t} cannot be a VOC detection object{hint}")
    _report_unkept(boxes, report, rotated)
    ctx.step(0.05, "objects")

    snippets = _object_xml(boxes, parts_of, actions_of, rotated, report)
    ctx.step(0.3, "masks")
    segmented = vc.write_masks(ds, sink, ctx, seg_rows, items, ids, entries, progress=(0.3, 0.6)) \
        if len(seg_rows) else set()
    if len(seg_rows):
        report.add("annotations", seg_rows["ann_id"][seg_rows["attributes"].map(bool, na_action="ignore")
                                                      .fillna(False).astype(bool)],
                   "attributes of masks are not carried by the segmentation PNGs")

    # group the snippets by item (rows are sorted by item position): one write per file
    pos = boxes["_pos"].to_numpy()
    starts = np.searchsorted(pos, np.arange(len(items) + 1))
    widths = items["width"].to_numpy(dtype="float64", na_value=np.nan)
    heights = items["height"].to_numpy(dtype="float64", na_value=np.nan)
    item_ids = items["item_id"].to_numpy()
    extras = items["extra"].to_numpy()
    n = len(items)
    id_list, file_list = ids.tolist(), files.tolist()
    for p in range(n):
        w = None if np.isnan(widths[p]) else int(widths[p])
        h = None if np.isnan(heights[p]) else int(heights[p])
        body = [sn for sn in snippets[starts[p]:starts[p + 1]] if sn is not None]
        text = _header(file_list[p], w, h, extras[p], item_ids[p] in segmented) + "".join(body) + "</annotation>\n"
        sink.write_bytes(f"Annotations/{id_list[p]}.xml", text.encode("utf-8"))
        if p % 2000 == 0:
            ctx.step(0.6 + 0.3 * p / max(n, 1), "annotations")

    _write_lists(sink, items, ids, tags, entries, segmented, parts_of)
    sink.write_text("labelmap.txt", vc.format_labelmap(entries))
    if ctx.save_images:
        copy_media(ds, sink, zip(item_ids, items["media"], ("JPEGImages/" + files).tolist(), strict=False), report)


def _mark_parts(boxes: pd.DataFrame, a: pd.DataFrame, parts_of: dict) -> pd.DataFrame:
    """Flag box rows that are parts (``<part>`` of another box): by parent_id, else by group."""
    pos_of = pd.Series(np.arange(len(boxes)), index=boxes["ann_id"].to_numpy())
    parent_pos = boxes["parent_id"].map(pos_of)
    part_labels = {p for ps in parts_of.values() for p in ps}
    is_part = parent_pos.notna().to_numpy()
    # CVAT/Datumaro link a part to its object by group: a part label sharing a group with a box
    cand = boxes["label"].isin(part_labels).to_numpy() & ~is_part & boxes["group"].notna().to_numpy()
    if cand.any():
        main = boxes[~boxes["label"].isin(part_labels) & boxes["group"].notna()]
        first = pd.Series(np.arange(len(boxes)), index=boxes.index)[main.index]
        owner = pd.Series(first.to_numpy(), index=pd.MultiIndex.from_arrays([main["_pos"], main["group"]]))
        owner = owner[~owner.index.duplicated()]
        keys = pd.MultiIndex.from_arrays([boxes["_pos"][cand], boxes["group"][cand]])
        found = owner.reindex(keys).to_numpy()
        idx = np.nonzero(cand)[0]
        ok = ~np.isnan(found.astype(float))
        parent_pos = parent_pos.to_numpy(dtype="float64", na_value=np.nan)
        parent_pos[idx[ok]] = found[ok]
        is_part[idx[ok]] = True
    else:
        parent_pos = parent_pos.to_numpy(dtype="float64", na_value=np.nan)
    return boxes.assign(_is_part=is_part, _parent_pos=parent_pos)


def _report_unkept(boxes: pd.DataFrame, report, rotated: str) -> None:
    rot = (np.mod(np.nan_to_num(boxes["rotation"].to_numpy(dtype=np.float64)), 360.0) != 0)
    if rotated == "enclosing":
        report.add("annotations", boxes["ann_id"][rot], "rotated box written as its axis-aligned enclosing box "
                   "(exact box kept in the attribute aw_rotated_box)")
    grouped = boxes["group"].notna().to_numpy() & ~boxes["_is_part"].to_numpy()
    has_parts = set(boxes["_parent_pos"].dropna().astype(int))
    grouped &= ~np.isin(np.arange(len(boxes)), list(has_parts))
    report.add("annotations", boxes["ann_id"][grouped], "group is not carried by VOC")
    pred = (boxes["source"] == "prediction").to_numpy() & boxes["score"].isna().to_numpy()
    report.add("annotations", boxes["ann_id"][pred], "prediction without a score: VOC cannot mark it as one")


def _write_lists(sink, items, ids, tags, entries, segmented, parts_of) -> None:
    """ImageSets/Main/<subset>.txt (every item), <label>_<subset>.txt, Segmentation lists."""
    subsets = items["subset"].fillna("default").to_numpy()
    tag_sets = tags.groupby("_pos")["label"].agg(set).to_dict() if len(tags) else {}
    part_names = {p for ps in parts_of.values() for p in ps}
    class_labels = [e[0] for e in entries if e[0] not in part_names]
    item_ids = items["item_id"].to_numpy()
    id_list = ids.tolist()
    for subset in pd.unique(subsets):
        sel = np.nonzero(subsets == subset)[0].tolist()
        sink.write_text(f"ImageSets/Main/{subset}.txt", "".join(f"{id_list[p]}\n" for p in sel))
        tagged = [p for p in sel if p in tag_sets]
        if tagged:
            for lab in class_labels:
                lines = "".join(f"{id_list[p]} {' 1' if lab in tag_sets[p] else '-1'}\n" for p in tagged)
                sink.write_text(f"ImageSets/Main/{lab}_{subset}.txt", lines)
        seg = [id_list[p] for p in sel if item_ids[p] in segmented]
        if seg:
            sink.write_text(f"ImageSets/Segmentation/{subset}.txt", "".join(f"{n}\n" for n in seg))


register(FormatSpec(
    name="PASCAL VOC 1.1", aliases=("voc", "pascal_voc", "pascal voc"), read=read_voc, write=write_voc,
    detect=detect_voc, shapes=("bbox", "tag", "mask"), family="cvat",
    description="Annotations/*.xml boxes, ImageSets lists (tags), Segmentation PNGs, labelmap.txt",
))


# == Label Studio's VOC layout ==================================================================
_LS_OBJECT = ("<object>\n<name>{name}</name>\n<pose>Unspecified</pose>\n<truncated>0</truncated>\n"
              "<difficult>0</difficult>\n<bndbox>\n<xmin>{x0}</xmin>\n<ymin>{y0}</ymin>\n<xmax>{x1}</xmax>\n"
              "<ymax>{y1}</ymax>\n</bndbox>\n</object>\n")


def write_ls_voc(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    """Label Studio's VOC: ``Annotations/<stem>.xml`` per annotated image (+ ``images/``).

    Options: ``coords`` ("int" as LS truncates, or "float"), ``rotated`` ("enclosing" or
    "ls" = LS's unrotated box at its own top-left corner). Only boxes of non-cancelled
    annotation sets are written, all of them (LS keeps the oldest annotation only).
    """
    coords = ctx.options.get("coords", "int")
    rotated = ctx.options.get("rotated", "enclosing")
    if coords not in ("int", "float") or rotated not in ("enclosing", "ls"):
        raise ValueError("coords must be 'int' or 'float', rotated 'enclosing' or 'ls'")
    report = ctx.report
    items, ids, files = _prepare_items(ds, report)
    a = _ann_with_pos(ds, items)
    cancelled = set(ds.sets.loc[ds.sets["cancelled"], "set_id"]) if len(ds.sets) else set()
    in_cancelled = a["set_id"].isin(cancelled).to_numpy() if cancelled else np.zeros(len(a), bool)
    report.add("annotations", a["ann_id"][in_cancelled], "in a cancelled annotation (Label Studio skips those)")
    a = a[~in_cancelled]
    pred = (a["source"] == "prediction").to_numpy()
    report.add("annotations", a["ann_id"][pred], "predictions are not part of Label Studio's VOC export")
    a = a[~pred]
    boxes = a[(a["type"] == "bbox").to_numpy()]
    other = a[(a["type"] != "bbox").to_numpy()]
    for t, g in other.groupby("type"):
        report.add("annotations", g["ann_id"], f"{t} is not carried by Label Studio's VOC (rectangles only)")
    report_attributes(report, boxes, "Label Studio's VOC")
    x0, y0, x1, y1, rot = _boxes(boxes, rotated)
    ids_b = boxes["ann_id"]
    if rotated == "enclosing":
        report.add("annotations", ids_b[rot], "rotated box written as its axis-aligned enclosing box")
    else:
        report.add("annotations", ids_b[rot], "rotation dropped as Label Studio does (unrotated box)")
    if coords == "int":
        vals = np.stack([x0, y0, x1, y1])
        frac = (vals != np.trunc(vals)).any(axis=0)
        report.add("annotations", ids_b[frac], "coordinates truncated to whole pixels as Label Studio does "
                   "(coords='float' keeps them)")
        x0, y0, x1, y1 = (np.trunc(v) for v in (x0, y0, x1, y1))
    sx0, sy0, sx1, sy1 = _fmt(x0), _fmt(y0), _fmt(x1), _fmt(y1)
    names = [escape(n) for n in boxes["label"]]
    objs = [_LS_OBJECT.format(name=n, x0=a_, y0=b_, x1=c_, y1=d_)
            for n, a_, b_, c_, d_ in zip(names, sx0, sy0, sx1, sy1, strict=True)]
    annotator = {}
    if len(ds.sets):
        annotator = ds.sets.dropna(subset=["annotator"]).groupby("item_id")["annotator"].first().to_dict()
    pos = boxes["_pos"].to_numpy()
    starts = np.searchsorted(pos, np.arange(len(items) + 1))
    widths = items["width"].to_numpy(dtype="float64", na_value=np.nan)
    heights = items["height"].to_numpy(dtype="float64", na_value=np.nan)
    item_ids = items["item_id"].to_numpy()
    written = []
    for p in range(len(items)):
        if starts[p] == starts[p + 1]:
            continue  # LS writes no file for an image without boxes
        ex = items["extra"].iloc[p] if isinstance(items["extra"].iloc[p], dict) else {}
        who = annotator.get(item_ids[p], "")
        w = "" if np.isnan(widths[p]) else int(widths[p])
        h = "" if np.isnan(heights[p]) else int(heights[p])
        fname = posixpath.basename(files.iloc[p])
        head = ('<?xml version="1.0" encoding="utf-8"?>\n<annotation>\n<folder>images</folder>\n'
                f"<filename>{escape(fname)}</filename>\n<source>\n<database>MyDatabase</database>\n"
                "<annotation>COCO2017</annotation>\n<image>flickr</image>\n<flickrid>NULL</flickrid>\n"
                f"<annotator>{escape(str(who))}</annotator>\n</source>\n<owner>\n<flickrid>NULL</flickrid>\n"
                f"<name>Label Studio</name>\n</owner>\n<size>\n<width>{w}</width>\n<height>{h}</height>\n"
                f"<depth>{ex.get('depth', 3)}</depth>\n</size>\n<segmented>0</segmented>\n")
        body = "".join(objs[starts[p]:starts[p + 1]])
        sink.write_bytes(f"Annotations/{ids.iloc[p]}.xml", (head + body + "</annotation>\n").encode("utf-8"))
        written.append(p)
    if ctx.save_images:
        copy_media(ds, sink, ((item_ids[p], items["media"].iloc[p], f"images/{files.iloc[p]}") for p in written),
                   report)


def detect_ls_voc(source: Source) -> float:
    root = find_root(source.files)
    if any(f.startswith(f"{root}ImageSets/") or f.startswith(f"{root}JPEGImages/") for f in source.files):
        return 0.0
    xmls = [f for f in source.files if f.startswith(f"{root}Annotations/") and f.endswith(".xml")]
    if not xmls or not any(f.startswith(f"{root}images/") for f in source.files):
        return 0.0
    return 0.65 if xml_evidence(source, xmls) != "no" else 0.0


register(FormatSpec(
    name="Label Studio VOC", aliases=("ls_voc", "label_studio_voc", "VOC (Label Studio)"), read=read_voc,
    write=write_ls_voc, detect=detect_ls_voc, shapes=("bbox",), family="label_studio",
    description="Label Studio's Pascal VOC: Annotations/<image>.xml + images/, whole-pixel boxes",
))
