"""CVAT's "Open Images V6 1.0" (Datumaro ``open_images``): CSV tables and mask PNGs.

Layout: ``annotations/`` holds ``class-descriptions.csv`` (``LabelName,DisplayName``, no header;
``oidv*-class-descriptions.csv`` has one), ``bbox_labels_600_hierarchy.json`` (label parents),
``<subset>-images-with-rotation.csv`` or ``image_ids_and_rotation.csv`` (items and subsets),
``<subset>-annotations-human-imagelabels.csv`` (tags), ``<subset>-annotations-bbox.csv`` (boxes,
coordinates normalised to the image), ``<subset>-annotations-object-segmentation.csv`` (masks,
PNGs in ``masks/<subset>/``) and ``images.meta`` (``<id> <height> <width>`` lines); images in
``images/<subset>/<id>.<ext>``. The ``oidv6-`` prefix of the official files is understood.

Import: labels are the ``LabelName`` column (``DisplayName`` goes to the label's ``extra``);
``Confidence`` is the ``score``; the box flags (-1 = unknown, left out) become attributes
``occluded``, ``truncated``, ``is_group_of``, ``is_depiction``, ``is_inside`` and IsOccluded=1
also the ``occluded`` column; a mask gets ``box_id`` and ``predicted_iou`` and shares a
``group`` with the box it was drawn in. Boxes and masks need the image size (images.meta or
the image): without it they are named in ``ds.loss``, as Datumaro skips them.

Export: tags, boxes and masks; polygons, ellipses and rotated boxes are rasterised into masks
(reported). A row without a score is written with Confidence 1, as Datumaro does.
"""
from __future__ import annotations

import csv
import io
import json
import posixpath
import re

import numpy as np
import pandas as pd
from PIL import Image

from ..core import raster
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ..core.masks import coco_encode
from ..core.media_types import IMAGE_EXTS
from ..core.parsing import json_error
from . import _voc_common as vc
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

IMAGE_FIELDS = ("ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License", "AuthorProfileURL", "Author",
                "Title", "OriginalSize", "OriginalMD5", "Thumbnail300KURL", "Rotation")
LABEL_FIELDS = ("ImageID", "Source", "LabelName", "Confidence")
BOX_FIELDS = ("ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax", "IsOccluded",
              "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside")
MASK_FIELDS = ("MaskPath", "ImageID", "LabelName", "BoxID", "BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax",
               "PredictedIoU", "Clicks")
FLAGS = (("occluded", "IsOccluded"), ("truncated", "IsTruncated"), ("is_group_of", "IsGroupOf"),
         ("is_depiction", "IsDepiction"), ("is_inside", "IsInside"))
LABELS_SUFFIX, BOX_SUFFIX, MASK_SUFFIX = ("-annotations-human-imagelabels.csv", "-annotations-bbox.csv",
                                          "-annotations-object-segmentation.csv")
FULL_IMAGES = "image_ids_and_rotation.csv"
IMAGE_LIST_RE = re.compile(r".*-images(-with-labels)?-with-rotation\.csv$")
HIERARCHY = "bbox_labels_600_hierarchy.json"
META = "images.meta"
AREA_TYPES = ("polygon", "mask", "ellipse")


def _ann_dir(files: list[str]) -> str | None:
    """``annotations/`` (or the root) when it holds one of the format's tables, else None."""
    for d in ("annotations/", ""):
        names = [f[len(d):] for f in files if f.startswith(d) and "/" not in f[len(d):]]
        if any(n == FULL_IMAGES or IMAGE_LIST_RE.fullmatch(n) or n.endswith((LABELS_SUFFIX, BOX_SUFFIX, MASK_SUFFIX))
               for n in names):
            return d
    return None


def _tables(files: list[str], d: str) -> list[str]:
    return [f for f in files if f.startswith(d) and "/" not in f[len(d):] and (
        f[len(d):] == FULL_IMAGES or IMAGE_LIST_RE.fullmatch(f[len(d):])
        or f.endswith((LABELS_SUFFIX, BOX_SUFFIX, MASK_SUFFIX)))]


MACHINE = "machine"  # Open Images' Source of machine-generated labels: our predictions


def _source_column(src: list) -> np.ndarray:
    return np.where(np.asarray(src, dtype=object) == MACHINE, "prediction", "annotation")


def detect_open_images(source: Source) -> float:
    d = _ann_dir(source.files)
    if d is None:
        return 0.0
    for rel in _tables(source.files, d):
        try:
            with source.open(rel) as f:
                head = f.readline(4096).decode("utf-8-sig", "replace").strip().split(",")
        except OSError:
            return 0.0
        want = MASK_FIELDS[:2] if rel.endswith(MASK_SUFFIX) else ("ImageID",)
        if not set(want) <= set(head):
            return 0.0
    return 0.9


# -- reading --------------------------------------------------------------------------------------
def _read_csv(source: Source, rel: str, required: tuple) -> pd.DataFrame:
    where = source.display(rel)
    text = source.read_text(rel, encoding="utf-8-sig")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        if isinstance(exc, pd.errors.EmptyDataError):
            return pd.DataFrame(columns=list(required))
        m = re.search(r"line (\d+)", str(exc))
        raise FormatError(where, f"not a readable CSV table ({exc})", line=int(m.group(1)) if m else None) from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise FormatError(where, f"missing column(s) {', '.join(missing)}; expected a header with "
                          f"{', '.join(required)}", line=1)
    return df


def _numbers(df: pd.DataFrame, cols, where: str, allow_empty=()) -> dict[str, np.ndarray]:
    out = {}
    for c in cols:
        s = df[c].str.strip()
        empty = s == ""
        v = pd.to_numeric(s.where(~empty, "nan"), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(v) & (~empty.to_numpy() | (c not in allow_empty))
        bad &= ~(s.str.lower() == "nan").to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise FormatError(where, f"column {c} is {df[c].iloc[i]!r}, expected a number", line=i + 2)
        out[c] = v
    return out


def _subset_of(fname: str) -> str:
    parts = posixpath.basename(fname).split("-")
    return parts[1] if parts[0].startswith("oidv") and len(parts) > 1 else parts[0]


def _class_descriptions(source: Source, d: str):
    names = [f for f in source.files if f.startswith(d) and "/" not in f[len(d):]]
    for pat in (r"oidv\d+-class-descriptions\.csv", r"class-descriptions-boxable\.csv", r"class-descriptions\.csv"):
        hit = [f for f in names if re.fullmatch(pat, f[len(d):])]
        if not hit:
            continue
        rel = hit[0]
        rows = list(csv.reader(io.StringIO(source.read_text(rel, encoding="utf-8-sig"))))
        if pat.startswith("oidv") and rows and rows[0][:2] == ["LabelName", "DisplayName"]:
            rows = rows[1:]
            first = 2
        else:
            first = 1
        out = []
        for n, r in enumerate(rows, first):
            if not r:
                continue
            if len(r) != 2:
                raise FormatError(source.display(rel), f"expected 2 fields (LabelName,DisplayName), got {len(r)}",
                                  line=n)
            out.append((r[0], r[1]))
        return out
    return []


def _parents(source: Source, d: str) -> dict[str, str]:
    rel = f"{d}{HIERARCHY}"
    if not source.exists(rel):
        return {}
    try:
        root = json.loads(source.read_bytes(rel))
    except ValueError as exc:
        raise json_error(source.display(rel), exc) from exc
    out: dict[str, str] = {}
    stack = [root] if isinstance(root, dict) else []
    while stack:
        node = stack.pop()
        for child in node.get("Subcategory", []) or []:
            if isinstance(child, dict) and "LabelName" in child:
                out[child["LabelName"]] = node.get("LabelName")
                stack.append(child)
    return out


def _image_meta(source: Source, d: str) -> dict[str, tuple[int, int]]:
    rel = f"{d}{META}"
    if not source.exists(rel):
        return {}
    out = {}
    for n, raw in enumerate(source.read_text(rel).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split()
        try:
            h, w = int(f[-2]), int(f[-1])
        except (ValueError, IndexError):
            raise FormatError(source.display(rel), f"expected '<image id> <height> <width>', got {line!r}",
                              line=n) from None
        out[" ".join(f[:-2])] = (w, h)
    return out


def read_open_images(source: Source, **options) -> Dataset:
    d = _ann_dir(source.files)
    if d is None:
        raise FormatError(source.display(), "no Open Images tables here: expected annotations/ with "
                          "<subset>-annotations-{bbox,human-imagelabels,object-segmentation}.csv or "
                          "<subset>-images-with-rotation.csv")
    root = d[: -len("annotations/")] if d else ""
    classes = _class_descriptions(source, d)
    parents = _parents(source, d)
    meta = _image_meta(source, d)
    images = {}
    for f in source.files:
        if f.startswith(f"{root}images/") and posixpath.splitext(f)[1].lower() in IMAGE_EXTS:
            rest = f[len(root) + 7:]
            if "/" in rest:
                images.setdefault(posixpath.splitext(rest.split("/", 1)[1])[0], f)
    tables = _tables(source.files, d)
    items: dict[str, dict] = {}

    def add_item(ident: str, subset: str) -> dict:
        it = items.get(ident)
        if it is None:
            img = images.get(ident)
            size = meta.get(ident)
            if size is None and img:
                size = vc.image_size(source.read_bytes(img))
            name = img[img.find("/", len(root) + 7) + 1:] if img else f"{ident}.jpg"
            it = items[ident] = {"item_id": len(items), "name": name, "subset": subset or "default",
                                 "media": source.url_of(img) if img else name,
                                 "width": size[0] if size else pd.NA, "height": size[1] if size else pd.NA,
                                 "extra": None}
        return it

    lists = [t for t in tables if t[len(d):] == FULL_IMAGES] or \
        [t for t in tables if IMAGE_LIST_RE.fullmatch(t[len(d):])]
    for rel in lists:
        df = _read_csv(source, rel, ("ImageID", "Subset"))
        for rec in df.to_dict("records"):
            it = add_item(rec["ImageID"], rec["Subset"])
            ex = {k: v for k, v in rec.items() if k not in ("ImageID", "Subset") and v != ""}
            it["extra"] = {"open_images": ex} if ex else None
    rows: list[pd.DataFrame] = []
    no_size: list = []
    box_norm = {}
    for rel in sorted(t for t in tables if t.endswith(LABELS_SUFFIX)):
        df = _read_csv(source, rel, ("ImageID", "LabelName", "Confidence"))
        conf = _numbers(df, ["Confidence"], source.display(rel))["Confidence"]
        sub = _subset_of(rel)
        ids = [add_item(i, sub)["item_id"] for i in df["ImageID"]]
        src = df["Source"].tolist() if "Source" in df else [""] * len(df)
        rows.append(pd.DataFrame({"item_id": ids, "type": "tag", "label": df["LabelName"].to_numpy(), "score": conf,
                                  "source": _source_column(src),
                                  "extra": [{"source": s} if s else None for s in src]}))
    for rel in sorted(t for t in tables if t.endswith(BOX_SUFFIX)):
        where = source.display(rel)
        df = _read_csv(source, rel, ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax"))
        num = _numbers(df, ["XMin", "XMax", "YMin", "YMax"], where)
        conf = _numbers(df, ["Confidence"], where)["Confidence"] if "Confidence" in df else np.full(len(df), np.nan)
        flags = {a: _numbers(df, [c], where)[c] if c in df else np.full(len(df), -1.0) for a, c in FLAGS}
        sub = _subset_of(rel)
        its = [add_item(i, sub) for i in df["ImageID"]]
        W = np.array([np.nan if it["width"] is pd.NA else it["width"] for it in its], dtype=np.float64)
        H = np.array([np.nan if it["height"] is pd.NA else it["height"] for it in its], dtype=np.float64)
        known = ~np.isnan(W) & ~np.isnan(H)
        no_size.extend(it["item_id"] for it, k in zip(its, known, strict=True) if not k)
        attrs = [{a: bool(flags[a][i]) for a, _ in FLAGS if flags[a][i] >= 0} for i in range(len(df))]
        x0, x1, y0, y1 = num["XMin"] * W, num["XMax"] * W, num["YMin"] * H, num["YMax"] * H
        src = df["Source"].tolist() if "Source" in df else [""] * len(df)
        part = pd.DataFrame({"item_id": [it["item_id"] for it in its], "type": "bbox",
                             "label": df["LabelName"].to_numpy(), "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0,
                             "score": conf, "source": _source_column(src),
                             "occluded": flags["occluded"] == 1, "attributes": attrs,
                             "extra": [{"source": s} if s else None for s in src]})[known]
        for i, r in zip(np.flatnonzero(known).tolist(), part.itertuples(index=False), strict=True):
            box_norm.setdefault((r.item_id, r.label), []).append(
                np.array([num["XMin"][i], num["XMax"][i], num["YMin"][i], num["YMax"][i]]))
        rows.append(part)
    ann = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    ann["group"] = pd.array([pd.NA] * len(ann), dtype="Int64")
    mask_rows = []
    for rel in sorted(t for t in tables if t.endswith(MASK_SUFFIX)):
        where = source.display(rel)
        df = _read_csv(source, rel, ("MaskPath", "ImageID", "LabelName"))
        sub = _subset_of(rel)
        for n, rec in enumerate(df.to_dict("records"), 2):
            it = add_item(rec["ImageID"], sub)
            if it["width"] is pd.NA:
                no_size.append(it["item_id"])
                continue
            mp = rec["MaskPath"]
            if not mp or "/" in mp or "\\" in mp or mp in (".", ".."):
                raise FormatError(where, f"MaskPath {mp!r} must be a plain file name", line=n)
            png = f"{root}masks/{it['subset']}/{mp}"
            if not source.exists(png):
                raise FormatError(where, f"mask file {png} is not in the input", line=n)
            try:
                with Image.open(io.BytesIO(source.read_bytes(png))) as img:
                    img = img.convert("L")
                    if img.size != (it["width"], it["height"]):
                        img = img.resize((it["width"], it["height"]), Image.NEAREST)
                    m = np.asarray(img) > 0
            except OSError as exc:
                raise FormatError(source.display(png), f"not a readable PNG ({exc})") from exc
            attrs = {}
            if rec.get("BoxID", ""):
                attrs["box_id"] = rec["BoxID"]
            if rec.get("PredictedIoU", ""):
                try:
                    attrs["predicted_iou"] = float(rec["PredictedIoU"])
                except ValueError:
                    raise FormatError(where, f"PredictedIoU is {rec['PredictedIoU']!r}, expected a number",
                                      line=n) from None
            row = vc._mask_row(m, rec["LabelName"], None) if m.any() else {
                "type": "mask", "label": rec["LabelName"], "mask": coco_encode(m), "x": 0.0, "y": 0.0,
                "w": 0.0, "h": 0.0, "extra": None}
            row.pop("_bitmap", None)
            coords = [rec.get(c, "") for c in ("BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax")]
            row.update(item_id=it["item_id"], attributes=attrs, _match=None,
                       extra={"clicks": rec["Clicks"]} if rec.get("Clicks") else None)
            if all(coords):
                try:
                    row["_match"] = np.array([float(c) for c in coords])
                except ValueError:
                    raise FormatError(where, f"box coordinates {coords} must be numbers", line=n) from None
            mask_rows.append(row)
    # a mask shares a group with the box (same image and label) it was drawn in
    next_group = 1
    box_pos = {}
    if len(ann):
        boxes = ann.index[ann["type"] == "bbox"].tolist()
        box_keys = list(zip(ann.loc[boxes, "item_id"], ann.loc[boxes, "label"], strict=True))
        counters: dict = {}
        for pos, key in zip(boxes, box_keys, strict=True):
            k = counters.get(key, 0)
            counters[key] = k + 1
            box_pos[(key, k)] = pos
    for r in mask_rows:
        coords = r.pop("_match")
        if coords is None:
            continue
        for j, norm in enumerate(box_norm.get((r["item_id"], r["label"]), [])):
            if np.allclose(norm, coords, rtol=0, atol=1e-6):
                pos = box_pos[((r["item_id"], r["label"]), j)]
                g = ann.at[pos, "group"]
                if g is pd.NA:
                    g = next_group
                    next_group += 1
                    ann.at[pos, "group"] = g
                r["group"] = g
                break
    if mask_rows:
        more = pd.DataFrame(mask_rows)
        ann = pd.concat([ann, more], ignore_index=True) if len(ann) else more
    if not items and not tables:
        raise FormatError(source.display(), "no Open Images tables here")
    ann["ann_id"] = np.arange(len(ann))
    for c in ("attributes", "extra", "mask"):
        if c in ann:
            ann[c] = ann[c].astype(object).where(ann[c].notna(), None)
    item_df = pd.DataFrame(list(items.values()), columns=["item_id", "name", "subset", "media", "width", "height",
                                                         "extra"])
    for c in ("width", "height"):
        item_df[c] = pd.array(item_df[c].tolist(), dtype="Int64")
    names = [n for n, _ in classes]
    parents = {c: p for c, p in parents.items() if p in set(names)}  # as Datumaro: parents that are labels
    used = [n for n in dict.fromkeys(ann["label"].tolist() if len(ann) else []) if n not in set(names)]
    display = dict(classes)
    labels = pd.DataFrame({"name": names + used,
                           "extra": [{k: v for k, v in (("display_name", display.get(n)),
                                                        ("open_images_parent", parents.get(n))) if v} or None
                                     for n in names + used]})
    ds = Dataset(items=item_df, annotations=ann, labels=labels)
    ds.loss.add("items", sorted(set(no_size)), "image size unknown (no images.meta entry, no image): its boxes "
                "and masks cannot be placed and were not read")
    return ds


# -- writing -------------------------------------------------------------------------------------
def _csv(rows: list, fields, header: bool = True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    if header:
        w.writerow(fields)
    w.writerows(rows)
    return buf.getvalue()


def _flag(attrs: dict, name: str) -> int:
    v = attrs.get(name)
    if isinstance(v, str):
        v = {"true": True, "1": True, "false": False, "0": False}.get(v.strip().lower())
    return -1 if v is None else int(bool(v))


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", str(name)).strip("._") or "x"


def write_open_images(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items, ids, files, subsets, a = vc.prepared(ds, report)
    widths, heights = vc.item_sizes(ds, items)
    kind = a["type"].to_numpy()
    rotated = (kind == "bbox") & (a["rotation"].fillna(0).to_numpy() != 0)
    is_tag, is_box = kind == "tag", (kind == "bbox") & ~rotated
    is_area = np.isin(kind, AREA_TYPES) | rotated
    for t, g in a[~(is_tag | is_box | is_area)].groupby("type"):
        report.add("annotations", g["ann_id"], f"Open Images carries tags, boxes and masks only, not {t}")
    conv = (np.isin(kind, ("polygon", "ellipse")) | rotated)
    report.add_mask("annotations", a, conv, "written as a mask (Open Images has no polygons, ellipses or rotated "
                    "boxes): comes back as a mask", key="ann_id")
    known = {"bbox": {f for f, _ in FLAGS}, "mask": {"box_id", "predicted_iou"}, "tag": set()}
    attr_kind = np.where(is_box, "bbox", np.where(is_tag, "tag", "mask"))
    lost_attr = [bool(set(d) - known[k]) if isinstance(d, dict) else False
                 for d, k in zip(a["attributes"], attr_kind, strict=True)]
    report.add_mask("annotations", a, np.array(lost_attr, dtype=bool) & (is_tag | is_box | is_area),
                    "attribute(s) Open Images has no column for, not written", key="ann_id")
    report.add_mask("annotations", a, (is_area & a["score"].notna().to_numpy()), "Open Images masks have no "
                    "confidence: score not written", key="ann_id")
    report.add_mask("annotations", a, (is_tag | is_area) & a["occluded"].to_numpy(dtype=bool),
                    "occluded is carried by boxes only", key="ann_id")
    W, H = widths[a["_pos"].to_numpy()], heights[a["_pos"].to_numpy()]
    sized = ~np.isnan(W) & ~np.isnan(H)
    report.add_mask("annotations", a, (is_box | is_area) & ~sized,
                    "image size unknown: box/mask cannot be normalised, not written", key="ann_id")
    ident = ids.to_numpy()[a["_pos"].to_numpy()]
    score = a["score"].to_numpy(dtype=np.float64)
    conf = np.where(np.isnan(score), 1.0, score)

    def src_of(ex, kind):
        if isinstance(ex, dict) and ex.get("source"):
            return ex["source"]
        return MACHINE if kind == "prediction" else ""

    def sources(rows):
        return [src_of(e, k) for e, k in zip(a["extra"].to_numpy()[rows], a["source"].to_numpy()[rows], strict=True)]

    per_subset: dict[str, dict[str, list]] = {s: {"masks": []} for s in pd.unique(subsets)}
    sub_of = subsets[a["_pos"].to_numpy()]
    labels = a["label"].astype(str).to_numpy()
    # tags and boxes as columns (one Python step per row only to read the dicts)
    t = np.flatnonzero(is_tag)
    tags = pd.DataFrame({"ImageID": ident[t], "Source": sources(t),
                         "LabelName": labels[t], "Confidence": [repr(float(v)) for v in conf[t]]})
    b = np.flatnonzero(is_box & sized)
    attrs = [d if isinstance(d, dict) else {} for d in a["attributes"].to_numpy()[b]]
    flags = np.array([[_flag(d, f) for f, _ in FLAGS] for d in attrs], dtype=np.int64).reshape(-1, len(FLAGS))
    flags[a["occluded"].to_numpy(dtype=bool)[b], 0] = 1
    x, y = a["x"].to_numpy(np.float64)[b], a["y"].to_numpy(np.float64)[b]
    w, h = a["w"].to_numpy(np.float64)[b], a["h"].to_numpy(np.float64)[b]
    norm = np.c_[x / W[b], (x + w) / W[b], y / H[b], (y + h) / H[b]]
    boxes = pd.DataFrame({"ImageID": ident[b], "Source": sources(b),
                          "LabelName": labels[b], "Confidence": [repr(float(v)) for v in conf[b]],
                          **{c: [repr(float(v)) for v in norm[:, k]] for k, c in enumerate(BOX_FIELDS[4:8])},
                          **{c: flags[:, k] for k, (_, c) in enumerate(FLAGS)}})
    box_of_group: dict = {}
    grouped = a["group"].notna().to_numpy()[b]
    for k in np.flatnonzero(grouped).tolist():
        box_of_group.setdefault((a["item_id"].iloc[b[k]], a["group"].iloc[b[k]]), norm[k].tolist())
    ctx.step(0.3, "boxes")
    used_ids: dict = {}
    for i in np.flatnonzero(is_area & sized):
        r = a.iloc[i]
        h, w = int(H[i]), int(W[i])
        try:
            m = raster.shape_mask(r["type"], h, w, x=r["x"], y=r["y"], w=r["w"], h=r["h"], rotation=r["rotation"],
                                  points=r["points"], mask=r["mask"])
        except ValueError:
            report.add("annotations", [r["ann_id"]], "mask size differs from the image size, not written")
            continue
        attrs = r["attributes"] if isinstance(r["attributes"], dict) else {}
        taken = used_ids.setdefault(ident[i], set())
        box_id = str(attrs.get("box_id") or "")
        if not box_id or not re.fullmatch(r"[\w.\-]+", box_id) or box_id in taken:
            k = len(taken)
            while format(k, "08x") in taken:
                k += 1
            box_id = format(k, "08x")
        taken.add(box_id)
        fname = f"{_safe(ident[i])}_{_safe(labels[i])}_{box_id}.png"
        buf = io.BytesIO()
        Image.fromarray(m.astype(np.uint8) * 255, mode="L").save(buf, format="PNG")
        sink.write_bytes(f"masks/{sub_of[i]}/{fname}", buf.getvalue())
        box = box_of_group.get((r["item_id"], r["group"])) if r["group"] is not pd.NA else None
        coords = [repr(float(v)) for v in box] if box else ["", "", "", ""]
        iou = attrs.get("predicted_iou", "")
        clicks = r["extra"].get("clicks", "") if isinstance(r["extra"], dict) else ""
        per_subset[sub_of[i]]["masks"].append([fname, ident[i], labels[i], box_id, *coords,
                                               "" if iou in ("", None) else repr(float(iou)), clicks])
    ctx.step(0.7, "masks")
    for s, parts in per_subset.items():
        sel = np.flatnonzero(subsets == s)
        img_rows = []
        for p in sel.tolist():
            ex = items["extra"].iloc[p]
            oi = ex.get("open_images", {}) if isinstance(ex, dict) else {}
            img_rows.append([ids.iloc[p], s, *(oi.get(f, "") for f in IMAGE_FIELDS[2:])])
        sink.write_text(f"annotations/{s}-images-with-rotation.csv", _csv(img_rows, IMAGE_FIELDS))
        tag_rows, box_rows = tags[sub_of[t] == s], boxes[sub_of[b] == s]
        if len(tag_rows):
            sink.write_text(f"annotations/{s}{LABELS_SUFFIX}", _csv(tag_rows.to_numpy().tolist(), LABEL_FIELDS))
        if len(box_rows):
            sink.write_text(f"annotations/{s}{BOX_SUFFIX}", _csv(box_rows.to_numpy().tolist(), BOX_FIELDS))
        if parts["masks"]:
            sink.write_text(f"annotations/{s}{MASK_SUFFIX}", _csv(parts["masks"], MASK_FIELDS))
    names = list(dict.fromkeys([*ds.labels["name"].astype(str).tolist(), *labels.tolist()]))
    lab_extra = dict(zip(ds.labels["name"].astype(str), ds.labels["extra"], strict=True))
    disp = [(n, (lab_extra.get(n) or {}).get("display_name", n) if isinstance(lab_extra.get(n), dict) else n)
            for n in names]
    sink.write_text("annotations/class-descriptions.csv", _csv(disp, None, header=False))
    nodes = {n: {"LabelName": n} for n in names}
    orphans = []
    for n in names:
        ex = lab_extra.get(n)
        parent = ex.get("open_images_parent") if isinstance(ex, dict) else None
        if parent:
            nodes.setdefault(parent, {"LabelName": parent}).setdefault("Subcategory", []).append(nodes[n])
        else:
            orphans.append(nodes[n])
    k = 0
    while f"/m/{k}" in nodes:
        k += 1
    root = {"LabelName": f"/m/{k}", "Subcategory": [o for o in orphans if "Subcategory" in o]}
    sink.write_text(f"annotations/{HIERARCHY}", json.dumps(root, indent=4, ensure_ascii=False) + "\n")
    meta = [f"{ids.iloc[p]} {int(heights[p])} {int(widths[p])}\n" for p in range(len(items))
            if not (np.isnan(widths[p]) or np.isnan(heights[p]))]
    if meta:
        sink.write_text(f"annotations/{META}", "".join(meta))
    if ctx.save_images:
        pairs = [(i, m, f"images/{s}/{f}") for i, m, s, f in
                 zip(items["item_id"], items["media"], subsets, files, strict=True)]
        copy_media(ds, sink, pairs, report)


register(FormatSpec(
    name="Open Images V6 1.0", aliases=("open_images", "open images", "openimages"), read=read_open_images,
    write=write_open_images, detect=detect_open_images, shapes=("tag", "bbox", "mask", "polygon", "ellipse"),
    family="cvat",
    description="annotations/<subset>-annotations-{bbox,human-imagelabels,object-segmentation}.csv, "
                "class-descriptions.csv, images.meta, masks/<subset>/",
))
