"""What the interop tests share: a small dataset with real image files, and box tables to compare.

The dataset is drawn once per session (a few tiny PNGs, so YOLO readers that need the image
size can open them); box coordinates are fractional on purpose, so a peer that rounds to whole
pixels is caught at the 1e-3 px tolerance.
"""
from __future__ import annotations

import json
import os
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_encode

ORACLE = os.environ.get("ANNOWIDGETS_ORACLE_PYTHON")
needs_oracle = [pytest.mark.oracle,
                pytest.mark.skipif(not ORACLE, reason="ANNOWIDGETS_ORACLE_PYTHON (peer tools' venv) not set")]
TOL = 1e-3  # pixels

LABELS = ["car", "person", "tree", "road"]
# (subset, name, width, height); one image has no annotations at all
IMAGES = [("train", "street_01.png", 96, 64), ("train", "street_02.png", 80, 60),
          ("train", "empty_03.png", 40, 30), ("val", "park_04.png", 72, 90), ("val", "park_05.png", 64, 64)]


def _rows(rng: np.random.Generator, item_id: int, w_img: int, h_img: int) -> list[dict]:
    """Two boxes in the top half, a triangle bottom-left and a notched mask bottom-right (the three
    kinds apart, so rasterised they don't cover each other; with this seed the boxes don't either)."""
    rows = []
    for label in ("car", "person"):
        w, h = np.round(rng.uniform(6, w_img / 3, 2) * [1, h_img / w_img], 2) + [0.25, 0.5]
        x = round(float(rng.uniform(0, w_img - w)), 3)
        y = round(float(rng.uniform(0, h_img / 2 - h)) if h < h_img / 2 else 0.125, 3)
        rows.append(dict(type="bbox", label=label, x=x, y=y, w=float(w), h=float(h)))
    # a tree polygon in the bottom-left quarter, a road mask in the bottom-right one
    x0, y0 = w_img * 0.05 + 0.5, h_img * 0.55 + 0.25
    pts = [x0 + w_img * 0.2, y0, x0 + w_img * 0.4, y0 + h_img * 0.4, x0, y0 + h_img * 0.35]
    xs, ys = pts[0::2], pts[1::2]
    rows.append(dict(type="polygon", label="tree", points=[float(v) for v in pts], x=min(xs), y=min(ys),
                     w=max(xs) - min(xs), h=max(ys) - min(ys)))
    m = np.zeros((h_img, w_img), bool)
    m[int(h_img * 0.6):, int(w_img * 0.6):] = True
    m[int(h_img * 0.6):int(h_img * 0.7), int(w_img * 0.6):int(w_img * 0.7)] = False  # a notch: no box
    ys_, xs_ = np.nonzero(m)
    rows.append(dict(type="mask", label="road", mask=coco_encode(m), x=float(xs_.min()), y=float(ys_.min()),
                     w=float(xs_.max() + 1 - xs_.min()), h=float(ys_.max() + 1 - ys_.min())))
    for r in rows:
        r["item_id"] = item_id
    return rows


def make_dataset(folder: Path, seed: int = 3) -> aw.Dataset:
    """Five images in two subsets with boxes, polygons and masks; media written under ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items, rows = [], []
    for item_id, (subset, name, w, h) in enumerate(IMAGES):
        path = folder / name
        Image.new("RGB", (w, h), (30 * item_id, 90, 120)).save(path)
        items.append(dict(item_id=item_id, name=name, subset=subset, media=str(path), width=w, height=h))
        if not name.startswith("empty"):
            rows += _rows(rng, item_id, w, h)
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", range(len(ann)))
    ann["source"] = "annotation"
    labels = [{"name": n, "type": t} for n, t in zip(LABELS, ("rectangle", "rectangle", "polygon", "mask"), strict=True)]
    return aw.Dataset(items=items, annotations=ann, labels=labels).validate()


def export(ds: aw.Dataset, folder: Path, fmt: str, **kw):
    """Our export as a folder (no zip), losses silenced: the tests read ``result.loss`` themselves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(folder), format=fmt, archive=False, name="out", **kw)


def our_boxes(ds: aw.Dataset, types=("bbox",)) -> pd.DataFrame:
    """(image stem, label, x, y, w, h) of the given shape types, sorted: the comparison key."""
    a = ds.annotations
    a = a[a["type"].isin(types)].merge(ds.items[["item_id", "name"]], on="item_id")
    out = pd.DataFrame({"image": a["name"].map(lambda n: Path(n).stem), "label": a["label"].astype(str),
                        **{k: a[k].astype(float) for k in "xywh"}})
    return out.sort_values(["image", "label", "x", "y"]).reset_index(drop=True)


def peer_boxes(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["image", "label", "x", "y", "w", "h"])
    out["image"] = out["image"].map(lambda n: Path(n).stem)
    out[list("xywh")] = out[list("xywh")].astype(float)
    return out.sort_values(["image", "label", "x", "y"]).reset_index(drop=True)


def assert_same_boxes(got: pd.DataFrame, want: pd.DataFrame, tol: float = TOL) -> None:
    """Same images, labels and count; every coordinate within ``tol`` pixels."""
    assert got[["image", "label"]].values.tolist() == want[["image", "label"]].values.tolist()
    diff = np.abs(got[list("xywh")].to_numpy() - want[list("xywh")].to_numpy())
    assert diff.max(initial=0) <= tol, f"largest difference {diff.max():.6f} px\n{got}\n{want}"


# -- Datumaro, run in the oracle venv ------------------------------------------------------
DM_READ = textwrap.dedent("""
    import json, sys
    import numpy as np
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], sys.argv[2])
    names = [c.name for c in ds.categories()[AnnotationType.label]]
    out = {"items": [], "boxes": [], "polygons": [], "masks": []}
    for item in ds:
        out["items"].append([item.subset, item.id])
        seg_ids = {a.id for a in item.annotations if a.type in (AnnotationType.polygon, AnnotationType.mask)}
        for a in item.annotations:
            lab = names[a.label] if a.label is not None else None
            if a.type == AnnotationType.bbox:
                out["boxes"].append({"image": item.id, "label": lab, "x": a.x, "y": a.y, "w": a.w, "h": a.h,
                                     "of_segment": a.id in seg_ids and a.id != 0, "subset": item.subset})
            elif a.type == AnnotationType.polygon:
                out["polygons"].append({"image": item.id, "label": lab, "points": [float(v) for v in a.points]})
            elif a.type == AnnotationType.mask:
                ys, xs = np.nonzero(a.image)
                out["masks"].append({"image": item.id, "label": lab, "shape": list(a.image.shape),
                                     "pixels": (ys * a.image.shape[1] + xs).tolist()})
    print(json.dumps(out))
""")


def datumaro_read(oracle, path, fmt: str) -> dict:
    return oracle(DM_READ, str(path), fmt)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
