"""VGGFace2 1.0 (Datumaro ``vgg_face2``), as CVAT exports it.

Layout: ``bb_landmark/loose_bb_<subset>.csv`` (``NAME_ID,X,Y,W,H``),
``bb_landmark/loose_landmark_<subset>.csv`` (``NAME_ID,P1X,P1Y,…,P5X,P5Y``), ``labels.txt``
(``<label> [<class name>]`` a line; Datumaro's ``dataset_meta.json`` is read too) and, with
images, ``<subset>/<NAME_ID>.<ext>``. ``NAME_ID`` is ``<label>/<image id>`` (``no_label/…``
without one): the identity label of the image's box and landmarks (5 points), or, on a
landmark row without coordinates, the image's tag.

The item name is the whole ``NAME_ID`` plus the image extension (``n000001/0001_01.jpg``):
every identity has a ``0001_01``, so the folder is what tells them apart. One box, one set
of landmarks and one identity per image (the format has room for no more; the rest is
reported). A label's class name (``labels.txt``'s second column) is kept in the labels
table's ``extra['class_name']``. ``aw.load(..., strip_label_folder=True)`` names items as
CVAT's task import does, without the folder (``0001_01.jpg``), where that stays unique.
"""
from __future__ import annotations

import io
import posixpath
import re

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.media_types import IMAGE_EXTS
from ._carry import report_attributes, report_scores
from ._faces import Unique, build, meta_labels, num, under
from ._media import copy_media
from .registry import FormatSpec, register
from .yolo_common import class_list, image_size, item_names, select_rows

ANN_DIR = "bb_landmark"
BB, LM = "loose_bb_", "loose_landmark_"
BB_COLS = ["NAME_ID", "X", "Y", "W", "H"]
LM_COLS = ["NAME_ID"] + [f"P{i}{c}" for i in range(1, 6) for c in "XY"]
NO_LABEL = "no_label"
CLASS_NAME = "class_name"


def _annotation_files(source) -> dict[str, dict[str, dict[str, str]]]:
    """root -> subset -> {"bb"|"lm": file}, for ``<root>/bb_landmark/loose_{bb,landmark}_<subset>.csv``."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for f in source.glob(f"{ANN_DIR}/loose_*.csv", f"*/{ANN_DIR}/loose_*.csv"):
        parts = f.split("/")
        base = parts[-1]
        if parts[-2].lower() != ANN_DIR:
            continue
        for kind, prefix in (("bb", BB), ("lm", LM)):
            if base.lower().startswith(prefix) and base.lower().endswith(".csv"):
                subset = base[len(prefix):-4]
                out.setdefault("/".join(parts[:-2]), {}).setdefault(subset, {})[kind] = f
    return out


def detect(source) -> float:
    for subsets in _annotation_files(source).values():
        for files in subsets.values():
            for f in files.values():
                head = source.read_bytes(f)[:64].decode("utf-8", "replace").lstrip("\ufeff")
                if head.startswith("NAME_ID,"):
                    return 0.9
    return 0.0


def _table(source, rel: str, cols: list[str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The CSV as strings, its numbers (NaN where empty) and whether each row has all of them."""
    where = source.display(rel)
    try:
        df = pd.read_csv(io.BytesIO(source.read_bytes(rel)), dtype={"NAME_ID": str}, keep_default_na=False,
                         na_values=[""], encoding="utf-8-sig", skipinitialspace=True)
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise FormatError(where, f"expected {len(cols)} comma-separated fields ({exc})",
                          line=int(m.group(1)) if m else None) from None
    except pd.errors.EmptyDataError:
        raise FormatError(where, f"empty file: expected the header {','.join(cols)}", line=1) from None
    except UnicodeDecodeError as exc:
        raise FormatError(where, f"not utf-8 text ({exc.reason})", position=exc.start) from None
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise FormatError(where, f"header lacks {', '.join(missing)}: expected {','.join(cols)}", line=1)
    vals = np.empty((len(df), len(cols) - 1), dtype=float)
    for k, c in enumerate(cols[1:]):  # numbers parsed by the CSV reader; a column with text is not float
        col = df[c]
        if col.dtype.kind not in "fi":
            txt = col.astype(str).str.strip()
            col = pd.to_numeric(txt, errors="coerce")
            bad = (col.isna() & df[c].notna() & (txt != "")).to_numpy()
            if bad.any():
                r = int(np.argmax(bad))
                raise FormatError(where, f"{c} must be a number, got {txt.iat[r]!r}", line=r + 2)
        vals[:, k] = col.to_numpy(dtype=float, na_value=np.nan)
    df["NAME_ID"] = df["NAME_ID"].fillna("")
    empty = (df["NAME_ID"].str.strip() == "").to_numpy()
    if empty.any():
        raise FormatError(where, "NAME_ID is empty", line=int(np.argmax(empty)) + 2)
    return df, vals, ~np.isnan(vals).any(axis=1)


def _labels_file(source, root: str) -> tuple[list[str], dict[str, dict]]:
    names = meta_labels(source, root)
    if names is not None:
        return names, {}
    rel = under(root, "labels.txt")
    names, extra = [], {}
    if source.exists(rel):
        for line in source.read_text(rel).splitlines():
            parts = line.split()
            if parts:
                names.append(parts[0])
                if len(parts) > 1:
                    extra[parts[0]] = {CLASS_NAME: " ".join(parts[1:])}
    return names, extra


def _item(source, items: list, index: dict, images: dict, subset: str, name_id: str) -> int:
    """The item id of ``name_id`` in this subset, added on first sight (with its image, if any)."""
    iid = index.get(name_id)
    if iid is None:
        img = images.get(name_id)
        size = image_size(source, img) if img else None
        iid = index[name_id] = len(items)
        ext = posixpath.splitext(img)[1] if img else ".jpg"
        items.append({"item_id": iid, "name": name_id + ext, "subset": subset, "frame": iid,
                      "media": source.url_of(img) if img else None,
                      "width": size[0] if size else None, "height": size[1] if size else None})
    return iid


def _label_of(name_id: str) -> str | None:
    head = name_id.split("/", 1)[0] if "/" in name_id else NO_LABEL
    return None if head == NO_LABEL else head


def read(source, **options) -> Dataset:
    roots = _annotation_files(source)
    if not roots:
        raise FormatError(source.display(), f"no VGGFace2 annotations here: expected {ANN_DIR}/{BB}<subset>.csv "
                                            f"or {ANN_DIR}/{LM}<subset>.csv")
    items, anns, labels, label_extra = [], [], [], {}
    for root, subsets in sorted(roots.items()):
        names, extra = _labels_file(source, root)
        labels += [n for n in names if n not in labels]
        label_extra.update(extra)
        for subset, files in sorted(subsets.items()):
            prefix = under(root, subset) + "/"
            images = {posixpath.splitext(f[len(prefix):])[0]: f for f in source.files
                      if f.startswith(prefix) and posixpath.splitext(f)[1].lower() in IMAGE_EXTS}
            index: dict[str, int] = {}

            for kind in ("lm", "bb"):
                if kind not in files:
                    continue
                df, vals, full = _table(source, files[kind], LM_COLS if kind == "lm" else BB_COLS)
                seen: set[int] = set()
                for r, name_id in enumerate(df["NAME_ID"].str.strip().str.replace("\\", "/").tolist()):
                    iid = _item(source, items, index, images, subset, name_id)
                    lab = _label_of(name_id)
                    if iid in seen:
                        raise FormatError(source.display(files[kind]), f"{name_id}: an image has only one "
                                          f"{'set of landmarks' if kind == 'lm' else 'box'}", line=r + 2)
                    seen.add(iid)
                    if kind == "bb" and full[r]:
                        x, y, w, h = vals[r].tolist()
                        anns.append({"item_id": iid, "label": lab or "", "type": "bbox", "x": x, "y": y, "w": w,
                                     "h": h})
                    elif kind == "lm" and full[r]:
                        pts = vals[r].tolist()
                        xs, ys = pts[0::2], pts[1::2]
                        anns.append({"item_id": iid, "label": lab or "", "type": "points", "points": pts,
                                     "x": min(xs), "y": min(ys), "w": max(xs) - min(xs), "h": max(ys) - min(ys)})
                    elif kind == "lm" and lab is not None:
                        anns.append({"item_id": iid, "label": lab, "type": "tag", "x": np.nan, "y": np.nan,
                                     "w": np.nan, "h": np.nan})
    if options.get("strip_label_folder"):
        _strip_label_folder(items)
    return build(items, anns, labels, None, source, label_extra)


def _strip_label_folder(items: list[dict]) -> None:
    """Names without the NAME_ID's first folder, as CVAT's task import renames them (so that
    ``n000001/0001_01`` meets the task's frame ``0001_01``); a name another image of the subset
    then has too keeps its folder."""
    short = [it["name"].split("/", 1)[-1] for it in items]
    seen: dict = {}
    for it, s in zip(items, short, strict=True):
        key = (it["subset"], s.lower())
        seen[key] = seen.get(key, 0) + 1
    for it, s in zip(items, short, strict=True):
        if seen[(it["subset"], s.lower())] == 1:
            it["name"] = s


def write(ds, sink, ctx) -> None:
    a = select_rows(ds, ctx)
    kind = a["type"].to_numpy()
    five = a["points"].map(lambda p: p is not None and len(p) == 10).to_numpy(bool)
    ok = (kind == "bbox") | (kind == "tag") | ((kind == "points") & five)
    ctx.report.add_mask("annotations", a, (kind == "points") & ~five,
                        "VGGFace2 landmarks are exactly 5 points", key="ann_id")
    ctx.report.add_mask("annotations", a, ~ok & (kind != "points"),
                        "VGGFace2 carries only one box, 5 landmarks and an identity per image", key="ann_id")
    a = a[ok]
    pts = (a["type"] == "points").to_numpy()
    hidden = pts & a["outside"].fillna(False).astype(bool).to_numpy()
    ctx.report.add_mask("annotations", a, hidden, "VGGFace2 has no invisible landmarks: outside points not written",
                        key="ann_id")
    a = a[~hidden]
    ctx.report.add_mask("annotations", a, (a["type"] == "points").to_numpy() & a["parent_id"].notna().to_numpy(),
                        "VGGFace2 has no skeletons: the point is written as landmarks of its own", key="ann_id")
    first = ~a.duplicated(["item_id", "type"]).to_numpy()
    tag = (a["type"] == "tag").to_numpy()
    ctx.report.add_mask("annotations", a, ~first & ~tag, "VGGFace2 keeps one box and one set of landmarks per image",
                        key="ann_id")
    ctx.report.add_mask("annotations", a, ~first & tag, "VGGFace2 keeps one tag (identity) per image", key="ann_id")
    a = a[first]
    tag = (a["type"] == "tag").to_numpy()
    with_points = a["item_id"].isin(a.loc[a["type"] == "points", "item_id"]).to_numpy()
    ctx.report.add_mask("annotations", a, tag & with_points, "VGGFace2 has no separate tag on an image with "
                                                             "landmarks (the landmarks carry its identity)",
                        key="ann_id")
    a = a[~(tag & with_points)]
    ctx.report.add_mask("annotations", a, (a["rotation"].fillna(0) != 0).to_numpy() & (a["type"] == "bbox").to_numpy(),
                        "VGGFace2 has no rotation: written unrotated", key="ann_id")
    report_attributes(ctx.report, a, "VGGFace2")
    report_scores(ctx.report, a, "VGGFace2")
    # one identity per image: the label of its first row (box, landmarks or tag)
    ident = a.drop_duplicates("item_id").set_index("item_id")["label"].fillna("").to_dict()
    other = a["label"].fillna("").to_numpy() != a["item_id"].map(ident).to_numpy()
    ctx.report.add_mask("annotations", a, other, "VGGFace2 has one identity per image (the NAME_ID folder): this "
                                                 "row's label is written as the image's first label", key="ann_id")
    tagged = set(a.loc[a["type"] == "tag", "item_id"].tolist())
    labels = class_list(ds)
    labels += [n for n in dict.fromkeys(a["label"].tolist()) if n and n not in labels]
    lab_extra = dict(zip(ds.labels["name"].tolist(), ds.labels["extra"].tolist(), strict=True))
    lines = []
    for n in labels:
        cls = (lab_extra.get(n) or {}).get(CLASS_NAME) if isinstance(lab_extra.get(n), dict) else None
        lines.append(f"{n} {cls}" if cls else n)
    sink.write_text("labels.txt", "\n".join(lines) + ("\n" if lines else ""))

    boxes = a[a["type"] == "bbox"].set_index("item_id")
    points = a[a["type"] == "points"].set_index("item_id")
    items = ds.items
    names = item_names(items).tolist()
    subsets = items["subset"].fillna("default").astype(str).replace("", "default").tolist()
    bb_rows: dict[str, list[str]] = {}
    lm_rows: dict[str, list[str]] = {}
    copies = []
    bxy = dict(zip(boxes.index.tolist(), zip(*(num(boxes[c]) for c in "xywh"), strict=True), strict=True)) \
        if len(boxes) else {}
    flat = num(np.asarray(points["points"].tolist(), dtype=float).reshape(-1)) if len(points) else []
    pxy = {iid: flat[10 * k:10 * k + 10] for k, iid in enumerate(points.index.tolist())}
    unique = Unique()
    for iid, name, subset, media in zip(items["item_id"].tolist(), names, subsets, items["media"].tolist(),
                                        strict=True):
        stem, ext = posixpath.splitext(name)
        if ext.lower() not in IMAGE_EXTS:
            stem, ext = name, ".jpg"
        label = ident.get(iid) or NO_LABEL
        parts = stem.split("/")
        name_id = unique(subset, stem if len(parts) > 1 and parts[0] == label else f"{label}/{stem}", iid)
        lm = lm_rows.setdefault(subset, [])
        if iid in bxy:
            bb_rows.setdefault(subset, []).append(",".join([_csv(name_id), *bxy[iid]]))
        if iid in pxy:
            lm.append(",".join([_csv(name_id), *pxy[iid]]))
        elif iid in tagged or iid not in bxy:
            lm.append(_csv(name_id) + "," * 10)  # the identity as a tag, or an image without annotations
        copies.append((iid, media, f"{subset}/{name_id}{ext}"))
    unique.report(ctx.report, "VGGFace2")
    if not lm_rows and not bb_rows:  # no images: the header alone says what this is
        lm_rows["default"] = []
    for subset, rows in lm_rows.items():
        sink.write_text(f"{ANN_DIR}/{LM}{subset}.csv", "\n".join([",".join(LM_COLS), *rows]) + "\n")
    for subset, rows in bb_rows.items():
        sink.write_text(f"{ANN_DIR}/{BB}{subset}.csv", "\n".join([",".join(BB_COLS), *rows]) + "\n")
    if ctx.save_images:
        copy_media(ds, sink, copies, ctx.report)


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


register(FormatSpec(
    name="VGGFace2 1.0", aliases=("vgg_face2", "vggface2"),
    read=read, write=write, detect=detect, shapes=("bbox", "points", "tag"), family="cvat",
    description="VGGFace2: bb_landmark/loose_{bb,landmark}_<subset>.csv, <subset>/<label>/<image>, labels.txt",
))
