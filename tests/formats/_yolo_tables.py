"""Test tables for the YOLO family: the Label Studio samples as tables, and synthetic datasets.

``ls_tables`` turns the LS sample ``tasks.json`` + ``config.xml`` into our tables the way
the schema says (pixels, rotation about the centre, keypoints as ``points`` rows whose
``parent_id`` is their box), with a few lines of code of its own, so these tests do not
depend on the Label Studio reader being on this branch.
"""
from __future__ import annotations

import json
import posixpath

import numpy as np
import pandas as pd
from lxml import etree

from annowidgets.core import geometry
from annowidgets.core.dataset import Dataset

_CONTROL = {"rectanglelabels": "rectangle", "polygonlabels": "polygon", "keypointlabels": "points",
            "brushlabels": "mask", "choices": "tag"}


def ls_tables(folder) -> Dataset:
    cfg = etree.parse(str(folder / "config.xml"), etree.XMLParser(resolve_entities=False, no_network=True))
    labels = []
    for el in cfg.getroot():
        kind = _CONTROL.get(el.tag.lower())
        if kind:
            for ch in el:
                extra = {"control": el.tag}
                if ch.get("model_index") is not None:
                    extra["model_index"] = ch.get("model_index")
                labels.append({"name": ch.get("value"), "type": kind, "from_name": el.get("name"), "extra": extra})
    tasks = json.loads((folder / "tasks.json").read_text())
    items, anns, sets = [], [], []
    for t in tasks:
        iid = t["id"]
        items.append({"item_id": iid, "name": posixpath.basename(t["data"]["image"]), "media": t["data"]["image"],
                      "width": 120, "height": 80})
        for key, src in (("annotations", "annotation"), ("completions", "annotation"), ("predictions", "prediction")):
            for a in t.get(key, []):
                sets.append({"set_id": a["id"], "item_id": iid, "source": src,
                             "cancelled": bool(a.get("was_cancelled"))})
                regions = {}
                for r in a["result"]:
                    if r["type"] == "relation":
                        continue
                    v = r["value"]
                    ow, oh = r["original_width"], r["original_height"]
                    row = {"ann_id": len(anns), "item_id": iid, "set_id": a["id"], "source": src,
                           "region_id": r["id"], "from_name": r["from_name"], "score": r.get("score", np.nan)}
                    if r["type"] == "rectanglelabels":
                        x, y = geometry.pct_to_px(v["x"], ow), geometry.pct_to_px(v["y"], oh)
                        w, h = geometry.pct_to_px(v["width"], ow), geometry.pct_to_px(v["height"], oh)
                        rot = v.get("rotation", 0)
                        cx, cy = geometry.topleft_to_centre(x, y, w, h, rot)
                        row.update(type="bbox", label=v["rectanglelabels"][0], x=float(cx), y=float(cy), w=float(w),
                                   h=float(h), rotation=float(rot))
                    elif r["type"] == "polygonlabels":
                        pts = np.asarray(v["points"], float)
                        flat = np.stack([geometry.pct_to_px(pts[:, 0], ow), geometry.pct_to_px(pts[:, 1], oh)],
                                        axis=1).ravel().tolist()
                        bx, by, bw, bh = (float(c[0]) for c in geometry.points_bbox([flat]))
                        row.update(type="polygon", label=v["polygonlabels"][0], points=flat, x=bx, y=by, w=bw, h=bh)
                    elif r["type"] == "keypointlabels":
                        px, py = float(geometry.pct_to_px(v["x"], ow)), float(geometry.pct_to_px(v["y"], oh))
                        row.update(type="points", label=v["keypointlabels"][0], points=[px, py], x=px, y=py, w=0.0,
                                   h=0.0, parent_id=regions.get(r.get("parentID")))
                    elif r["type"] == "brushlabels":
                        row.update(type="mask", label=v["brushlabels"][0])
                    elif r["type"] == "choices":
                        row.update(type="tag", label=v["choices"][0])
                    regions[r["id"]] = row["ann_id"]
                    anns.append(row)
    ann = pd.DataFrame(anns)
    par = ann["parent_id"] if "parent_id" in ann else [None] * len(ann)
    ann["parent_id"] = pd.array([pd.NA if v is None or v != v else int(v) for v in par], dtype="Int64")
    return Dataset(items=pd.DataFrame(items), annotations=ann, labels=pd.DataFrame(labels), sets=pd.DataFrame(sets))


def synthetic(n_items: int = 6, seed: int = 0, rotated: bool = False, polygons: bool = False) -> Dataset:
    """Items in two subsets (two with the same basename in different folders) with boxes/polygons."""
    rng = np.random.default_rng(seed)
    names = ["a/img.jpg", "b/img.jpg"] + [f"img_{i}.png" for i in range(n_items - 2)]
    items = pd.DataFrame({"item_id": np.arange(n_items), "name": names,
                          "subset": ["train" if i % 3 else "val" for i in range(n_items)],
                          "width": rng.integers(50, 2000, n_items), "height": rng.integers(50, 2000, n_items)})
    rows = []
    for it in items.itertuples():
        for _ in range(int(rng.integers(0, 5))):
            w, h = rng.uniform(1, it.width / 2), rng.uniform(1, it.height / 2)
            x, y = rng.uniform(0, it.width - w), rng.uniform(0, it.height - h)
            row = {"item_id": it.item_id, "label": str(rng.choice(["car", "person", "bike"])), "type": "bbox",
                   "x": x, "y": y, "w": w, "h": h,
                   "rotation": float(rng.uniform(0, 359)) if rotated and rng.random() < 0.7 else 0.0}
            if polygons:
                k = int(rng.integers(3, 8))
                px = rng.uniform(0, it.width, k)
                py = rng.uniform(0, it.height, k)
                pts = np.stack([px, py], axis=1).ravel().tolist()
                row.update(type="polygon", points=pts, rotation=0.0, x=px.min(), y=py.min(), w=np.ptp(px),
                           h=np.ptp(py))
            rows.append(row)
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", np.arange(len(ann)))
    labels = pd.DataFrame({"name": ["car", "person", "bike"]})
    return Dataset(items=items, annotations=ann, labels=labels)


def export(ds: Dataset, folder, fmt: str, **kw):
    """Export to a folder (no zip) and return the result; loss warnings are collected, not raised."""
    import warnings

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return ds.export(str(folder), format=fmt, archive=kw.pop("archive", False), name=kw.pop("name", "out"), **kw)


def shapes_by_item(ds: Dataset, cols=("label", "type", "x", "y", "w", "h", "rotation")) -> pd.DataFrame:
    """Annotations keyed by item name and sorted, for comparing two datasets."""
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    a = a[a["parent_id"].isna()] if "parent_id" in a else a
    out = a[["name", "subset", *cols]].copy()
    out["rotation"] = np.mod(out["rotation"].to_numpy(float), 360.0)
    out.loc[np.isclose(out["rotation"], 360.0), "rotation"] = 0.0
    return out.sort_values(["name", "label", "x", "y"]).reset_index(drop=True)


def assert_same_shapes(a: Dataset, b: Dataset, cols=("label", "type", "x", "y", "w", "h", "rotation")) -> None:
    sa, sb = shapes_by_item(a, cols), shapes_by_item(b, cols)
    assert len(sa) == len(sb), (len(sa), len(sb))
    for c in ("name", "subset", "label", "type"):
        if c in sa:
            assert sa[c].tolist() == sb[c].tolist(), c
    for c in ("x", "y", "w", "h", "rotation"):
        if c in sa:
            np.testing.assert_allclose(sb[c].to_numpy(float), sa[c].to_numpy(float), rtol=1e-6, atol=1e-6)
