"""Preview over its comm, no kernel: trait sync, navigation, threshold, layers and IoU matching.

The matching expectations are worked out by hand in the comments next to each box.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from annowidgets import Dataset
from annowidgets.widgets import Preview
from annowidgets.widgets._colors import color_from_name, label_colors

from .conftest import column


def _ds(**kw) -> Dataset:
    # item 0, label car:
    #   GT A  (0, 0, 10, 10)         GT B (100, 100, 10, 10): nothing overlaps it -> FN
    #   v1 p1 (0, 0, 10, 5)  s=.90   IoU(A) = 50 / 100 = 0.5           -> TP at IoU >= 0.5
    #   v1 p2 (5, 0, 10, 10) s=.80   IoU(A) = 50 / 150 = 0.33          -> FP
    #   v1 p3 (0, 0, 10, 10) s=.95   label dog: no dog GT              -> FP
    # item 0, label car, greedy by score (not by IoU):
    #   GT C  (200, 0, 10, 10)
    #   v1 p4 (201, 0, 10, 10) s=.70  IoU(C) = 90 / 110 = 0.82, goes first -> TP
    #   v1 p5 (200, 0, 10, 10) s=.60  IoU(C) = 1.0 but C is taken       -> FP
    #   v2 q1 (0, 0, 10, 10)  s=.40   a second model version, matched on its own -> TP (A)
    # item 1: one GT dog, no predictions -> FN for every layer
    # item 2: one v1 person prediction, no GT -> FP
    # A prediction's status is against the annotations in its own layer; the annotations show the
    # outcome of compare_layer (v1 unless set).
    items = {"item_id": [0, 1, 2], "name": ["a.png", "b.png", "c.png"], "width": [320, 64, 64],
             "height": [240, 48, 48], **kw.pop("items", {})}
    rows = [
        # ann_id, item, label, source, version, score, x, y, w, h
        (0, 0, "car", "annotation", None, None, 0, 0, 10, 10),
        (1, 0, "car", "annotation", None, None, 100, 100, 10, 10),
        (2, 0, "car", "annotation", None, None, 200, 0, 10, 10),
        (3, 0, "car", "prediction", "v1", 0.90, 0, 0, 10, 5),
        (4, 0, "car", "prediction", "v1", 0.80, 5, 0, 10, 10),
        (5, 0, "dog", "prediction", "v1", 0.95, 0, 0, 10, 10),
        (6, 0, "car", "prediction", "v1", 0.70, 201, 0, 10, 10),
        (7, 0, "car", "prediction", "v1", 0.60, 200, 0, 10, 10),
        (8, 0, "car", "prediction", "v2", 0.40, 0, 0, 10, 10),
        (9, 1, "dog", "annotation", None, None, 1, 1, 5, 5),
        (10, 2, "person", "prediction", "v1", 0.50, 1, 1, 5, 5),
    ]
    cols = ["ann_id", "item_id", "label", "source", "model_version", "score", "x", "y", "w", "h"]
    ann = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    return Dataset(items=items, annotations=ann, labels={"name": ["car", "dog"], "color": ["#ff0000", None]}, **kw)


def _status(w: Preview) -> dict[int, str]:
    m = w.matches()
    return dict(zip(m["ann_id"].astype(int), m["status"], strict=True))


def test_matching_by_hand():
    w = Preview(_ds())
    assert w.compare_layer == "prediction:v1"
    assert _status(w) == {0: "TP", 1: "FN", 2: "TP", 3: "TP", 4: "FP", 5: "FP", 6: "TP", 7: "FP", 8: "TP",
                          9: "FN", 10: "FP"}
    m = w.matches().set_index("ann_id")
    assert m.loc[3, "matched_ann_id"] == 0 and m.loc[6, "matched_ann_id"] == 2
    assert w.summary == {"prediction:v1": {"tp": 2, "fp": 3, "fn": 1},
                         "prediction:v2": {"tp": 1, "fp": 0, "fn": 2}}


def test_iou_threshold_is_inclusive_and_synced(comm):
    w = Preview(_ds())
    c = comm(w)
    c.update(iou_threshold=0.51)  # p1's IoU is exactly 0.5: no longer a match
    assert w.iou_threshold == 0.51
    assert _status(w)[3] == "FP" and _status(w)[0] == "FN"
    assert c.last("summary")["prediction:v1"] == {"tp": 1, "fp": 4, "fn": 2}


def test_score_threshold_hides_and_rematches(comm):
    w = Preview(_ds())
    c = comm(w)
    c.update(score_threshold=0.75)  # p4 (.70), p5 (.60) drop out: C becomes a miss
    assert w.score_threshold == 0.75
    st = _status(w)
    assert st[6] == "" and st[7] == "" and st[2] == "FN" and st[3] == "TP"
    assert c.last("summary")["prediction:v1"] == {"tp": 1, "fp": 2, "fn": 2}
    status = column(c.last("shapes"), "status", "u1")
    ann_ids = column(c.last("shapes"), "ann_id", "i4")
    assert dict(zip(ann_ids.tolist(), status.tolist(), strict=True))[2] == 3  # FN code drawn on C


def test_compare_layer_decides_gt_colours(comm):
    w = Preview(_ds())
    c = comm(w)
    c.update(compare_layer="prediction:v2")
    st = _status(w)
    assert st[0] == "TP" and st[1] == "FN" and st[2] == "FN"
    shapes = c.last("shapes")
    by_id = dict(zip(column(shapes, "ann_id", "i4").tolist(), column(shapes, "status", "u1").tolist(), strict=True))
    assert by_id[0] == 1 and by_id[2] == 3


def test_navigation_by_position_message_and_errors_filter(comm):
    w = Preview(_ds())
    c = comm(w)
    assert w.item["item_id"] == 0 and w.item["total"] == 3
    c.update(position=1)
    assert w.item["item_id"] == 1 and c.last("item")["name"] == "b.png"
    c.update(position=99)  # clamped, not an error
    assert w.position == 2 and w.item["item_id"] == 2
    c.custom({"kind": "goto_item", "item_id": 0})
    assert w.position == 0 and c.last("item")["item_id"] == 0
    c.custom({"kind": "next_error", "direction": 1})
    assert w.item["item_id"] == 1
    # filter by label: only items with a dog (0 has a dog prediction, 1 a dog annotation)
    c.update(label_filter="person")
    assert w.item["total"] == 1 and w.item["item_id"] == 2
    assert [r[0] for r in c.last("item_list")["rows"]] == [2]
    c.update(label_filter="")
    c.update(errors_only=True, score_threshold=1.0)  # every prediction hidden: all GT missed
    assert w.item_list["total"] == 2 and [r[0] for r in w.item_list["rows"]] == [0, 1]
    assert [r[2] for r in w.item_list["rows"]] == [3, 1]
    c.custom({"kind": "goto_item", "item_id": 2})  # filtered out: error reply, position unchanged
    assert c.customs()[-1]["kind"] == "error"


def test_current_item_survives_filter_change(comm):
    w = Preview(_ds())
    c = comm(w)
    c.update(position=1)
    c.update(label_filter="dog")
    assert w.item["item_id"] == 1 and w.position == 1


def test_layers_and_toggles():
    w = Preview(_ds())
    assert [(lay["key"], lay["source"], lay["model_version"], lay["count"]) for lay in w.layers] == [
        ("annotation", "annotation", None, 4), ("prediction:v1", "prediction", "v1", 6),
        ("prediction:v2", "prediction", "v2", 1)]


def test_hidden_layers_sync_from_front_end(comm):
    w = Preview(_ds())
    c = comm(w)
    c.update(hidden_layers=["prediction:v2"])
    assert w.hidden_layers == ["prediction:v2"]
    c.update(color_by="match")
    assert w.color_by == "match"


def test_shape_columns_are_binary_and_complete(comm):
    w = Preview(_ds())
    c = comm(w)
    c.update(position=1)
    c.update(position=0)
    shapes = c.last("shapes")
    assert shapes["n"] == 9
    data, buffers = c.sent[-1]
    assert buffers and all(isinstance(b, memoryview | bytes) for b in buffers)
    assert ["shapes", "x"] in data["buffer_paths"]
    np.testing.assert_array_equal(column(shapes, "x", "f4"), [0, 100, 200, 0, 5, 0, 201, 200, 0])
    np.testing.assert_allclose(column(shapes, "score", "f4")[3:], [0.9, 0.8, 0.95, 0.7, 0.6, 0.4], rtol=1e-6)
    assert column(shapes, "layer", "u1").tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2]
    labels = [lab["name"] for lab in w.labels]
    assert [labels[i] for i in column(shapes, "label", "i4")] == ["car"] * 5 + ["dog"] + ["car"] * 3


def test_label_colours_stable_and_from_table():
    w = Preview(_ds())
    colors = {lab["name"]: lab["color"] for lab in w.labels}
    assert colors["car"] == "#ff0000"  # from the labels table
    assert colors["dog"] == color_from_name("dog") == label_colors(["dog"])["dog"]  # table colour missing
    assert colors["person"] == color_from_name("person")
    assert len({color_from_name(n) for n in ["car", "dog", "person", "cat", "bus"]}) == 5


def test_geometry_kinds_encoded(comm):
    from pycocotools import mask as mask_utils

    m = np.zeros((6, 8), dtype=np.uint8, order="F")
    m[1:3, 2:5] = 1  # 2 x 3 block at x=2, y=1
    m[4, 7] = 1
    rle = mask_utils.encode(m)
    rle = {"size": list(rle["size"]), "counts": rle["counts"].decode()}
    ann = {
        "ann_id": [0, 1, 2, 3, 4, 5, 6],
        "item_id": [0] * 7,
        "label": ["road", "body", "nose", "eye", "lane", "blob", "obb"],
        "type": ["polygon", "skeleton", "points", "points", "polyline", "mask", "bbox"],
        "points": [[0, 0, 4, 0, 4, 4], None, [10, 11], [12, 13], [0, 5, 8, 5], None, None],
        "parent_id": [None, None, 1, 1, None, None, None],
        "outside": [False, False, False, False, False, False, False],
        "mask": [None, None, None, None, None, rle, None],
        "x": [0, 10, 10, 12, 0, 2, 20], "y": [0, 11, 11, 13, 5, 1, 20], "w": [4, 2, 0, 0, 8, 6, 10],
        "h": [4, 2, 0, 0, 0, 4, 4], "rotation": [0, 0, 0, 0, 0, 0, 30],
    }
    svg = ('<line data-type="edge" data-node-from="1" data-node-to="2"></line>'
           '<circle data-node-id="1" data-label-name="eye"></circle><circle data-node-id="2" data-label-name="nose"></circle>')
    labels = {"name": ["body", "eye", "nose"], "type": ["skeleton", "points", "points"],
              "parent": [None, "body", "body"], "svg": [svg, None, None]}
    ds = Dataset(items={"item_id": [0], "width": [8], "height": [6]}, annotations=ann, labels=labels)
    w = Preview(ds)
    s = w.shapes
    assert s["n"] == 5  # skeleton children are drawn inside their skeleton
    types = column(s, "type", "u1").tolist()
    assert types == [1, 7, 2, 6, 0]
    poff = column(s, "poff", "u4")
    pts = column(s, "pts", "f4")
    assert pts[poff[0]:poff[1]].tolist() == [0, 0, 4, 0, 4, 4]
    assert pts[poff[1]:poff[2]].tolist() == [12, 13, 10, 11]  # sub-label order: eye, nose
    eoff = column(s, "eoff", "u4")
    assert column(s, "edges", "u2")[eoff[1]:eoff[2]].tolist() == [0, 1]
    assert pts[poff[3]:poff[4]].tolist() == [2, 1, 6, 4]  # mask crop x0, y0, w, h
    moff = column(s, "moff", "u4")
    runs = column(s, "runs", "u4")[moff[3]:moff[4]]
    # decode row-major runs over the 6 x 4 crop and compare with the mask itself
    flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(np.uint8)
    np.testing.assert_array_equal(flat.reshape(4, 6), m[1:5, 2:8])
    assert column(s, "rotation", "f4")[4] == 30


def test_image_bytes_from_media(tmp_path):
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(png, format="PNG")
    (tmp_path / "a.png").write_bytes(png.getvalue())
    Image.new("RGB", (64, 48)).save(tmp_path / "b.tif")
    ds = _ds(items={"media": ["a.png", "missing.png", "b.tif"]})
    ds.media_root = str(tmp_path)
    w = Preview(ds)
    assert w.image == png.getvalue() and w.item["image_error"] == ""
    w.position = 1
    assert w.image == b"" and "missing.png" in w.item["image_error"]
    assert (w.item["width"], w.item["height"]) == (64, 48)  # blank canvas of the item size
    w.position = 2
    assert w.image.startswith(b"\x89PNG")  # TIFF re-encoded for the browser


def test_blank_canvas_size_without_media_or_size():
    ds = Dataset(items={"item_id": [0]}, annotations={"ann_id": [0], "item_id": [0], "label": ["a"],
                                                       "x": [10], "y": [20], "w": [30.5], "h": [40]})
    w = Preview(ds)
    assert (w.item["width"], w.item["height"]) == (41, 60)


def test_unknown_kwarg_and_message_kind(comm):
    with pytest.raises(TypeError, match="score_treshold"):
        Preview(_ds(), score_treshold=0.5)
    w = Preview(_ds(), score_threshold=0.3, color_by="match")
    assert w.score_threshold == 0.3 and w.color_by == "match"
    c = comm(w)
    c.custom({"kind": "no_such_thing"})
    assert c.customs()[-1] == {"kind": "error", "message": "unknown message kind 'no_such_thing'"}


def test_empty_dataset():
    w = Preview(Dataset())
    assert w.item["total"] == 0 and w.shapes["n"] == 0 and w.summary == {}
    w.position = 5
    assert w.position == 0


def test_esm_is_a_path_to_the_bundle():
    from annowidgets.widgets._base import STATIC

    esm = Preview._esm
    path = getattr(esm, "_path", None) or getattr(esm, "path", None)
    if (STATIC / "preview.js").exists():
        assert path is not None and str(path).endswith("static/preview.js")
    else:
        assert "not built" in str(esm)
