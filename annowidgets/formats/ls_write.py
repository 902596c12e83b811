"""Tables -> Label Studio JSON tasks.

Geometry goes back to percent for all rows at once; the rows of one region (same set,
``region_id``, control and result type; consecutive in ``ann_id`` order) become one result
item whose list values (labels, choices, texts, taxonomy paths, video keyframes) are the
rows' values in order. Values the reader kept in ``extra`` (original percentages, the brush
RLE bytes, repaired span offsets, unknown keys) are written back when the table still agrees
with them, so LS -> tables -> LS gives back the input.

Data from other sources gets generated region ids, ``from_name``/``to_name`` defaults
(options ``from_names={type: name}``, ``to_name``), percentages from the item size, CVAT
attributes in the region's ``meta.attributes``, and a :class:`LossReport` for what Label
Studio cannot hold (cuboids, skeletons, group).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import brush, geometry
from ..core.dataset import Dataset
from ..core.loss import LossReport
from .ls_read import DEFAULT_LS_TYPE, ITEM_RESERVED, ROW_RESERVED, SET_RESERVED, TOP_LEVEL

DEFAULT_FROM = {"bbox": "label", "polygon": "polygon", "polyline": "polygon", "points": "keypoint",
                "ellipse": "ellipse", "mask": "brush", "tag": "choice", "text": "textarea", "span": "label",
                "segment": "label", "taxonomy": "taxonomy", "rating": "rating", "number": "number",
                "datetime": "datetime", "video": "box"}
LABEL_KEYS = {"rectanglelabels", "polygonlabels", "keypointlabels", "ellipselabels", "brushlabels", "labels",
              "timeserieslabels", "hypertextlabels", "paragraphlabels", "timelinelabels", "videorectangle"}
UNSUPPORTED = ("cuboid", "skeleton", "cuboid_3d")
_VERBATIM_SPANS = ("hypertextlabels", "paragraphlabels")  # value kept verbatim, labels from the column
_SHAPES = frozenset(("bbox", "polygon", "polyline", "points", "ellipse", "mask"))
_EMPTY: dict = {}


def _na(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _close(a, b) -> bool:
    try:
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        return False
    if a.shape != b.shape:
        return False
    return bool(np.all((np.abs(a - b) <= 1e-6) | (np.isnan(a) & np.isnan(b))))


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


class Writer:
    """Build Label Studio task dicts from a :class:`Dataset`."""

    def __init__(self, ds: Dataset, report: LossReport | None = None, options: dict | None = None):
        self.ds = ds
        self.report = report if report is not None else LossReport("Label Studio JSON")
        self.opt = options or {}
        self.from_names = {**DEFAULT_FROM, **(self.opt.get("from_names") or {})}
        self.to_name = self.opt.get("to_name")
        self.threshold = int(self.opt.get("mask_threshold", 1))

    # -- preparation ----------------------------------------------------------------------
    def _sets(self, ann: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Sets for annotation rows without one: one per item, source and model version."""
        sets = self.ds.sets
        miss = ann["set_id"].isna()
        if not miss.any():
            return ann, sets
        sub = ann.loc[miss, ["item_id", "source", "model_version", "annotator"]].astype(object)
        sub = sub.where(sub.notna(), "\0")
        key = sub.groupby(["item_id", "source", "model_version", "annotator"], sort=False).ngroup()
        start = int(sets["set_id"].max()) + 1 if len(sets) else 0
        ann = ann.copy()
        ann.loc[miss, "set_id"] = (key + start).to_numpy()
        first = ann.loc[miss].drop_duplicates("set_id")
        new = pd.DataFrame({"set_id": first["set_id"], "item_id": first["item_id"], "source": first["source"],
                            "annotator": first["annotator"], "model_version": first["model_version"],
                            "extra": [{"ls_no_id": True}] * len(first)})
        sc = ann.loc[miss].groupby("set_id")["score"].max()  # no set score; keep region scores only
        del sc
        sets = pd.concat([sets, Dataset(sets=new).sets], ignore_index=True)
        return ann, sets

    def _pct(self, ann: pd.DataFrame, items: pd.DataFrame) -> dict[str, np.ndarray]:
        """Percent geometry of every row (box top-left/rotation, ellipse centre/radii, point)."""
        idx = pd.Index(items["item_id"]).get_indexer(ann["item_id"])
        W = items["width"].astype("float64").to_numpy()[idx]
        H = items["height"].astype("float64").to_numpy()[idx]
        ex = ann["extra"].tolist()
        for i, e in enumerate(ex):  # a result whose size differs from its item's
            if e and e.get("original_width") is not None and e.get("original_height") is not None:
                W[i], H[i] = e["original_width"], e["original_height"]
        x, y, w, h, rot = (ann[c].to_numpy(dtype=float) for c in ("x", "y", "w", "h", "rotation"))
        typ = ann["type"].to_numpy(dtype=object)
        tx, ty = geometry.centre_to_topleft(x, y, w, h, rot)
        # percent geometry per row: box (x, y, width, height of the corner-rotated box) or ellipse
        # (centre, radii) or keypoint (x, y)
        g = np.stack([geometry.px_to_pct(tx, W), geometry.px_to_pct(ty, H),
                      geometry.px_to_pct(w, W), geometry.px_to_pct(h, H)], axis=1)
        e = typ == "ellipse"
        if e.any():
            g[e] = np.stack([geometry.px_to_pct(x[e] + w[e] / 2, W[e]), geometry.px_to_pct(y[e] + h[e] / 2, H[e]),
                             geometry.px_to_pct(w[e] / 2, W[e]), geometry.px_to_pct(h[e] / 2, H[e])], axis=1)
        k = np.flatnonzero(typ == "points")
        pts = ann["points"].tolist()
        for i in k.tolist():
            p = pts[i]
            if p is not None and len(p) >= 2:
                g[i, 0], g[i, 1] = p[0] * 100.0 / W[i], p[1] * 100.0 / H[i]
            else:
                g[i, 0], g[i, 1] = x[i] * 100.0 / W[i], y[i] * 100.0 / H[i]
        # where the reader kept the source's percentages and the table still agrees, write those
        keep = [(i, e["ls_pct"]) for i, e in enumerate(ex) if e and e.get("ls_pct") is not None]
        glist = g.tolist()
        if keep:
            idx = np.fromiter((i for i, _ in keep), dtype=np.int64, count=len(keep))
            orig = np.full((len(keep), 4), np.nan)
            for j, (_, o) in enumerate(keep):
                orig[j, :len(o)] = [np.nan if v is None else v for v in o]
            cur = g[idx]
            n = np.array([len(o) for _, o in keep])
            cur[n < 4, 2:] = np.nan
            same = ((np.abs(cur - orig) <= 1e-6) | np.isnan(orig) & np.isnan(cur) | np.isnan(cur)).all(axis=1)
            for j in np.flatnonzero(same).tolist():
                i, o = keep[j]
                glist[i] = list(o) + [None] * (4 - len(o))
        for i, row in enumerate(glist):
            if row[0] != row[0] or row[2] != row[2] or row[1] != row[1] or row[3] != row[3]:
                glist[i] = [None if v is None or v != v else v for v in row]
        return {"W": W, "H": H, "g": glist}

    def _report_losses(self, ann: pd.DataFrame) -> pd.DataFrame:
        r = self.report
        bad = ann["type"].isin(UNSUPPORTED)
        r.add_mask("annotations", ann, bad, "Label Studio JSON has no cuboid, 3D cuboid or skeleton result", key="ann_id")
        # a skeleton's points go on as loose keypoints; an absent one (outside, not a track) would
        # come back visible, as LS keypoints have no visibility: it is left out instead
        kid = ann["parent_id"].notna() & ann["parent_id"].isin(ann.loc[ann["type"] == "skeleton", "ann_id"])
        absent = kid & ann["outside"].fillna(False).astype(bool) & ann["track_id"].isna()
        r.add_mask("annotations", ann, absent, "absent (outside) point of a skeleton: Label Studio keypoints have "
                   "no visibility, so it is not written", key="ann_id")
        r.add_mask("annotations", ann, kid & ~absent, "point of a skeleton written as a loose keypoint (the link "
                   "to its skeleton is not kept)", key="ann_id")
        bad |= absent
        track = ann["track_id"].notna()  # one LS sequence region per track: no per-keyframe meta
        r.add_mask("annotations", ann, (ann["z_order"] != 0) & track,
                   "z_order of a track keyframe has no place in a Label Studio video sequence", key="ann_id")
        r.add_mask("annotations", ann, ann["occluded"] & track,
                   "occluded of a track keyframe has no place in a Label Studio video sequence", key="ann_id")
        r.add_mask("annotations", ann, ann["group"].notna(), "CVAT group has no place in Label Studio JSON",
                   key="ann_id")
        multi = (ann["type"] == "points") & ann["points"].map(lambda p: p is not None and len(p) > 2)
        r.add_mask("annotations", ann, multi.to_numpy(),
                   "a Label Studio keypoint holds one point: only the first point of a multi-point shape is written",
                   key="ann_id")
        geo = ann["type"].isin(["bbox", "polygon", "polyline", "points", "ellipse", "mask"])
        return ann[~bad].reset_index(drop=True), geo

    # -- building -----------------------------------------------------------------------------
    def tasks(self) -> list[dict]:
        ds = self.ds
        items = ds.items
        ann = ds.annotations
        if not getattr(ds, "_order", False):  # collapse_video_frames already ordered the rows
            ann = ann.sort_values("ann_id", kind="stable")
        ann = ann.reset_index(drop=True)
        ann, sets = self._sets(ann)
        ann, _ = self._report_losses(ann)
        pct = self._pct(ann, items)
        no_size = ann["type"].isin(["bbox", "polygon", "polyline", "points", "ellipse", "mask"]) & np.isnan(
            pct["W"]) & ~ann["extra"].map(lambda e: bool(e) and ("ls_pct" in e or "ls_points" in e))
        self.report.add_mask("annotations", ann, no_size.to_numpy(),
                             "item has no width/height: percent coordinates unknown", key="ann_id")
        self.pct = pct
        self.items_by_id = {iid: i for i, iid in enumerate(items["item_id"].tolist())}
        self.item_w = items["width"].astype("float64").to_numpy()
        self.item_h = items["height"].astype("float64").to_numpy()
        self.item_extra = items["extra"].tolist()
        self.item_dur = items["duration"].to_numpy(dtype=float)
        self.item_kind = items["kind"].tolist()
        # region ids: keep the source's; generate for the others (tracks share one)
        reg = np.array(ann["region_id"].astype(object).tolist(), dtype=object)
        miss = pd.isna(reg)
        if miss.any():
            trk = ann["track_id"].to_numpy(dtype=object)
            gen = np.array([f"t{t}" if not _na(t) else f"a{a}" for t, a in
                            zip(trk[miss], ann["ann_id"].to_numpy()[miss], strict=True)], dtype=object)
            reg[miss] = gen
        self.reg = reg
        ann_row = {a: i for i, a in enumerate(ann["ann_id"].tolist())}
        self.parent_region = [None if _na(p) else reg[ann_row[p]] if p in ann_row else None
                              for p in ann["parent_id"].tolist()]
        cols = {c: ann[c].tolist() for c in ("ann_id", "item_id", "set_id", "label", "type", "from_name",
                                               "to_name", "origin", "score", "extra", "points", "mask", "start",
                                               "end", "text", "value", "frame", "track_id", "rotation",
                                               "outside", "attributes")}
        self.c = cols
        self._prepare(ann, items)
        # group rows into result items (consecutive rows of one set, region, control and type) …
        lt = self.lt
        new = np.zeros(len(ann), bool)
        new[:1] = True
        if len(ann) > 1:
            for col in (ann["set_id"].astype("float64").to_numpy(), reg, np.array(self.fn, dtype=object),
                        np.array(lt, dtype=object)):
                new[1:] |= col[1:] != col[:-1]
        starts = np.flatnonzero(new).tolist() + [len(ann)]
        # … and result items into sets
        set_rows: dict = {}
        set_col = cols["set_id"]
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            set_rows.setdefault(set_col[a], []).append((lt[a], list(range(a, b))))
        rel_by_set: dict = {}
        r = ds.relations
        for s, fr, to, d, lab, ex in zip(r["set_id"].tolist(), r["from_region"].tolist(), r["to_region"].tolist(),
                                         r["direction"].tolist(), r["labels"].tolist(), r["extra"].tolist(),
                                         strict=True):
            ex = dict(ex or {})
            pos = ex.pop("index", None)
            item = {"type": "relation", "from_id": fr, "to_id": to}
            if not ex.pop("ls_no_direction", False):
                item["direction"] = d
            if not ex.pop("ls_no_labels", False):
                item["labels"] = list(lab) if lab is not None else []
            item.update(ex)
            rel_by_set.setdefault(s, []).append((pos, item))
        # sets per item, in table order
        by_item: dict = {}
        for rec in _records(sets):
            by_item.setdefault(rec["item_id"], []).append(rec)
        out = []
        for it_i, it in enumerate(_records(items)):
            out.append(self._task(it, it_i, by_item.get(it["item_id"], []), set_rows, rel_by_set))
        return out

    def _prepare(self, ann: pd.DataFrame, items: pd.DataFrame) -> None:
        """Per-row values of the result items, computed per column instead of per row."""
        typ = ann["type"]
        extra = self.c["extra"]
        lt = typ.map(DEFAULT_LS_TYPE).astype(object)
        lt[typ == "polyline"] = "polygonlabels"
        lt[(typ == "bbox") & ann["track_id"].notna()] = "videorectangle"
        lt = np.array(lt.where(lt.notna(), "other").tolist(), dtype=object)
        has_ex = [i for i, e in enumerate(extra) if e]
        for i in has_ex:
            t = extra[i].get("ls_type")
            if t:
                lt[i] = t
        self.lt = lt.tolist()
        kind = items["kind"].to_numpy(dtype=object)[pd.Index(items["item_id"]).get_indexer(ann["item_id"])]
        fn_default = pd.Series(np.where(lt == "videorectangle", "video", typ.to_numpy(dtype=object))).map(
            self.from_names).fillna("label")
        fn = ann["from_name"].astype(object)
        self.fn = fn.where(fn.notna(), fn_default.to_numpy()).tolist()
        tn_default = self.to_name or pd.Series(kind).map({"audio": "audio", "video": "video", "text": "text"}).fillna(
            "image").to_numpy()
        tn = ann["to_name"].astype(object)
        self.tn = tn.where(tn.notna(), tn_default).tolist()
        origin = ann["origin"].astype(object)
        self.origin = origin.where(origin.notna(), None).tolist()
        score = ann["score"].to_numpy(dtype=float)
        self.score = [None if v != v else v for v in score.tolist()]
        for i in has_ex:
            if extra[i].get("ls_score_from_set"):
                self.score[i] = None
        W, H = self.pct["W"], self.pct["H"]
        sized = np.isin(kind, ["image", "video_frame", "video"]) & ~np.isnan(W)
        self.size = [(int(w), int(h)) if ok else None for ok, w, h in
                     zip(sized.tolist(), np.nan_to_num(W).tolist(), np.nan_to_num(H).tolist(), strict=True)]
        self.img_rot = (kind != "video").tolist()
        self.rot = ann["rotation"].tolist()
        single = ann["track_id"].isna().to_numpy()  # tracks: reported, see _report_losses
        self.zo = [int(v) for v in (ann["z_order"].fillna(0).to_numpy(dtype=float) * single).tolist()]
        self.occ = (ann["occluded"].fillna(False).to_numpy(dtype=bool) & single).tolist()

    def _task(self, it: dict, it_i: int, sets: list, set_rows: dict, rel_by_set: dict) -> dict:
        ex = dict(it["extra"] or {})
        data = it["data"]
        if not isinstance(data, dict):
            key = {"image": "image", "video_frame": "image", "audio": "audio", "video": "video"}.get(it["kind"],
                                                                                                  "text")
            data = {key: it["media"] if not _na(it["media"]) else it["name"]}
        task: dict = {}
        if not ex.get("ls_no_id"):
            task["id"] = ex["ls_id"] if "ls_id" in ex else int(it["item_id"])
        task["data"] = data
        lists = ex.get("ls_lists", ["annotations", "predictions"])
        for k, v in ex.items():
            if k not in ITEM_RESERVED:
                task[k] = v
        ann_key = "completions" if "completions" in lists else "annotations"
        for k in lists:
            task[k] = []
        for s in sets:
            src = s["source"]
            obj = self._set(s, set_rows.get(s["set_id"], []), rel_by_set.get(s["set_id"], []), it_i)
            k = ann_key if src == "annotation" else "predictions"
            task.setdefault(k, []).append(obj)
        return task

    def _set(self, s: dict, groups: list, rels: list, it_i: int) -> dict:
        ex = dict(s["extra"] or {})
        obj: dict = {}
        if not ex.get("ls_no_id"):
            obj["id"] = ex["ls_id"] if "ls_id" in ex else int(s["set_id"])
        result = [self._result(lt, rows, it_i) for lt, rows in groups]
        if rels:
            tail = []
            for pos, item in sorted(rels, key=lambda t: (t[0] is None, t[0] or 0)):
                if pos is None or pos > len(result):
                    tail.append(item)
                else:
                    result.insert(pos, item)
            result.extend(tail)
        obj["result"] = result
        if s["source"] == "annotation":
            if "completed_by" in ex:
                obj["completed_by"] = ex["completed_by"]
            elif not _na(s["annotator"]):
                a = s["annotator"]
                obj["completed_by"] = int(a) if str(a).isdigit() else a
            missing = ex.get("ls_missing", [])
            cancel_key = ex.get("ls_cancel_key", "was_cancelled")
            if cancel_key not in missing:
                obj[cancel_key] = bool(s["cancelled"])
            if "ground_truth" not in missing:
                obj["ground_truth"] = bool(s["ground_truth"])
        else:
            if not _na(s["model_version"]):
                obj["model_version"] = s["model_version"]
            if not _na(s["score"]):
                obj["score"] = float(s["score"])
        if not _na(s["created"]):
            obj["created_at"] = int(s["created"]) if ex.get("ls_int_created") else s["created"]
        if not _na(s["updated"]):
            obj["updated_at"] = s["updated"]
        if not _na(s["lead_time"]):
            obj["lead_time"] = float(s["lead_time"])
        for k, v in ex.items():
            if k not in SET_RESERVED:
                obj[k] = v
        return obj

    # -- one result item -------------------------------------------------------------------------------
    def _result(self, lt: str, rows: list[int], it_i: int) -> dict:
        c = self.c
        i = rows[0]
        ex = c["extra"][i] or _EMPTY
        typ = c["type"][i]
        r: dict = {"id": self.reg[i], "type": lt, "from_name": self.fn[i], "to_name": self.tn[i]}
        if typ == "other" or "ls_value" in ex:
            value = dict(ex.get("ls_value") or {})
        elif lt == "videorectangle":
            value = self._video(rows, ex, it_i)
        elif typ in _SHAPES:
            value = self._shape(typ, i, ex)
        else:
            value = self._classification(typ, lt, rows, ex)
        if (lt in LABEL_KEYS and lt != "videorectangle" and ("ls_value" not in ex or lt in _VERBATIM_SPANS)
                and not ex.get("ls_no_labels")):
            labels = c["label"]
            value[lt] = [labels[i]] if len(rows) == 1 and labels[i] != "" else [
                labels[j] for j in rows if labels[j] != ""]
        if ex:
            for k, v in ex.items():
                if k in TOP_LEVEL:
                    r[k] = v
                elif k not in ROW_RESERVED and not k.startswith("ls_"):
                    value.setdefault(k, v)
            r["value"] = value
            r.update(ex.get("ls_result") or {})
            if "original_width" in ex:
                r["original_width"], r["original_height"] = ex["original_width"], ex["original_height"]
            elif not ex.get("ls_no_size") and self.size[i]:
                r["original_width"], r["original_height"] = self.size[i]
            if ("original_width" in r and not ex.get("ls_no_image_rotation") and "image_rotation" not in r
                    and self.img_rot[i]):
                r["image_rotation"] = 0
        else:
            r["value"] = value
            size = self.size[i]
            if size:
                r["original_width"], r["original_height"] = size
                if self.img_rot[i]:
                    r["image_rotation"] = 0
        attrs = c["attributes"][i]
        if attrs and isinstance(attrs, dict):
            meta = dict(r.get("meta") or {})
            meta["attributes"] = attrs
            r["meta"] = meta
        if self.zo[i] or self.occ[i]:  # CVAT's z_order / occluded: kept where LS keeps region metadata
            meta = dict(r.get("meta") or {})
            meta["cvat"] = {**({"z_order": self.zo[i]} if self.zo[i] else {}),
                            **({"occluded": True} if self.occ[i] else {})}
            r["meta"] = meta
        if self.origin[i] is not None:
            r["origin"] = self.origin[i]
        if self.score[i] is not None:
            r["score"] = self.score[i]
        parent = ex.get("parentID") or self.parent_region[i]
        if parent is not None:
            r["parentID"] = parent
        return r

    def _default_to(self, it_i: int) -> str:
        return {"audio": "audio", "video": "video", "text": "text"}.get(self.item_kind[it_i], "image")

    def _shape(self, typ: str, i: int, ex: dict) -> dict:
        p = self.pct
        v: dict = {}
        g = p["g"][i]
        if typ == "bbox":
            v = {"x": g[0], "y": g[1], "width": g[2], "height": g[3]}
            if not ex.get("ls_no_rotation"):
                v["rotation"] = self.rot[i]
        elif typ == "ellipse":
            v = {"x": g[0], "y": g[1], "radiusX": g[2], "radiusY": g[3]}
            if not ex.get("ls_no_rotation"):
                v["rotation"] = self.rot[i]
        elif typ == "points" and ("ls_type" not in ex or "keypoint" in ex["ls_type"]):
            v.update(x=g[0], y=g[1])
            if "width" not in ex:
                v["width"] = 0.5  # marker size only; no geometry meaning
        elif typ in ("polygon", "polyline", "points"):
            pts = np.asarray(self.c["points"][i] if self.c["points"][i] is not None else [], dtype=float)
            W, H = p["W"][i], p["H"][i]
            pairs = (pts.reshape(-1, 2) * np.array([100.0 / W, 100.0 / H])).tolist()
            orig_pts = ex.get("ls_points")
            if orig_pts is not None and (_close(pairs, orig_pts) or not pts.size or np.isnan(W)):
                pairs = orig_pts
            v["points"] = pairs
            if typ == "polyline" and "closed" not in ex:
                v["closed"] = False
        elif typ == "mask":
            v["format"] = "rle"
            v["rle"] = self._rle(i, ex)
            if ex.get("ls_no_format"):
                del v["format"]
        return v

    def _rle(self, i: int, ex: dict) -> list:
        m = self.c["mask"][i]
        old = ex.get("rle")
        if m is None:
            return old or []
        h, w = (int(s) for s in m["size"])
        if old is not None:
            try:
                alpha = brush.decode(old, h, w)
                if brush.to_coco(alpha, self.threshold)["counts"] == (
                        m["counts"] if isinstance(m["counts"], str) else brush.to_coco(brush.from_coco(m))["counts"]):
                    return old
            except Exception:  # noqa: BLE001 - a stale or foreign rle is re-encoded below
                pass
        return brush.encode(brush.from_coco(m).astype(bool))

    def _classification(self, typ: str, lt: str, rows: list[int], ex: dict) -> dict:
        c = self.c
        v: dict = {}
        if typ == "tag":
            v["choices"] = [c["label"][j] for j in rows if c["label"][j] != ""]
        elif typ == "text":
            texts = [c["text"][j] for j in rows if not _na(c["text"][j])]
            v["text"] = texts[0] if ex.get("ls_text_str") and texts else texts
        elif typ == "taxonomy":
            v["taxonomy"] = [(c["extra"][j] or {}).get("path", [c["label"][j]]) for j in rows
                             if (c["extra"][j] or {}).get("path") or c["label"][j] != ""]
        elif typ in ("rating", "number"):
            val = c["value"][rows[0]]
            if not _na(val):
                v[typ] = int(val) if typ == "rating" and float(val).is_integer() else float(val)
        elif typ == "datetime":
            if not _na(c["text"][rows[0]]):
                v["datetime"] = c["text"][rows[0]]
        elif typ in ("span", "segment"):
            i = rows[0]
            if lt == "timelinelabels":
                v["ranges"] = ex.get("ls_ranges") or [{"start": _num_out(c["start"][i], True),
                                                       "end": _num_out(c["end"][i], True)}]
                v["timelinelabels"] = [c["label"][j] for j in rows if c["label"][j] != ""]
                return v
            span = typ == "span"
            if "ls_start_raw" in ex:
                v["start"] = ex["ls_start_raw"]
            elif "ls_start" in ex:
                v["start"] = ex["ls_start"]
            elif not _na(c["start"][i]):
                v["start"] = _num_out(c["start"][i], span)
            if "ls_end_raw" in ex:
                v["end"] = ex["ls_end_raw"]
            elif "ls_end" in ex:
                v["end"] = ex["ls_end"]
            elif not _na(c["end"][i]):
                v["end"] = _num_out(c["end"][i], span)
            if span and not _na(c["text"][i]):
                v["text"] = c["text"][i]
        return v

    def _video(self, rows: list[int], ex: dict, it_i: int) -> dict:
        c, p = self.c, self.pct
        v: dict = {}
        iex = self.item_extra[it_i] or {}
        if "ls_frames_count" in ex:
            if ex["ls_frames_count"] is not None:
                v["framesCount"] = ex["ls_frames_count"]
        elif "frames_count" in iex:
            v["framesCount"] = iex["frames_count"]
        if "ls_duration" in ex:
            if ex["ls_duration"] is not None:
                v["duration"] = ex["ls_duration"]
        elif self.item_dur[it_i] == self.item_dur[it_i]:
            v["duration"] = float(self.item_dur[it_i])
        seq = []
        if not ex.get("ls_empty_sequence"):
            for j in rows:
                e = c["extra"][j] or {}
                vals = p["g"][j]
                kf: dict = {}
                if not _na(c["frame"][j]):
                    kf["frame"] = int(c["frame"][j]) + 1
                kf["enabled"] = e["enabled"] if "enabled" in e else not bool(c["outside"][j])
                if not e.get("ls_no_rotation"):
                    kf["rotation"] = c["rotation"][j]
                kf.update(x=vals[0], y=vals[1], width=vals[2], height=vals[3])
                if "time" in e:
                    kf["time"] = e["time"]
                kf.update(e.get("ls_keyframe") or {})
                seq.append(kf)
        v["sequence"] = seq
        if not ex.get("ls_no_labels"):
            v["labels"] = ex["ls_labels"] if "ls_labels" in ex else [c["label"][rows[0]]] if c["label"][
                rows[0]] != "" else []
        return v


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts with plain Python values (NA -> None), faster than ``to_dict('records')``."""
    cols = list(df.columns)
    vals = []
    for c in cols:
        s = df[c]
        if s.dtype == object:
            vals.append(s.tolist())
        else:
            vals.append(s.astype(object).where(s.notna(), None).tolist())
    return [dict(zip(cols, row, strict=True)) for row in zip(*vals, strict=True)]


def _f(v):
    v = _jsonable(v)
    return None if isinstance(v, float) and v != v else v


def _num_out(v, as_int: bool):
    v = float(v)
    return int(v) if as_int and v.is_integer() else v


def collapse_video_frames(ds: Dataset, report: LossReport) -> Dataset:
    """One video item per task for datasets whose items are video frames (CVAT for video).

    Label Studio has one task per video; its regions are ``videorectangle`` keyframe sequences.
    Track rows keep their track; a box outside any track becomes a one-keyframe sequence; other
    shapes on video frames are reported (Label Studio video holds rectangles only); frame tags
    become whole-video choices.
    """
    items = ds.items
    vf = items["kind"].eq("video_frame").to_numpy()
    if not vf.any():
        return ds
    frames = items[vf]
    task_key = frames["task"].astype("float64").fillna(-1).to_numpy()
    groups = pd.Series(task_key).drop_duplicates().tolist()
    next_id = int(items["item_id"].max()) + 1
    tasks = ds.tasks.set_index("task_id") if len(ds.tasks) else None
    new_items, item_map, start = [], {}, {}
    source = (ds.info.get("meta_extra") or {}).get("source") if len(groups) == 1 else None
    for g in groups:
        sel = frames[task_key == g]
        first = sel.sort_values("frame", kind="stable").iloc[0]
        vid = int(g) if g >= 0 and not items["item_id"].eq(int(g)).any() else next_id
        next_id = max(next_id, vid + 1)
        name = stop = None
        if tasks is not None and g >= 0 and int(g) in tasks.index:
            name = tasks.loc[int(g), "name"] or None
            stop = tasks.loc[int(g), "stop_frame"]
        name = name or f"task_{int(g) if g >= 0 else vid}"
        # CVAT frame numbers are the video's own (absolute), so Label Studio frame = CVAT frame + 1 and
        # the video has at least stop_frame + 1 frames
        last = int(sel["frame"].max()) if sel["frame"].notna().any() else len(sel) - 1
        count = int(stop) + 1 if not _na(stop) else last + 1
        media = source if isinstance(source, str) and source else name
        new_items.append({"item_id": vid, "name": name, "media": media, "task": None if g < 0 else int(g),
                          "subset": first["subset"], "kind": "video", "width": first["width"],
                          "height": first["height"], "extra": {"frames_count": max(count, last + 1)}})
        for iid, fr in zip(sel["item_id"].tolist(), sel["frame"].tolist(), strict=True):
            item_map[iid] = vid
            start[iid] = 0 if _na(fr) else int(fr)
    ann = ds.annotations.copy()
    on_video = ann["item_id"].isin(list(item_map)).to_numpy()
    bad = on_video & ~ann["type"].isin(["bbox", "tag"]).to_numpy()
    report.add_mask("annotations", ann, bad, "Label Studio video holds rectangles only (videorectangle)",
                    key="ann_id")
    tags = on_video & ann["type"].eq("tag").to_numpy()
    report.add_mask("annotations", ann, tags, "a frame tag becomes a whole-video choice (frame lost)", key="ann_id")
    ann = ann[~bad].copy()
    on_video = ann["item_id"].isin(list(item_map)).to_numpy()
    rel = ann["item_id"].map(start)
    ann.loc[on_video, "frame"] = rel[on_video].astype("Int64")
    ann.loc[on_video, "item_id"] = ann.loc[on_video, "item_id"].map(item_map)
    boxes = on_video & ann["type"].eq("bbox").to_numpy()
    lone = boxes & ann["track_id"].isna().to_numpy()
    if lone.any():
        t0 = int(ann["track_id"].max()) + 1 if ann["track_id"].notna().any() else 0
        ann.loc[lone, "track_id"] = np.arange(t0, t0 + int(lone.sum()))
    # a track's rows must be consecutive to become one sequence: order by item, track, frame
    ann["_v"] = on_video
    ann = ann.sort_values(["_v", "item_id", "track_id", "frame", "ann_id"], kind="stable").drop(columns="_v")
    items2 = pd.concat([items[~vf], Dataset(items=pd.DataFrame(new_items)).items], ignore_index=True)
    out = ds.copy()
    out.items = items2
    out.annotations = ann.reset_index(drop=True)
    out._order = True
    return out


def report_hierarchy(ds: Dataset, report: LossReport) -> None:
    """Report what Label Studio tasks have no field for: CVAT tasks/jobs, subsets, image frame
    numbers, and label definitions that did not come from a Label Studio config (attribute
    specs, colours, labels no region uses); a Label Studio export never holds its config.
    """
    if len(ds.tasks):
        report.add("tasks", _ids(ds.tasks, "task_id"),
                   "Label Studio JSON has no tasks (name, mode, frame range, frame filter, segments)")
    if len(ds.jobs):
        report.add("jobs", _ids(ds.jobs, "job_id"), "Label Studio JSON has no jobs")
    items = ds.items
    report.add_mask("items", items, items["subset"].fillna("default").ne("default").to_numpy(),
                    "subset has no place in Label Studio JSON", key="item_id")
    img = items["kind"].ne("video_frame").to_numpy() & items["frame"].notna().to_numpy()
    moved = img & (items["frame"].astype("float64").to_numpy() != np.arange(len(items)))
    report.add_mask("items", items, moved, "the frame number has no place in Label Studio JSON "
                    "(a CVAT export numbers the tasks in order)", key="item_id")
    lab = ds.labels
    foreign = lab["from_name"].isna().to_numpy()
    specs = foreign & lab["attributes"].map(lambda a: bool(a)).to_numpy(dtype=bool)
    report.add_mask("labels", lab, specs, "attribute specs (input type, values, default) have no place in "
                    "Label Studio JSON; each region keeps its values in meta.attributes", key="name")
    report.add_mask("labels", lab, foreign & lab["color"].notna().to_numpy(),
                    "label colours live in the labeling config, not in Label Studio JSON", key="name")
    used = set(ds.annotations["label"].dropna())
    report.add_mask("labels", lab, foreign & ~lab["name"].isin(used).to_numpy(),
                    "a label no region uses does not appear in Label Studio JSON", key="name")


def _ids(df: pd.DataFrame, key: str) -> list:
    return [k if not _na(k) else f"row {i}" for i, k in enumerate(df[key].tolist())]


def build_tasks(ds: Dataset, report: LossReport | None = None, options: dict | None = None) -> list[dict]:
    """Label Studio task dicts for ``ds`` (what the JSON writer dumps and the flat writers flatten)."""
    report = report if report is not None else LossReport("Label Studio JSON")
    report_hierarchy(ds, report)
    return Writer(collapse_video_frames(ds, report), report, options).tasks()


def write(ds: Dataset, sink, ctx) -> None:
    """Write ``result.json`` (a list of tasks), as Label Studio's JSON export does."""
    import orjson

    ctx.step(0.0, "building tasks")
    tasks = build_tasks(ds, ctx.report, ctx.options)
    ctx.step(0.6, "writing result.json")
    opt = orjson.OPT_INDENT_2 if ctx.options.get("indent") else 0
    sink.write_bytes(ctx.options.get("filename", "result.json"), orjson.dumps(tasks, option=opt))
