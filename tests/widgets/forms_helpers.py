"""A small real workspace for the form tests: one project, one task of 4 PNG images, annotations
(boxes, polygons, points) and a few predictions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from annowidgets.core.dataset import Dataset


def images(folder: Path, n: int = 4, size=(32, 24)) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.new("RGB", size, (40 * i, 90, 10)).save(p)
        out.append(str(p))
    return out


def dataset(media: list[str], labels=("car", "person")) -> Dataset:
    n = len(media)
    items = pd.DataFrame({"item_id": np.arange(n), "name": [Path(m).name for m in media], "frame": np.arange(n),
                          "media": media, "width": 32, "height": 24})
    rows = []
    for i in range(n):
        rows.append({"item_id": i, "label": labels[0], "type": "bbox", "x": 1.0, "y": 2.0, "w": 8.0, "h": 6.0})
        rows.append({"item_id": i, "label": labels[1], "type": "polygon", "x": 2.0, "y": 2.0, "w": 6.0, "h": 4.0,
                     "points": [2.0, 2.0, 8.0, 2.0, 8.0, 6.0]})
        rows.append({"item_id": i, "label": labels[1], "type": "points", "x": 3.0, "y": 3.0, "w": 0.0, "h": 0.0,
                     "points": [3.0, 3.0]})
        rows.append({"item_id": i, "label": labels[0], "type": "bbox", "x": 1.5, "y": 2.0, "w": 8.0, "h": 6.0,
                     "source": "prediction", "score": 0.9, "model_version": "m1"})
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", np.arange(len(ann)))
    ann["frame"] = ann["item_id"]
    return Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": list(labels)}))


def make_project(ws, tmp_path: Path, name: str = "cars", labels=("car", "person")):
    media = images(tmp_path / f"media-{name}")
    return ws.create_project_from(dataset(media, labels), name=name)
