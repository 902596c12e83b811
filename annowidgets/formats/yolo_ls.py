"""Label Studio's YOLO exports: "YOLO", "YOLO_WITH_IMAGES", "YOLO_OBB", "YOLO_OBB_WITH_IMAGES".

Layout (as label-studio-sdk writes it): ``classes.txt``, ``notes.json``
(``{categories: [{id, name[, keypoints]}], info}``), ``labels/<key>.txt``, ``images/``.
Class ids follow LS: the sorted union of the labels (all labels rows, choices included);
in keypoint mode only rectangle labels. Lines:

- YOLO: rectangles ``cls cx cy w h``, polygons ``cls x1 y1 …`` in the same file;
  keypoint mode (keypoint rows linked to boxes by ``parent_id``, or a KeyPointLabels
  config) appends K ``x y v`` triplets ordered by ``model_index`` (``0.0 0.0 0`` if absent).
- YOLO_OBB: every rectangle as ``cls x1 y1 … x4 y4`` corners computed in pixels.

Where the SDK is wrong we differ on purpose: all annotation sets of a task go into its one
label file (the SDK keeps only the oldest); rectangles without rotation are still written
as OBB; a rotated rectangle in plain YOLO becomes its enclosing box computed in pixels and
is reported (the SDK drops the rotation); polygon lines read back as polygons; polygons are
not written into OBB files (not valid OBB; reported) but OBB import accepts them; label
files are keyed by relative name (no basename collisions). The reader takes a 6th box
field as a score, as the SDK's importer does.
"""
from __future__ import annotations

import datetime as _dt
import posixpath

import numpy as np
import orjson
import pandas as pd

from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from ..core.parsing import json_error
from . import yolo_codecs as codecs
from .registry import FormatSpec, register
from .yolo_common import class_list, parse
from .yolo_layout import build, line_items, pair, plan, sizes, write_labels


# -- export --------------------------------------------------------------------------------------
def _keypoint_labels(ds) -> list[str]:
    """Keypoint label names in ``model_index`` order (labels table), else in order of use."""
    lab = ds.labels
    kp = lab[(lab["type"] == "points") & lab["parent"].isna()]
    if len(kp):
        mi = [(e or {}).get("model_index") for e in kp["extra"].tolist()]
        order = [float(m) if m is not None else np.inf for m in mi]
        names = [n for _, _, n in sorted(zip(order, range(len(order)), kp["name"].tolist(), strict=True))]
        return list(dict.fromkeys(names))
    a = ds.annotations
    return list(dict.fromkeys(a.loc[(a["type"] == "points") & a["parent_id"].notna(), "label"].tolist()))


def _keypoint_mode(ds, options: dict) -> bool:
    if "keypoints" in options:
        return bool(options["keypoints"])
    a = ds.annotations
    kids = a[(a["type"] == "points") & a["parent_id"].notna()]
    if len(kids) and kids["parent_id"].isin(a.loc[a["type"] == "bbox", "ann_id"]).any():
        return True
    lab = ds.labels
    ctl = [(e or {}).get("control", "") for e in lab.loc[lab["type"] == "points", "extra"].tolist()]
    return any(str(c).lower() == "keypointlabels" for c in ctl)


def _writer(obb: bool, images: bool):
    def write(ds, sink, ctx) -> None:
        if images:
            ctx.save_images = True
        kp_mode = _keypoint_mode(ds, ctx.options)
        if kp_mode:  # LS: a KeyPointLabels config limits the classes to the rectangle labels
            base = class_list(ds, sort=True, types=("rectangle",))
            classes = codecs.export_classes(ds, base, ("bbox",), sort=True)
            types: tuple[str, ...] = ("bbox",)
        else:
            classes = codecs.export_classes(ds, class_list(ds, sort=True), ("bbox", "polygon"), sort=True)
            types = ("bbox",) if obb else ("bbox", "polygon")
        # LS has no subsets: keys are unique over the whole export
        p = plan(ds, lambda s, k: f"labels/{k}.txt", lambda s, k, e: f"images/{k}{e}", per_subset=False)
        rows, W, H = codecs.prepare(ds, ctx, classes, types, children=kp_mode and not obb)
        if obb:
            lines = codecs.encode_obb(rows)
            kp_mode = False
            order = np.arange(len(rows.a))
        elif kp_mode:
            kps = _keypoint_labels(ds)
            a = ds.annotations
            ch = a[a["parent_id"].isin(rows.a["ann_id"]) & (a["type"] == "points")]
            slot = pd.Index(kps).get_indexer(ch["label"])
            ctx.report.add_mask("annotations", ch, slot < 0, "keypoint label is not among the keypoint labels "
                                "(labels of type points)", key="ann_id")
            ctx.report.add_mask("annotations", ch, (slot >= 0) & ch["outside"].to_numpy(dtype=bool),
                                "absent (outside) keypoint: written as 0 0 0, which reads back as no point",
                                key="ann_id")
            kp = codecs.keypoint_block(rows, ch, slot, len(kps), visible_only=True, report=ctx.report)
            box = rows.a
            vals = np.stack([(box["x"] + box["w"] / 2) / rows.W, (box["y"] + box["h"] / 2) / rows.H,
                             box["w"] / rows.W, box["h"] / rows.H], axis=1)
            rotated = np.mod(box["rotation"].to_numpy(dtype=float), 360.0) != 0
            if rotated.any():
                from ..core import geometry

                ex, ey, ew, eh = geometry.enclosing_box(*(box[c].to_numpy(dtype=float)
                                                          for c in ("x", "y", "w", "h", "rotation")))
                vals[rotated] = np.stack([(ex + ew / 2) / rows.W, (ey + eh / 2) / rows.H, ew / rows.W,
                                          eh / rows.H], axis=1)[rotated]
                ctx.report.add("annotations", box.loc[rotated, "ann_id"],
                               "rotated box written as its axis-aligned enclosing box (rotation approximated)")
            lines = codecs.format_pose(rows.cls, vals, kp)
            order = np.arange(len(rows.a))
        else:
            poly = (rows.a["type"] == "polygon").to_numpy()
            bl = codecs.encode_boxes(rows.take(~poly), ctx)
            from .yolo_ul_seg import encode_shapes

            pidx, pl = encode_shapes(rows.take(poly), ctx)
            idx = np.concatenate([np.flatnonzero(~poly), np.flatnonzero(poly)[pidx]])
            lines = bl + pl
            order = idx
        srt = np.argsort(order, kind="stable")
        lines = [lines[i] for i in srt.tolist()]
        pos = rows.pos[np.sort(order)] if len(order) else rows.pos[:0]
        write_labels(ds, sink, ctx, p, pos, lines, W, H)
        sink.write_text("classes.txt", "".join(c + "\n" for c in classes))
        cats = [{"id": i, "name": c} for i, c in enumerate(classes)]
        if kp_mode:
            for c in cats:
                c["keypoints"] = _keypoint_labels(ds)
        info = {"year": _dt.date.today().year, "version": "1.0", "contributor": "Label Studio"}
        sink.write_bytes("notes.json", orjson.dumps({"categories": cats, "info": info}, option=orjson.OPT_INDENT_2))

    return write


# -- import --------------------------------------------------------------------------------------
def _read(obb: bool):
    def read(source, **options):
        cls_rel = sorted(source.glob("classes.txt", "*/classes.txt"), key=lambda r: r.count("/"))
        if not cls_rel:
            raise FormatError(source.url, "no classes.txt found (Label Studio YOLO layout)")
        base = posixpath.dirname(cls_rel[0])
        pre = base + "/" if base else ""
        classes = [ln.strip() for ln in source.read_text(cls_rel[0]).splitlines() if ln.strip()]
        kps: list[str] = []
        if source.exists(pre + "notes.json"):
            try:
                notes = orjson.loads(source.read_bytes(pre + "notes.json"))
                cats = notes.get("categories") or []
            except (orjson.JSONDecodeError, AttributeError) as exc:
                raise json_error(source.display(pre + "notes.json"), exc) from exc
            kps = next((c.get("keypoints") for c in cats if c.get("keypoints")), []) or []
        lrels = [f for f in source.files if f.startswith(pre + "labels/") and f.endswith(".txt")]
        with gc_paused():
            found = pair(source, [("default", pre + "labels", pre + "images", lrels)])
            lines = parse(source, [r for r in found.label if r is not None])
            cls = lines.class_ids(len(classes)) if len(lines) else np.zeros(0, dtype=np.int64)
            item = line_items(lines, found)
            used = np.zeros(len(found), dtype=bool)
            used[item] = True
            W, H = sizes(source, found, used, options)
            iw, ih = W[item], H[item]
            names = np.asarray(classes, dtype=object)
            parts = []
            n = lines.n
            if kps and not obb:
                k = len(kps)
                lines.require(n == 5 + 3 * k, f"{5 + 3 * k} (class cx cy w h and {k} keypoints x y v)")
                sel = np.ones(len(lines), dtype=bool)
                box = codecs.decode_boxes(lines, sel, iw, ih)
                ref = np.arange(len(lines), dtype=np.int64)
                parts.append(dict(box, item=item, label=names[cls], ref=ref, parent_ref=np.full(len(lines), np.nan)))
                px, py, vis = codecs.decode_keypoints(lines, sel, iw, ih, k, 3)
                r, j = np.nonzero(vis > 0)
                parts.append({"item": item[r], "label": np.asarray(kps, dtype=object)[j], "type": "points",
                              "x": px[r, j], "y": py[r, j], "w": 0.0, "h": 0.0,
                              "points": np.stack([px[r, j], py[r, j]], axis=1).tolist(),
                              "ref": np.full(len(r), np.nan), "parent_ref": r.astype(float)})
                labels = pd.DataFrame([{"name": c, "type": "rectangle"} for c in classes]
                                      + [{"name": p, "type": "points", "extra": {"model_index": i}}
                                         for i, p in enumerate(kps)])
            else:
                is_box = (n == 5) | (n == 6)
                is_obb = (n == 9) if obb else np.zeros(len(n), dtype=bool)
                is_poly = (n >= 7) & (n % 2 == 1) & ~is_obb
                lines.require(is_box | is_obb | is_poly, "5 (class cx cy w h), 6 (… score) or an odd count >= 7 "
                                                         "(class and polygon points)" + (" / 9 (OBB)" if obb else ""))
                for sel, dec in ((is_box, codecs.decode_boxes), (is_obb, codecs.decode_obb),
                                 (is_poly, codecs.decode_polygons)):
                    if sel.any():
                        cols = dec(lines, sel, iw[sel], ih[sel])
                        cols.update(item=item[sel], label=names[cls[sel]], order=np.flatnonzero(sel))
                        if dec is codecs.decode_boxes:
                            six = n[sel] == 6
                            sc = np.full(int(sel.sum()), np.nan)
                            sc[six] = lines.values[lines.offsets[:-1][sel][six] + 5]
                            cols["score"] = sc
                        parts.append(cols)
                labels = None
        ds = build(source, found, W, H, parts, classes, labels=labels)
        if "order" in ds.annotations:  # back to file order (boxes, OBBs and polygons interleave)
            a = ds.annotations.sort_values("order", kind="stable").drop(columns="order").reset_index(drop=True)
            a["ann_id"] = pd.array(np.arange(len(a)), dtype="Int64")
            ds.annotations = a
        return ds

    return read


def _detect(obb: bool):
    def detect(source) -> float:
        if not source.glob("classes.txt", "*/classes.txt") or not source.glob("labels/*.txt", "*/labels/*.txt"):
            return 0.0
        counts = []
        for r in source.glob("labels/*.txt", "*/labels/*.txt")[:20]:
            counts += [len(ln.split()) for ln in source.read_text(r).splitlines() if ln.strip()]
        c = np.asarray(counts)
        # YOLO_OBB writes every rectangle as 9 fields (class and 4 corners) and no 5-field box;
        # the SDK also writes polygon lines into it, so a minority of other odd counts is OBB too
        # (plain YOLO writes boxes as 5 fields; only its 4-point polygons have 9).
        obb_like = len(c) > 0 and not np.isin(c, (5, 6)).any() and 2 * int((c == 9).sum()) >= len(c)
        return (0.75 if obb_like else 0.0) if obb else 0.7

    return detect


_DOC = "Label Studio YOLO: classes.txt, notes.json, labels/<image>.txt"
for _name, _obb, _img in (("YOLO", False, False), ("YOLO_WITH_IMAGES", False, True),
                          ("YOLO_OBB", True, False), ("YOLO_OBB_WITH_IMAGES", True, True)):
    register(FormatSpec(
        name=_name, aliases=(), read=_read(_obb), write=_writer(_obb, _img),
        detect=_detect(_obb) if not _img else None,
        shapes=("bbox",) if _obb else ("bbox", "polygon", "points"), family="label_studio",
        description=_DOC + (" (oriented boxes: 4 corners)" if _obb else " (boxes, polygons, keypoints)")
        + (", with images" if _img else ""),
    ))
