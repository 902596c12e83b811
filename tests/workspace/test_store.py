"""Every column of the core's tables survives the database: annotations, sets, relations, items."""
from __future__ import annotations

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from annowidgets.core import schema
from annowidgets.core.dataset import Dataset
from annowidgets.workspace import transfer


def _rle(h: int, w: int) -> dict:
    m = np.zeros((h, w), np.uint8, order="F")
    m[2:5, 3:9] = 1
    m[3, 4] = 0  # a hole
    rle = mask_utils.encode(m)
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def full_dataset() -> Dataset:
    """Two items, every annotation column set to something other than its default."""
    items = pd.DataFrame({"item_id": [0, 1], "name": ["a.png", "b.png"], "subset": "default", "frame": [0, 1],
                          "width": 12, "height": 8, "kind": "image", "duration": [1.5, 2.5],
                          "data": [{"text": "hello"}, {"audio": "x.wav"}], "extra": [{"k": 1}, {"meta": [1, 2]}]})
    sets = pd.DataFrame({"set_id": [10, 11], "item_id": [0, 1], "source": ["annotation", "prediction"],
                         "annotator": ["ann@x", "model"], "model_version": [None, "v2"], "score": [None, 0.75],
                         "cancelled": [True, False], "ground_truth": [False, True], "created": ["2024-01-01"] * 2,
                         "updated": ["2024-01-02"] * 2, "lead_time": [3.25, 0.5], "extra": [{"id": 7}, None]})
    anns = pd.DataFrame({
        "ann_id": [100, 101, 102], "item_id": [0, 0, 1], "frame": [0, 0, 1], "set_id": [10, 10, 11],
        "source": ["annotation", "annotation", "prediction"], "annotator": ["ann@x", "ann@x", "model"],
        "model_version": [None, None, "v2"], "score": [None, None, 0.875], "origin": ["manual", "manual", "auto"],
        "region_id": ["r1", "r2", "r3"], "track_id": [4, 4, None], "group": [2, 2, None],
        "parent_id": [None, 100, None], "label": ["car", "person", "car"], "type": ["bbox", "points", "mask"],
        "from_name": ["box", "kp", "brush"], "to_name": ["image"] * 3, "x": [1.25, 2.0, 3.0],
        "y": [2.5, 3.0, 2.0], "w": [4.0, 1.0, 6.0], "h": [3.0, 1.0, 3.0], "rotation": [33.5, 0.0, 0.0],
        "points": [None, [2.0, 3.0, 3.0, 4.0], None], "mask": [None, None, _rle(8, 12)], "z_order": [3, 1, -2],
        "occluded": [True, False, False], "outside": [False, True, False], "keyframe": [True, True, False],
        "start": [0.5, None, None], "end": [1.75, None, None], "text": ["a note", None, "λ unicode"],
        "value": [None, 4.5, None], "attributes": [{"colour": "red", "n": 3, "ok": True}, {"v": [1, 2]}, {}],
        "extra": [{"lsid": "abc"}, None, {"nested": {"deep": [1, {"x": None}]}}]})
    rels = pd.DataFrame({"set_id": [10], "item_id": [0], "from_region": ["r1"], "to_region": ["r2"],
                         "direction": ["right"], "labels": [["near", "left-of"]], "extra": [{"why": "test"}]})
    return Dataset(items=items, sets=sets, annotations=anns, relations=rels, labels=pd.DataFrame({"name": ["car",
                                                                                                          "person"]}))


def _comparable(df: pd.DataFrame, drop) -> list[dict]:
    return [{k: (None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
             for k, v in row.items() if k not in drop} for row in df.astype(object).to_dict("records")]


def test_every_column_survives_the_database(ws):
    ds = full_dataset()
    p = ws.create_project("p", labels=["car", "person"])
    t = p.create_task_from(ds, name="all")
    back = t.dataset()
    # ids are renumbered; links between rows follow them
    a, b = ds.annotations, back.annotations
    assert len(b) == 3 and b["parent_id"].iloc[1] == b["ann_id"].iloc[0]
    assert set(b["set_id"].dropna()) == set(back.sets["set_id"])
    cols = [c for c in schema.ANNOTATIONS if c not in ("ann_id", "item_id", "set_id", "parent_id")]
    assert _comparable(b[cols], ()) == _comparable(a[cols], ())
    set_cols = [c for c in schema.SETS if c not in ("set_id", "item_id")]
    assert _comparable(back.sets[set_cols], ()) == _comparable(ds.sets[set_cols], ())
    rel_cols = [c for c in schema.RELATIONS if c not in ("set_id", "item_id")]
    assert _comparable(back.relations[rel_cols], ()) == _comparable(ds.relations[rel_cols], ())
    item_cols = ["name", "frame", "width", "height", "kind", "duration", "data", "extra"]
    assert _comparable(back.items[item_cols], ()) == _comparable(ds.items[item_cols], ())
    # the mask decodes to the same pixels
    m = mask_utils.decode({"size": b["mask"].iloc[2]["size"], "counts": b["mask"].iloc[2]["counts"].encode()})
    assert m.sum() == 17 and m[3, 4] == 0
    # and again through a replacing import of the scope's own dataset: nothing drifts
    transfer.import_annotations(ws, "task", t.id, back)
    again = t.dataset()
    assert _comparable(again.annotations[cols], ()) == _comparable(b[cols], ())
    assert len(again.sets) == 2 and len(again.relations) == 1


def test_annotations_and_items_views_agree_with_the_scope_dataset(ws, images):
    """``node.annotations`` / ``node.items`` take a short path; it must show what the
    node's Dataset (what an export writes) shows, frames numbered alike at every level."""
    from .helpers import annotations_for

    files = sorted(images.glob("*.png"))
    p = ws.create_project("p", labels=["car", "person"])
    a = p.create_task("a", media=files[:4], subset="train", segment_size=2)
    b = p.create_task("b", media=files[4:7], subset="train")
    c = p.create_task("c", media=files[7:], subset="val")
    for t in (a, b, c):
        transfer.import_annotations(ws, "task", t.id, annotations_for(t.items["name"].tolist(), per_item=2))
    ws.conn.execute("UPDATE tasks SET start_frame = 5, frame_filter = 'step=2' WHERE id = ?", (b.id,))
    for node in (p, a, b, c, a.jobs[1]):
        ds = node.dataset()
        pd.testing.assert_frame_equal(node.annotations, ds.annotations)
        pd.testing.assert_frame_equal(node.items, ds.items)
    assert b.items["frame"].tolist() == [5, 7, 9]  # start_frame + i * step
    assert p.items.groupby("subset")["frame"].apply(list).to_dict() == {"train": list(range(7)), "val": [0, 1, 2]}
