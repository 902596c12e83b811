"""LabelMe 3.0 (CVAT's "LabelMe 3.0", Datumaro's ``label_me``): one XML per image.

Layout: ``Annotations/<folder>/<stem>.xml`` with ``<annotation><filename>…<folder>…
<imagesize><nrows><ncols>`` and one ``<object>`` per shape: ``<name>``, ``<deleted>``,
``<occluded>yes|no``, ``<attributes>`` (``a=1, b="x", flag`` with ``\\,`` ``\\=`` ``\\"``
``\\\\`` escapes), ``<parts><hasparts>ids</hasparts><ispartof>id</ispartof>`` (groups), and
``<polygon><pt><x><y>…`` (a box is a 4-point polygon with ``<type>bounding_box</type>``) or
``<segm><mask>file.png</mask>`` (the PNG in ``Masks/<folder>/``). ``Images/<folder>/`` holds
the images with "save images". ``<folder>`` is the subset.

Import: polygons, boxes and masks (``load(..., to_polygons=True)`` gives polygons instead, as
CVAT's import does); deleted objects skipped; an attribute ``rotation`` on a box becomes its rotation
(CVAT writes rotated boxes that way); a group per tree of ``hasparts`` links; the polygon's
``<username>`` and the object's ``<date>`` go to ``extra``.

Export: boxes (rotated ones unrotated + ``rotation`` attribute, as CVAT does), polygons and
masks (``Masks/<folder>/<stem>_mask_<id>.png``, painted as Datumaro paints them). Coordinates
are written exactly (Datumaro writes ``%.2f``). Other shapes, tracks, scores are reported.
"""
from __future__ import annotations

import io
import posixpath
import re
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from PIL import Image

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ..core.masks import coco_decode, coco_encode
from . import _voc_common as vc
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register
from .voc import parse_xml
from .yolo_common import select_rows

MASK_COLOR = np.array([[0, 0, 0, 0], [255, 203, 0, 153]], dtype=np.uint8)


# == attributes ================================================================================
def parse_attributes(text: str | None) -> dict:
    """``name=value, flag, …`` with backslash escapes; values typed as Datumaro types them
    (``true``/``false`` bools, ``"…"`` strings, numbers that print back the same); a bare name
    is ``True``."""
    out: dict = {}
    if not text or not text.strip():
        return out
    # characters as (char, escaped): an escaped ',' or '=' separates nothing
    chars = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            chars.append((text[i + 1], True))
            i += 2
        else:
            chars.append((text[i], False))
            i += 1
    part: list = []
    parts = []
    for c in chars:
        if c == (",", False):
            parts.append(part)
            part = []
        else:
            part.append(c)
    parts.append(part)
    for p in parts:
        while p and p[0][0].isspace() and not p[0][1]:
            p = p[1:]
        while p and p[-1][0].isspace() and not p[-1][1]:
            p = p[:-1]
        if not p:
            continue
        eq = next((k for k, c in enumerate(p) if c == ("=", False)), None)
        if eq is None:
            out[_plain(p)] = True
        else:
            out[_plain(p[:eq])] = _typed(p[eq + 1:])
    return out


def _plain(chars) -> str:
    return "".join(c for c, _ in chars)


def _typed(chars):
    text = _plain(chars)
    if any(e for _, e in chars):  # escapes mean a string
        return text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if len(text) > 1 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    for t in (int, float):
        try:
            v = t(text)
        except ValueError:
            continue
        if str(v) == text:
            return v
    return text


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("=", "\\=").replace('"', '\\"').replace(",", "\\,")


def format_attributes(attrs: dict) -> str:
    out = []
    for k, v in attrs.items():
        if isinstance(v, (bool, np.bool_)):
            t = "true" if v else "false"
        elif isinstance(v, (int, np.integer)):
            t = str(int(v))
        elif isinstance(v, (float, np.floating)):
            t = repr(float(v))
        else:
            s = str(v)
            t = _esc(s)
            if _typed([(c, False) for c in s]) != s:  # would read back as a number or bool: escape it
                t = '"' + t + '"' if not s.startswith('"') else t
        out.append(f"{_esc(str(k))}={t}")
    return ", ".join(out)


# == reading ===================================================================================
def _root(files: list[str]) -> str:
    for f in files:
        if f.startswith("Annotations/") or f.startswith("Masks/") or f.startswith("Images/"):
            return ""
    for f in files:
        m = re.match(r"^(.*?/)(Annotations|Masks)/", f)
        if m:
            return m.group(1)
    return ""


def _text(el, tag: str) -> str:
    c = el.find(tag)
    return (c.text or "").strip() if c is not None else ""


def _ids(text: str, where: str, el) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise FormatError(where, f"expected comma-separated object ids, got {text!r}", line=el.sourceline,
                          element="parts") from None


def _load_mask(data: bytes, where: str, shape) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            arr = np.asarray(img)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is bad input here
        raise FormatError(where, f"mask is not a readable image ({exc})") from None
    m = arr.any(axis=2) if arr.ndim == 3 else arr != 0
    if shape is not None and None not in shape and tuple(m.shape) != tuple(shape):
        raise FormatError(where, f"mask is {m.shape[1]}x{m.shape[0]}, the image {shape[1]}x{shape[0]}")
    return m


def read(source: Source, **options) -> Dataset:
    """Read LabelMe XMLs (folder or zip)."""
    root = _root(source.files)
    xmls = [f for f in source.files if f.startswith(root) and f.lower().endswith(".xml")
            and not f[len(root):].startswith(("Masks/", "Images/", "Scribbles/"))]
    if not xmls:
        raise FormatError(source.display(), "no LabelMe annotations here: expected Annotations/<folder>/<image>.xml")
    items, rows = [], []
    group = 0
    for n, rel in enumerate(xmls):
        where = source.display(rel)
        doc = parse_xml(source.read_bytes(rel), where)
        fname = _text(doc, "filename")
        if not fname:
            raise FormatError(where, "missing <filename>", line=doc.sourceline, element="annotation")
        folder = _text(doc, "folder")
        w = h = None
        size = doc.find("imagesize")
        if size is not None:
            try:
                h = int(float(_text(size, "nrows"))) if _text(size, "nrows") else None
                w = int(float(_text(size, "ncols"))) if _text(size, "ncols") else None
            except ValueError:
                raise FormatError(where, "<nrows>/<ncols> must be numbers", line=size.sourceline,
                                  element="imagesize") from None
        img_rel = posixpath.join(f"{root}Images", folder, fname) if folder else f"{root}Images/{fname}"
        has_img = source.exists(img_rel)
        if (w is None or h is None) and has_img:
            s = vc.image_size(source.read_bytes(img_rel))
            if s:
                w, h = s
        items.append({"item_id": n, "name": fname, "subset": folder or "default",
                      "media": source.url_of(img_rel) if has_img else fname, "width": w, "height": h})
        objs = _objects(source, doc, where, n, root, folder, (h, w))
        group = _assign_groups(objs, group)  # one group per tree of hasparts links, numbered across the dataset
        rows += objs
    ann = pd.DataFrame(rows)
    if len(ann):
        ann = ann.drop(columns=["_id", "_children", "_parents"])
        ann["ann_id"] = np.arange(len(ann))
        ann["group"] = ann["group"].astype("Int64")
    used = list(dict.fromkeys(r["label"] for r in rows if r["label"]))
    labels = pd.DataFrame({"name": used})
    return Dataset(items=pd.DataFrame(items), annotations=ann if len(ann) else None, labels=labels)


def _assign_groups(objs: list[dict], group: int) -> int:
    by_id = {}
    for r in objs:
        by_id.setdefault(r["_id"], []).append(r)
    roots = [r for r in objs if r["_children"] and not r["_parents"]]
    seen = set()
    for r in roots:
        if r["_id"] in seen:
            continue
        group += 1
        todo = [r["_id"]]
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            for o in by_id.get(i, ()):
                o["group"] = group
                todo.extend(o["_children"])
    return group


def _objects(source, doc, where, item_id, root, folder, shape) -> list[dict]:
    rows = []
    for el in doc.iter("object"):
        if _text(el, "deleted") not in ("", "0"):
            continue
        try:
            oid = int(_text(el, "id")) if _text(el, "id") else None
        except ValueError:
            raise FormatError(where, f"<id> is {_text(el, 'id')!r}, expected an integer", line=el.sourceline,
                              element="object") from None
        attrs = parse_attributes(_text(el, "attributes"))
        occl = _text(el, "occluded").lower() == "yes"
        parts = el.find("parts")
        children = _ids(_text(parts, "hasparts"), where, parts) if parts is not None else []
        parents = _ids(_text(parts, "ispartof"), where, parts) if parts is not None else []
        extra = {k: v for k, v in (("date", _text(el, "date")),) if v}
        base = {"item_id": item_id, "label": _text(el, "name"), "occluded": occl, "_id": oid,
                "_children": children, "_parents": parents, "group": None}
        poly, segm = el.find("polygon"), el.find("segm")
        if poly is not None:
            user = _text(poly, "username")
            pts = []
            for pt in poly.iter("pt"):
                try:
                    pts += [float(_text(pt, "x")), float(_text(pt, "y"))]
                except ValueError:
                    raise FormatError(where, "<pt> needs numeric <x> and <y>", line=pt.sourceline,
                                      element="pt") from None
            if not pts:
                raise FormatError(where, "<polygon> without <pt> points", line=poly.sourceline, element="polygon")
            xs, ys = pts[0::2], pts[1::2]
            box = dict(x=min(xs), y=min(ys), w=max(xs) - min(xs), h=max(ys) - min(ys))
            if user:
                extra["username"] = user
            if _text(el, "type") == "bounding_box":
                rot = attrs.pop("rotation", 0.0)
                try:
                    rot = float(rot)
                except (TypeError, ValueError):
                    attrs["rotation"], rot = rot, 0.0
                rows.append({**base, "type": "bbox", **box, "rotation": rot, "attributes": attrs or None,
                             "extra": extra or None})
            else:
                rows.append({**base, "type": "polygon", "points": pts, **box, "attributes": attrs or None,
                             "extra": extra or None})
        elif segm is None:
            found = "<bndbox>: a Pascal VOC object" if el.find("bndbox") is not None else "neither"
            raise FormatError(where, f"expected <polygon> or <segm> in a LabelMe <object>, found {found}",
                              line=el.sourceline, element="object")
        else:
            user = _text(segm, "username")
            if user:
                extra["username"] = user
            mname = _text(segm, "mask")
            rel = posixpath.join(f"{root}Masks", folder, mname) if folder else f"{root}Masks/{mname}"
            if not mname or not source.exists(rel) or ".." in mname.split("/"):
                raise FormatError(where, f"mask file {rel!r} not found", line=segm.sourceline, element="segm")
            m = _load_mask(source.read_bytes(rel), source.display(rel), shape)
            if not m.any():
                continue
            ys_, xs_ = np.nonzero(m)
            box = dict(x=float(xs_.min()), y=float(ys_.min()), w=float(xs_.max() + 1 - xs_.min()),
                       h=float(ys_.max() + 1 - ys_.min()))
            rows.append({**base, "type": "mask", "mask": coco_encode(m), **box, "attributes": attrs or None,
                         "extra": extra or None})
    return rows


_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")  # the root element: the first tag that is not <? or <!


_OWN_TAGS = re.compile(rb"<(imagesize|polygon|segm)[\s/>]")  # VOC has <size>, <bndbox>, <segmented>


def detect(source: Source) -> float:
    root = _root(source.files)
    xmls = [f for f in source.files if f.startswith(root) and f.lower().endswith(".xml")][:5]
    for rel in xmls:
        try:
            head = source.read_bytes(rel)[:65536]
        except OSError:
            continue
        m = _FIRST_TAG.search(head)
        if m is None or m.group(1) != b"annotation":
            return 0.0
        if _OWN_TAGS.search(head):
            return 0.97  # VOC has <size>/<bndbox>; these are LabelMe's own
    return 0.0


# == writing ===================================================================================
def _num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def write(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items = ds.items.reset_index(drop=True)
    a = select_rows(ds, ctx)
    ok = a["type"].isin(("bbox", "polygon", "mask")).to_numpy()
    report.add_mask("annotations", a, ~ok, "LabelMe carries only boxes, polygons and masks", key="ann_id")
    a = a[ok]
    outside = a["outside"].to_numpy(dtype=bool)
    a = a[~outside]
    report.add_mask("annotations", a, a["track_id"].notna().to_numpy(),
                    "LabelMe has no tracks: track rows are written as separate shapes (track id, keyframe lost)",
                    key="ann_id")
    report.add_mask("annotations", a, a["score"].notna().to_numpy(), "LabelMe has no score", key="ann_id")
    subsets = items["subset"].fillna("default").replace("", "default")
    ids = pd.Series("", index=items.index, dtype=object)
    files = pd.Series("", index=items.index, dtype=object)
    for _, grp in items.groupby(subsets, sort=False):  # each subset has its own folder: names clash only within one
        i, f, renamed = vc.item_ids(grp)
        ids[grp.index], files[grp.index] = i.to_numpy(), f.to_numpy()
        report.add("items", renamed, "file name collides with another item's; written as <name>__<n>")
    by_item = {k: g for k, g in a.groupby("item_id", sort=False)}
    for p, it in enumerate(items.itertuples(index=False)):
        folder, ident, fname = subsets.iloc[p], ids.iloc[p], files.iloc[p]
        s = [f"<annotation>\n  <filename>{escape(fname)}</filename>\n  <folder>{escape(folder)}</folder>\n"
             "  <source>\n    <sourceImage></sourceImage>\n    <sourceAnnotation>annowidgets</sourceAnnotation>\n"
             "  </source>\n"]
        if not pd.isna(it.width) and not pd.isna(it.height):
            s.append(f"  <imagesize>\n    <nrows>{int(it.height)}</nrows>\n    <ncols>{int(it.width)}</ncols>\n"
                     "  </imagesize>\n")
        g = by_item.get(it.item_id)
        if g is not None:
            s.append(_objects_xml(g, sink, folder, ident))
        s.append("</annotation>\n")
        sink.write_text(posixpath.join("Annotations", folder, ident + ".xml"), "".join(s))
        if p % 2000 == 0:
            ctx.step(0.9 * p / max(len(items), 1), "annotations")
    if ctx.save_images:
        targets = [posixpath.join("Images", folder, f) for folder, f in zip(subsets, files, strict=True)]
        copy_media(ds, sink, zip(items["item_id"], items["media"], targets, strict=True), report)


def _objects_xml(g: pd.DataFrame, sink: Sink, folder: str, ident: str) -> str:
    out = []
    grp = g["group"].to_numpy(dtype="float64", na_value=np.nan)
    members: dict = {}
    for k, v in enumerate(grp.tolist()):
        if v == v:
            members.setdefault(v, []).append(k)
    for k, r in enumerate(g.itertuples(index=False)):
        attrs = dict(r.attributes) if isinstance(r.attributes, dict) else {}
        extra = r.extra if isinstance(r.extra, dict) else {}
        rot = float(r.rotation) if r.type == "bbox" and r.rotation == r.rotation else 0.0
        if rot % 360:
            attrs["rotation"] = rot
        has, part = "", ""
        if grp[k] == grp[k] and len(members[grp[k]]) > 1:
            lead = members[grp[k]][0]
            if lead == k:
                has = ",".join(str(j) for j in members[grp[k]][1:])
            else:
                part = str(lead)
        user = escape(str(extra.get("username", "")))
        s = [f"  <object>\n    <name>{escape(str(r.label))}</name>\n    <deleted>0</deleted>\n"
             f"    <verified>0</verified>\n    <occluded>{'yes' if r.occluded else 'no'}</occluded>\n"
             f"    <date>{escape(str(extra.get('date', '')))}</date>\n    <id>{k}</id>\n"
             f"    <parts>\n      <hasparts>{has}</hasparts>\n      <ispartof>{part}</ispartof>\n    </parts>\n"]
        if r.type == "bbox":
            x0, y0, x1, y1 = r.x, r.y, r.x + r.w, r.y + r.h
            pts = [x0, y0, x1, y0, x1, y1, x0, y1]
            s.append("    <type>bounding_box</type>\n")
            s.append(_polygon(pts, user))
        elif r.type == "polygon":
            s.append(_polygon(list(r.points or []), user))
        else:
            mname = f"{ident}_mask_{k}.png"
            m = coco_decode(r.mask)
            buf = io.BytesIO()
            Image.fromarray(MASK_COLOR[m.astype(np.uint8)], "RGBA").save(buf, format="PNG")
            sink.write_bytes(posixpath.join("Masks", folder, mname), buf.getvalue(), compress=False)
            s.append(f"    <segm>\n      <username>{user}</username>\n      <mask>{escape(mname)}</mask>\n"
                     f"      <box>\n        <xmin>{_num(r.x)}</xmin>\n        <ymin>{_num(r.y)}</ymin>\n"
                     f"        <xmax>{_num(r.x + r.w)}</xmax>\n        <ymax>{_num(r.y + r.h)}</ymax>\n"
                     "      </box>\n    </segm>\n")
        s.append(f"    <attributes>{escape(format_attributes(attrs))}</attributes>\n  </object>\n")
        out.append("".join(s))
    return "".join(out)


def _polygon(pts, user: str) -> str:
    body = "".join(f"      <pt>\n        <x>{_num(x)}</x>\n        <y>{_num(y)}</y>\n      </pt>\n"
                   for x, y in zip(pts[0::2], pts[1::2], strict=True))
    return f"    <polygon>\n      <username>{user}</username>\n{body}    </polygon>\n"


register(FormatSpec(
    name="LabelMe 3.0", aliases=("label_me", "labelme"), read=read, write=write, detect=detect,
    shapes=("bbox", "polygon", "mask"), family="cvat",
    description="LabelMe: Annotations/<folder>/<image>.xml (polygons, boxes, Masks/*.png) [+ Images/]",
))
