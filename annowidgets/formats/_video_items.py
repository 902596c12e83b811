"""Whole-video items (Label Studio) -> one item per frame (CVAT).

Label Studio holds a video as one task whose regions carry frame numbers; CVAT holds a video
task as one ``<image>``/frame per frame number. Writers that need frames call
:func:`expand_video_items` first: each ``kind == "video"`` item becomes frames ``0 .. n-1``
(``n`` = the video's ``frames_count``, or one past its last annotated frame) named
``frame_%06d`` as CVAT names video frames, in a task of its own, and its annotations move to
the item of their frame. A dataset without video items is returned unchanged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.loss import LossReport


def expand_video_items(ds: Dataset, report: LossReport | None = None) -> Dataset:
    items = ds.items
    is_video = items["kind"].eq("video").to_numpy()
    if not is_video.any():
        return ds
    ann = ds.annotations
    on_video = ann["item_id"].isin(items.loc[is_video, "item_id"]).to_numpy()
    frame = ann["frame"].astype("float64").to_numpy()
    if report is not None:
        report.add_mask("annotations", ann, on_video & ann["type"].eq("tag").to_numpy(),
                        "a whole-video choice is written on the first frame", key="ann_id")
    next_item = int(items["item_id"].max()) + 1
    used_tasks = set(ds.tasks["task_id"].dropna().tolist()) | set(items["task"].dropna().tolist())
    next_task = int(max(used_tasks)) + 1 if used_tasks else 0
    known_tasks = set(ds.tasks["task_id"].dropna().tolist())
    new_items, new_tasks, mapping = [], [], []  # mapping: (video item, first new item id, count)
    for it in items[is_video].itertuples(index=False):
        mine = on_video & (ann["item_id"].to_numpy() == it.item_id)
        last = int(np.nanmax(frame[mine])) if mine.any() and not np.isnan(frame[mine]).all() else 0
        count = (it.extra or {}).get("frames_count") if isinstance(it.extra, dict) else None
        count = max(int(count) if isinstance(count, (int, float)) and count == count else 0, last + 1)
        task = it.task
        if pd.isna(task):
            task = next_task
            next_task += 1
        if task not in known_tasks:
            known_tasks.add(task)
            new_tasks.append({"task_id": task, "name": it.name if isinstance(it.name, str) else "",
                              "subset": it.subset, "mode": "interpolation", "size": count, "start_frame": 0,
                              "stop_frame": count - 1, "frame_filter": "", "overlap": 0,
                              "extra": _size(it.width, it.height)})
        new_items.append(pd.DataFrame({
            "item_id": np.arange(next_item, next_item + count), "name": [f"frame_{f:06d}" for f in range(count)],
            "task": task, "subset": it.subset, "frame": np.arange(count), "width": it.width, "height": it.height,
            "kind": "video_frame"}))
        mapping.append((it.item_id, next_item, count))
        next_item += count
    ann = ann.copy()
    fr = np.where(np.isnan(frame), 0, frame).astype(np.int64)
    new_id = ann["item_id"].to_numpy(dtype=np.int64).copy()
    for vid, first, _count in mapping:
        sel = on_video & (ann["item_id"].to_numpy() == vid)
        new_id[sel] = first + fr[sel]
    ann["item_id"] = new_id
    ann.loc[on_video, "frame"] = fr[on_video]
    out = ds.copy()
    out.items = Dataset(items=pd.concat([items[~is_video], *new_items], ignore_index=True)).items
    out.annotations = ann
    if new_tasks:
        out.tasks = Dataset(tasks=pd.concat([ds.tasks, pd.DataFrame(new_tasks)], ignore_index=True)).tasks
    return out


def _size(w, h) -> dict:
    """CVAT for video gives the frame size once, in the task's ``original_size``."""
    if pd.isna(w) or pd.isna(h):
        return {}
    return {"original_size": [("width", str(int(w))), ("height", str(int(h)))]}
