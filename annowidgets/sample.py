"""A small sample project shipped as code: images drawn on first use, annotations and predictions.

Nothing is downloaded: ``sample_dataset()`` draws the images with Pillow into a cache folder
(deterministically, so tests and the tour notebook see the same data) and returns a
:class:`Dataset` with ground truth from one annotator and predictions from two model versions,
including misses and false alarms so the preview has something to show.
``sample_workspace(path)`` puts that dataset into a workspace (project → tasks → jobs), which is
what the tour notebook browses, exports and imports.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from .core.dataset import Dataset

LABELS = [
    {"name": "car", "color": "#fa3253", "type": "rectangle",
     "attributes": [{"name": "color", "input_type": "select", "values": ["red", "blue", "white"],
                     "default": "red", "mutable": False}]},
    {"name": "person", "color": "#33ddff", "type": "rectangle", "attributes": []},
    {"name": "tree", "color": "#24b353", "type": "polygon", "attributes": []},
    {"name": "road", "color": "#8c78f0", "type": "mask", "attributes": []},
]
SUBSETS = {"train": 6, "val": 4}
SIZE = (320, 240)
_COLORS = {"car": (220, 60, 70), "person": (60, 200, 240), "tree": (40, 160, 80)}


def cache_dir() -> Path:
    base = os.environ.get("ANNOWIDGETS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "annowidgets")
    return Path(base) / "sample"


def sample_dataset(folder: str | os.PathLike | None = None, seed: int = 7) -> Dataset:
    """The sample project: 10 images in two tasks (train/val), GT and two models' predictions."""
    from pycocotools import mask as mask_utils

    folder = Path(folder) if folder else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    W, H = SIZE
    items, anns, sets = [], [], []
    item_id = ann_id = 0
    frame_in_task = {s: 0 for s in SUBSETS}
    for task_id, (subset, n) in enumerate(SUBSETS.items(), start=1):
        for _ in range(n):
            name = f"{subset}/img_{item_id:03d}.png"
            path = folder / name
            img = Image.new("RGB", (W, H), (200, 205, 190))
            draw = ImageDraw.Draw(img)
            # road: a band across the bottom, annotated as a mask
            road = np.zeros((H, W), dtype=np.uint8)
            top = int(rng.integers(150, 190))
            road[top:, :] = 1
            road[top:top + 10, : int(rng.integers(40, 120))] = 0  # a notch, so it is no box
            img_arr = np.array(img)
            img_arr[road.astype(bool)] = (90, 90, 95)
            img = Image.fromarray(img_arr)
            draw = ImageDraw.Draw(img)
            objects = []
            for label in ("car", "car", "person", "tree"):
                w = float(rng.integers(30, 70)) if label != "person" else float(rng.integers(14, 24))
                h = float(rng.integers(20, 40)) if label == "car" else float(rng.integers(40, 70))
                x = float(rng.integers(0, W - int(w)))
                y = float(rng.integers(10, H - int(h)))
                objects.append((label, x, y, w, h))
                if label == "tree":
                    pts = [x + w / 2, y, x + w, y + h, x, y + h]
                    draw.polygon(pts, fill=_COLORS[label])
                else:
                    draw.rectangle([x, y, x + w, y + h], fill=_COLORS[label])
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                img.save(path)
            items.append({"item_id": item_id, "name": name, "task": task_id, "subset": subset,
                          "frame": frame_in_task[subset], "media": str(path), "width": W, "height": H})
            frame_in_task[subset] += 1
            gt_set = len(sets)
            sets.append({"set_id": gt_set, "item_id": item_id, "source": "annotation", "annotator": "alice"})
            for label, x, y, w, h in objects:
                row = {"ann_id": ann_id, "item_id": item_id, "frame": items[-1]["frame"], "set_id": gt_set,
                       "source": "annotation", "annotator": "alice", "label": label, "origin": "manual",
                       "x": x, "y": y, "w": w, "h": h, "attributes": {}}
                if label == "tree":
                    row.update(type="polygon", points=[x + w / 2, y, x + w, y + h, x, y + h])
                else:
                    row["type"] = "bbox"
                    if label == "car":
                        row["attributes"] = {"color": str(rng.choice(["red", "blue", "white"]))}
                anns.append(row)
                ann_id += 1
            rle = mask_utils.encode(np.asfortranarray(road))
            rle["counts"] = rle["counts"].decode("ascii")
            bx, by, bw, bh = mask_utils.toBbox(rle).tolist()
            anns.append({"ann_id": ann_id, "item_id": item_id, "frame": items[-1]["frame"], "set_id": gt_set,
                         "source": "annotation", "annotator": "alice", "label": "road", "type": "mask",
                         "origin": "manual", "mask": rle, "x": bx, "y": by, "w": bw, "h": bh, "attributes": {}})
            ann_id += 1
            for model in ("detector-v1", "detector-v2"):
                set_id = len(sets)
                jitter = 6.0 if model == "detector-v1" else 2.5
                sets.append({"set_id": set_id, "item_id": item_id, "source": "prediction", "model_version": model,
                             "score": float(rng.uniform(0.6, 0.95))})
                for label, x, y, w, h in objects:
                    if label == "tree" or rng.random() < (0.2 if model == "detector-v1" else 0.08):
                        continue  # a miss (or a label the detector does not know)
                    dx, dy = rng.normal(0, jitter, 2)
                    anns.append({"ann_id": ann_id, "item_id": item_id, "frame": items[-1]["frame"],
                                 "set_id": set_id, "source": "prediction", "model_version": model, "label": label,
                                 "type": "bbox", "x": max(0.0, x + dx), "y": max(0.0, y + dy), "w": w, "h": h,
                                 "score": float(rng.uniform(0.35, 0.99)), "attributes": {}})
                    ann_id += 1
                if rng.random() < 0.5:  # a false alarm
                    fx, fy = float(rng.integers(0, W - 40)), float(rng.integers(0, H - 30))
                    anns.append({"ann_id": ann_id, "item_id": item_id, "frame": items[-1]["frame"],
                                 "set_id": set_id, "source": "prediction", "model_version": model, "label": "car",
                                 "type": "bbox", "x": fx, "y": fy, "w": 40.0, "h": 25.0,
                                 "score": float(rng.uniform(0.3, 0.7)), "attributes": {}})
                    ann_id += 1
            item_id += 1
    tasks = pd.DataFrame([
        {"task_id": t, "name": f"sample-{s}", "subset": s, "mode": "annotation", "size": n, "start_frame": 0,
         "stop_frame": n - 1, "segment_size": 4, "overlap": 0}
        for t, (s, n) in enumerate(SUBSETS.items(), start=1)
    ])
    labels = pd.DataFrame([{**lab, "attributes": lab["attributes"]} for lab in LABELS])
    return Dataset(items=pd.DataFrame(items), annotations=pd.DataFrame(anns), sets=pd.DataFrame(sets),
                   labels=labels, tasks=tasks,
                   info={"level": "project", "id": 1, "name": "sample", "format": "annowidgets sample"})


#: Frames per job in the sample workspace: the train task (6 frames) gets two jobs, val (4) one.
SAMPLE_SEGMENT_SIZE = 4


def sample_workspace(path: str | os.PathLike, reset: bool = False):
    """A :class:`~annowidgets.Workspace` at ``path`` holding the sample as project "sample".

    The project has one task per subset (``train``: 6 frames in 2 jobs, ``val``: 4 frames in
    1 job) with the ground truth and both models' predictions. The images are drawn into
    ``<path>/sample-images`` so the workspace is self-contained. Calling it again on the same
    folder reuses the project; ``reset=True`` starts over, deleting ``path`` first, but only if
    it is empty or holds a workspace (``workspace.db``), so a wrong path cannot wipe other files.
    """
    import shutil

    from .workspace import Workspace

    path = Path(path)
    if reset and path.exists():
        if any(path.iterdir()) and not (path / "workspace.db").exists():
            raise ValueError(f"{path} is not an annowidgets workspace; not deleting it")
        shutil.rmtree(path)
    ws = Workspace(path)
    if not any(p.name == "sample" for p in ws.projects):
        ds = sample_dataset(path / "sample-images")
        # the task is the subset: "train/img_000.png" would export as images/train/train/img_000.png
        ds.items["name"] = ds.items["name"].str.rsplit("/", n=1).str[-1]
        ws.create_project_from(ds, name="sample", segment_size=SAMPLE_SEGMENT_SIZE)
    return ws
