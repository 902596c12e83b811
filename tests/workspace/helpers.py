"""Building blocks of the workspace tests: datasets with every kind of annotation."""
from __future__ import annotations

import numpy as np
import pandas as pd

from annowidgets.core.dataset import Dataset


def annotations_for(names: list[str], per_item: int = 3, labels=("car", "person"), size=(32, 24),
                    subset="default", start_id: int = 0, prediction_every: int = 0) -> Dataset:
    """Items named ``names`` with boxes, a polygon with a parent point and attributes on each."""
    n = len(names)
    items = pd.DataFrame({"item_id": np.arange(start_id, start_id + n), "name": names, "frame": np.arange(n),
                          "subset": subset, "width": size[0], "height": size[1]})
    rows = []
    ann_id = 0
    for i in range(n):
        for k in range(per_item):
            kind = ("bbox", "polygon", "points")[k % 3]
            row = {"ann_id": ann_id, "item_id": start_id + i, "frame": i, "label": labels[k % len(labels)],
                   "type": kind, "x": 1.0 + k, "y": 2.0, "w": 3.5, "h": 4.0, "rotation": 15.0 * (k == 0),
                   "attributes": {"k": k, "name": names[i]}, "z_order": k, "occluded": k == 1}
            if kind != "bbox":
                row["points"] = [1.0 + k, 2.0, 4.5 + k, 2.0, 4.5 + k, 6.0]
            if kind == "points":
                row["parent_id"] = ann_id - 1
            if prediction_every and ann_id % prediction_every == 0:
                row.update(source="prediction", score=0.5, model_version="m1")
            rows.append(row)
            ann_id += 1
    labs = pd.DataFrame({"name": list(labels)})
    return Dataset(items=items, annotations=pd.DataFrame(rows), labels=labs)


def geometry(df: pd.DataFrame) -> list[tuple]:
    """Comparable content of annotations, ignoring ids."""
    cols = ["label", "type", "x", "y", "w", "h", "rotation", "z_order", "occluded", "source"]
    out = []
    for row in df[cols + ["points", "attributes"]].itertuples(index=False):
        out.append((*row[:len(cols)], _seq(row.points), tuple(sorted(_dict(row.attributes).items()))))
    return sorted(out, key=repr)


def _seq(v) -> tuple:
    return tuple(v) if isinstance(v, (list, tuple)) else ()


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def write_many(path: str, who: str, shared_task: int) -> None:
    """What each of two processes does to one workspace at the same time (test_concurrency):
    four tasks with annotations and four projects of its own, then three whole replacements
    of one shared task's annotations."""
    from annowidgets.workspace import Workspace, transfer

    ws = Workspace(path)
    try:
        p = ws.project("shared")
        for k in range(4):
            names = [f"{who}-{k}-{i}.png" for i in range(5)]
            t = p.create_task_from(annotations_for(names, per_item=3), name=f"{who}-{k}", segment_size=2)
            transfer.import_annotations(ws, "task", t.id, annotations_for(names, per_item=4))
            ws.create_project(f"{who}-{k}", labels=["car", "person"])
        for k in range(3):  # both processes replace the same task's annotations: each import is whole
            transfer.import_annotations(ws, "task", shared_task, annotations_for(["s0.png", "s1.png"],
                                                                                 per_item=1 + k))
    finally:
        ws.close()
