"""Label Studio JSON: the fixture exports load with the right counts, and round-trip exactly."""
from __future__ import annotations

import warnings

import numpy as np
import orjson
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core import brush, geometry
from annowidgets.core.dataset import Dataset
from annowidgets.core.errors import FormatError
from annowidgets.formats import ls_write, registry

PROJECTS = ["image", "image_det", "text", "audio", "video"]


def _load(ls_dir, project, **kw):
    return aw.load(str(ls_dir / "input" / project / "tasks.json"), **kw)


@pytest.mark.parametrize("project", PROJECTS)
def test_detected_as_label_studio_json(ls_dir, project):
    from annowidgets.core.io import Source

    with Source(str(ls_dir / "input" / project / "tasks.json")) as src:
        assert registry.detect(src).name == "Label Studio JSON"
    assert registry.get("ls").name == registry.get("JSON").name == "Label Studio JSON"


def test_image_counts(ls_dir):
    ds = _load(ls_dir, "image").validate()
    a = ds.annotations
    assert ds.items["item_id"].tolist() == [101, 102, 103, 104]
    assert ds.items["kind"].eq("image").all()
    assert ds.items["width"].tolist()[:2] == [120, 120]
    assert a.groupby(["source", "type"]).size().to_dict() == {
        ("annotation", "bbox"): 4, ("annotation", "mask"): 2, ("annotation", "points"): 2,
        ("annotation", "polygon"): 2, ("annotation", "tag"): 2, ("prediction", "bbox"): 2}
    # every annotation set is a row, including the cancelled and the legacy completion
    s = ds.sets.set_index("set_id")
    assert sorted(s.index) == [5001, 5002, 5003, 5004, 9001]
    assert bool(s.loc[5002, "cancelled"]) and s.loc[5002, "annotator"] == "2"
    assert s.loc[5003, "annotator"] == "ann@example.com"
    assert s.loc[5003, "extra"]["completed_by"]["first_name"] == "Ann"
    assert bool(s.loc[5003, "ground_truth"])
    assert s.loc[5004, "lead_time"] == 5.0 and pd.isna(s.loc[5004, "annotator"])  # legacy completion
    assert s.loc[9001, "source"] == "prediction" and s.loc[9001, "model_version"] == "yolo-v8n-2024-04"
    assert s.loc[9001, "score"] == pytest.approx(0.87)
    # region scores of the prediction, model version on its rows
    p = a[a["source"] == "prediction"].set_index("region_id")
    assert p.loc["r_car1", "score"] == pytest.approx(0.91) and p.loc["r_pers", "score"] == pytest.approx(0.64)
    assert p["model_version"].eq("yolo-v8n-2024-04").all()
    # the unannotated task is an item with no annotations
    assert not (a["item_id"] == 103).any()
    # items.extra keeps the rest of the task
    assert ds.items.set_index("item_id").loc[101, "extra"]["meta"] == {"source": "synthetic"}


def test_image_geometry_in_pixels(ls_dir):
    a = _load(ls_dir, "image").annotations
    ann = a[a["source"] == "annotation"].set_index("region_id")
    car = ann.loc["r_car1"]
    assert [car.x, car.y, car.w, car.h, car.rotation] == pytest.approx([12, 16, 36, 40, 0])
    # the 30° box rotated about its top-left corner (72, 8): centre convention, enclosing box in px
    pers = ann.loc["r_pers"]
    assert (pers.w, pers.h, pers.rotation) == pytest.approx((24, 32, 30))
    ex, ey, ew, eh = geometry.enclosing_box(pers.x, pers.y, pers.w, pers.h, pers.rotation)
    assert [float(ex), float(ey), float(ew), float(eh)] == pytest.approx([56, 8, 36.78, 39.71], abs=0.01)
    road = ann.loc["p_road"]
    assert road.points == pytest.approx([0, 60, 60, 48, 120, 60, 120, 80, 0, 80])
    assert (road.x, road.y, road.w, road.h) == pytest.approx((0, 48, 120, 32))
    assert road.extra["closed"] is True
    head = ann.loc["k_head"]
    assert head.type == "points" and head.points == pytest.approx([84, 10])
    assert head.extra["width"] == 0.8


def test_keypoint_parents_and_relations(ls_dir):
    ds = _load(ls_dir, "image")
    a = ds.annotations
    pers_id = a[(a["region_id"] == "r_pers") & (a["source"] == "annotation")]["ann_id"].iloc[0]
    kps = a[a["type"] == "points"]
    assert kps["parent_id"].tolist() == [pers_id, pers_id]
    assert [e["parentID"] for e in kps["extra"]] == ["r_pers", "r_pers"]
    r = ds.relations
    assert r[["set_id", "item_id", "from_region", "to_region", "direction"]].values.tolist() == [
        [5001, 101, "r_car1", "p_road", "right"]]
    assert r["labels"].iloc[0] == ["near"]


def test_brush_mask_is_coco_rle_and_keeps_the_bytes(ls_dir):
    a = _load(ls_dir, "image").annotations
    sky = a[a["region_id"] == "b_sky"].iloc[0]
    ref = np.load(next((ls_dir / "output/image/BRUSH_TO_NUMPY").glob("task-101-*-Sky-0.npy")))
    assert sky["mask"]["size"] == [80, 120]
    assert np.array_equal(brush.from_coco(sky["mask"]), (ref > 0).astype(np.uint8))
    assert np.array_equal(brush.decode(sky.extra["rle"], 80, 120), ref)
    assert (sky.x, sky.y, sky.w, sky.h) == (0.0, 0.0, 120.0, 20.0)
    road = a[a["region_id"] == "b_road"].iloc[0]
    ref2 = np.load(next((ls_dir / "output/image/BRUSH_TO_NUMPY").glob("task-102-*-Road-0.npy")))
    assert np.array_equal(brush.from_coco(road["mask"]), (ref2 > 0).astype(np.uint8))
    hi = aw.load(str(ls_dir / "input/image/tasks.json"), mask_threshold=200).annotations
    road_hi = hi[hi["region_id"] == "b_road"].iloc[0]
    assert np.array_equal(brush.from_coco(road_hi["mask"]), (ref2 >= 200).astype(np.uint8))


def test_text_counts_and_two_annotators(ls_dir):
    ds = _load(ls_dir, "text").validate()
    a = ds.annotations
    assert a["type"].value_counts().to_dict() == {"span": 8, "tag": 2, "taxonomy": 2, "rating": 1}
    assert ds.items["kind"].eq("text").all()
    two = ds.sets[ds.sets["item_id"] == 202]
    assert two["annotator"].tolist() == ["1", "2"]
    s1 = a[a["region_id"] == "s1"].iloc[0]
    assert (s1.start, s1.end, s1.text, s1.label) == (0, 13, "Angela Merkel", "PER")
    tax = a[a["type"] == "taxonomy"]
    assert tax["label"].tolist() == ["Business", "Sport"]
    assert tax["extra"].iloc[0]["path"] == ["News", "Business"]
    assert a[a["type"] == "rating"]["value"].tolist() == [4.0]
    assert ds.relations["labels"].iloc[0] == ["works_for"]


def test_audio_segments_and_transcripts(ls_dir):
    a = _load(ls_dir, "audio").annotations
    seg = a[a["type"] == "segment"]
    assert seg[["label", "start", "end"]].values.tolist() == [["Alice", 0.0, 0.62], ["Bob", 0.7, 1.45]]
    assert seg["extra"].iloc[0]["channel"] == 0
    assert a[a["type"] == "text"]["text"].tolist() == ["hello there general kenobi", "goodbye"]


def test_video_keyframes(ls_dir):
    ds = _load(ls_dir, "video")
    a = ds.annotations
    assert len(a) == 3 and a["type"].eq("bbox").all()
    assert a["frame"].tolist() == [0, 24, 49]
    assert a["track_id"].nunique() == 1 and a["keyframe"].all()
    assert [e["enabled"] for e in a["extra"]] == [True, True, False]
    assert ds.items["duration"].iloc[0] == 4.0 and ds.items["extra"].iloc[0]["frames_count"] == 100


@pytest.mark.parametrize("project", PROJECTS)
def test_json_round_trip_equals_input(ls_dir, project, tmp_path):
    src = ls_dir / "input" / project / "tasks.json"
    ds = aw.load(str(src))
    out = ds.export(str(tmp_path), format="Label Studio JSON", archive=False, name="out")
    assert not out.loss
    back = orjson.loads((tmp_path / "out" / "result.json").read_bytes())
    assert back == orjson.loads(src.read_bytes())  # dict equality ignores key order
    ds2 = aw.load(str(tmp_path / "out" / "result.json"))
    for t in ("items", "sets", "annotations", "relations", "labels"):
        pd.testing.assert_frame_equal(getattr(ds, t), getattr(ds2, t))


def test_single_task_dict_and_folder_of_task_files(ls_dir, tmp_path):
    tasks = orjson.loads((ls_dir / "input/text/tasks.json").read_bytes())
    (tmp_path / "one.json").write_bytes(orjson.dumps(tasks[0]))
    one = aw.load(str(tmp_path / "one.json"))
    assert one.items["item_id"].tolist() == [201] and len(one.annotations) == 8
    d = tmp_path / "tasks"
    d.mkdir()
    for t in tasks:
        (d / f"{t['id']}.json").write_bytes(orjson.dumps(t))
    many = aw.load(str(d), format="ls")
    assert many.items["item_id"].tolist() == [201, 202, 203] and len(many.annotations) == 13


def test_legacy_project_folder_with_completions(ls_dir, tmp_path):
    tasks = orjson.loads((ls_dir / "input/image/tasks.json").read_bytes())
    proj = tmp_path / "proj"
    (proj / "completions").mkdir(parents=True)
    (proj / "tasks.json").write_bytes(orjson.dumps({str(t["id"]): {"id": t["id"], "data": t["data"]}
                                                    for t in tasks}))
    legacy = tasks[3]
    (proj / "completions" / "104.json").write_bytes(orjson.dumps(legacy))
    (proj / "config.xml").write_bytes((ls_dir / "input/image/config.xml").read_bytes())
    ds = aw.load(str(proj))
    assert ds.items["item_id"].tolist() == [101, 102, 103, 104]
    assert ds.annotations["region_id"].tolist() == ["r_leg"]
    assert set(ds.labels["from_name"]) == {"bbox", "poly", "kp", "mask", "weather"}


def test_config_fills_labels(ls_dir):
    ds = _load(ls_dir, "image", config=str(ls_dir / "input/image/config.xml"))
    lab = ds.labels
    assert len(lab) == 10
    kp = lab[lab["from_name"] == "kp"]
    assert kp["type"].eq("points").all() and kp["extra"].iloc[0]["model_index"] == "0"
    assert lab[lab["from_name"] == "weather"]["type"].eq("tag").all()
    xml = '<View><Image name="img" value="$image"/><RectangleLabels name="l" toName="img">' \
          '<Label value="Car" background="#ff0000"/></RectangleLabels></View>'
    ds2 = _load(ls_dir, "image_det", config=xml)
    assert ds2.labels[["name", "color", "type"]].values.tolist() == [["Car", "#ff0000", "rectangle"]]


def test_span_offsets_repaired_for_utf16_drift(tmp_path):
    text = "😀😀 Angela Merkel"
    # an old frontend counted UTF-16 code units: each emoji is 2, so the offsets are 2 too far
    task = {"id": 1, "data": {"text": text}, "annotations": [{"id": 1, "result": [
        {"id": "s", "type": "labels", "from_name": "ner", "to_name": "text",
         "value": {"start": 5, "end": 18, "text": "Angela Merkel", "labels": ["PER"]}}]}]}
    p = tmp_path / "t.json"
    p.write_bytes(orjson.dumps([task]))
    ds = aw.load(str(p))
    row = ds.annotations.iloc[0]
    assert text[int(row.start):int(row.end)] == "Angela Merkel"
    assert (row.start, row.end) == (3, 16) and "repaired" in row.extra["ls_span"]
    assert ls_write.build_tasks(ds)[0]["annotations"][0]["result"][0]["value"]["start"] == 5


def test_truncated_json_names_file_and_position(ls_dir, tmp_path):
    raw = (ls_dir / "input/image/tasks.json").read_bytes()
    p = tmp_path / "cut.json"
    p.write_bytes(raw[:500])
    with pytest.raises(FormatError) as e:
        aw.load(str(p), format="Label Studio JSON")
    assert str(p) in str(e.value) and e.value.position is not None and "char" in str(e.value)


def test_overrunning_brush_rle_is_format_error(tmp_path):
    bad = [0, 0, 0, 8, 57, 27, 252, 96, 22, 255, 192]  # N = 8, but the runs give 4 + 12 words
    task = {"id": 1, "data": {"image": "/x.png"}, "annotations": [{"id": 1, "result": [
        {"id": "b", "type": "brushlabels", "from_name": "m", "to_name": "image", "original_width": 1,
         "original_height": 2, "value": {"format": "rle", "rle": bad, "brushlabels": ["Sky"]}}]}]}
    p = tmp_path / "b.json"
    p.write_bytes(orjson.dumps([task]))
    with pytest.raises(FormatError, match="overruns"):
        aw.load(str(p))


def test_all_other_result_types_round_trip(tmp_path):
    res = [
        {"id": "e1", "type": "ellipselabels", "from_name": "el", "to_name": "image", "original_width": 200,
         "original_height": 100, "image_rotation": 0,
         "value": {"x": 50, "y": 50, "radiusX": 10, "radiusY": 5, "rotation": 15, "ellipselabels": ["Cell"]}},
        {"id": "r2", "type": "rectangle", "from_name": "rect", "to_name": "image", "original_width": 200,
         "original_height": 100, "image_rotation": 0, "value": {"x": 5, "y": 5, "width": 10, "height": 10,
                                                                "rotation": 0}},
        {"id": "r2", "type": "labels", "from_name": "lab", "to_name": "image", "original_width": 200,
         "original_height": 100, "image_rotation": 0,
         "value": {"x": 5, "y": 5, "width": 10, "height": 10, "rotation": 0, "labels": ["Tea", "Hot"]}},
        {"id": "r2", "type": "textarea", "from_name": "note", "to_name": "image", "value": {"text": ["a", "b"]}},
        {"id": "n1", "type": "number", "from_name": "num", "to_name": "image", "value": {"number": 12.5}},
        {"id": "d1", "type": "datetime", "from_name": "dt", "to_name": "image", "value": {"datetime": "2024-05-01"}},
        {"id": "ts", "type": "timeserieslabels", "from_name": "tsl", "to_name": "ts",
         "value": {"start": 1.0, "end": 3.5, "instant": False, "timeserieslabels": ["Run"]}},
        {"id": "tl", "type": "timelinelabels", "from_name": "tll", "to_name": "video",
         "value": {"ranges": [{"start": 10, "end": 42}], "timelinelabels": ["Walking"]}},
        {"id": "pw", "type": "pairwise", "from_name": "pw", "to_name": "image", "value": {"selected": "left"}},
        {"id": "rk", "type": "ranker", "from_name": "rk", "to_name": "image", "value": {"ranker": {"a": [1, 2]}}},
        {"id": "hl", "type": "hypertextlabels", "from_name": "ht", "to_name": "html",
         "value": {"start": "/p[1]", "end": "/p[1]", "startOffset": 0, "endOffset": 4, "hypertextlabels": ["X"]}},
        {"id": "pl", "type": "paragraphlabels", "from_name": "pg", "to_name": "dialog",
         "value": {"start": "0", "end": "1", "startOffset": 0, "endOffset": 3, "paragraphlabels": ["Q"]}},
    ]
    task = {"id": 7, "data": {"image": "/data/upload/1/a.png"}, "annotations": [
        {"id": 70, "completed_by": 3, "result": res, "was_cancelled": False, "ground_truth": False}]}
    p = tmp_path / "all.json"
    p.write_bytes(orjson.dumps([task]))
    ds = aw.load(str(p)).validate()
    a = ds.annotations
    assert a["type"].tolist() == ["ellipse", "bbox", "bbox", "bbox", "text", "text", "number", "datetime",
                                  "segment", "segment", "other", "other", "span", "span"]
    assert a.iloc[12:]["label"].tolist() == ["X", "Q"]
    el = a.iloc[0]
    assert [el.x, el.y, el.w, el.h, el.rotation] == pytest.approx([80, 45, 40, 10, 15])
    assert a.iloc[2:4]["label"].tolist() == ["Tea", "Hot"] and a.iloc[1]["label"] == ""
    assert a.iloc[6]["value"] == 12.5 and a.iloc[7]["text"] == "2024-05-01"
    assert a.iloc[10]["extra"]["ls_value"] == {"selected": "left"}
    assert a[a["region_id"] == "r2"].shape[0] == 5  # rectangle + 2 labels + 2 texts share the region
    out = orjson.loads(orjson.dumps(ls_write.build_tasks(ds)))
    src = orjson.loads(p.read_bytes())
    for mine, ref in zip(out[0]["annotations"][0]["result"], src[0]["annotations"][0]["result"], strict=True):
        assert mine == ref
    assert out == src


FOREIGN_RLE = brush.to_coco(np.pad(np.full((10, 20), 255, np.uint8), ((10, 80), (30, 150))))


def _foreign_dataset() -> Dataset:
    """A CVAT-like dataset: no region ids, no from_name, attributes, a cuboid, a track on a video."""
    items = {"item_id": [0, 1], "name": ["a.png", "clip.mp4"], "media": ["imgs/a.png", "clip.mp4"],
             "width": [200, 320], "height": [100, 240], "kind": ["image", "video"], "duration": [np.nan, 2.0]}
    rle = FOREIGN_RLE
    ann = {
        "ann_id": [0, 1, 2, 3, 4, 5, 6, 7, 8],
        "item_id": [0, 0, 0, 0, 0, 0, 1, 1, 0],
        "label": ["car", "road", "head", "cell", "sky", "sunny", "car", "car", "box3d"],
        "type": ["bbox", "polygon", "points", "ellipse", "mask", "tag", "bbox", "bbox", "cuboid"],
        "x": [10, 0, 50, 20, 30, np.nan, 32, 64, 0], "y": [20, 50, 10, 30, 10, np.nan, 24, 24, 0],
        "w": [40, 100, 0, 20, 20, np.nan, 32, 32, 1], "h": [30, 50, 0, 10, 10, np.nan, 24, 24, 1],
        "rotation": [30, 0, 0, 0, 0, 0, 0, 0, 0],
        "points": [None, [0, 50, 100, 50, 100, 100], [50, 10], None, None, None, None, None, [0] * 16],
        "mask": [None, None, None, None, rle, None, None, None, None],
        "attributes": [{"color": "red"}, None, None, None, None, None, None, None, None],
        "track_id": [pd.NA] * 6 + [5, 5, pd.NA], "frame": [pd.NA] * 6 + [0, 10, pd.NA],
        "keyframe": [False] * 6 + [True, True, False], "outside": [False] * 7 + [True, False],
        "z_order": [0, 1, 0, 0, 0, 0, 0, 0, 0], "occluded": [False, True] + [False] * 7,
    }
    return Dataset(items=items, annotations=ann)


def test_writing_foreign_data(tmp_path):
    ds = _foreign_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ds.export(str(tmp_path), format="ls", archive=False, name="o", from_names={"bbox": "boxes"})
    reasons = {e.reason: e.rows for e in out.loss.entries}
    assert any("cuboid" in r for r in reasons)
    assert not any("z_order" in r or "occluded" in r for r in reasons)  # both kept in the region's meta.cvat
    tasks = orjson.loads((tmp_path / "o" / "result.json").read_bytes())
    assert tasks[0]["data"] == {"image": "imgs/a.png"} and tasks[1]["data"] == {"video": "clip.mp4"}
    res = tasks[0]["annotations"][0]["result"]
    assert [r["type"] for r in res] == ["rectanglelabels", "polygonlabels", "keypointlabels", "ellipselabels",
                                        "brushlabels", "choices"]
    box = res[0]
    assert box["from_name"] == "boxes" and box["to_name"] == "image" and box["original_width"] == 200
    assert box["meta"] == {"attributes": {"color": "red"}}
    assert len({r["id"] for r in res}) == 6
    assert res[1]["meta"] == {"cvat": {"z_order": 1, "occluded": True}}  # CVAT's flags, where LS keeps metadata
    vid = tasks[1]["annotations"][0]["result"]
    assert len(vid) == 1 and vid[0]["type"] == "videorectangle"
    assert [k["frame"] for k in vid[0]["value"]["sequence"]] == [1, 11]
    assert [k["enabled"] for k in vid[0]["value"]["sequence"]] == [True, False]
    # and back: geometry, masks, attributes, tracks survive
    back = aw.load(str(tmp_path / "o" / "result.json"))
    a = back.annotations
    b0 = a.iloc[0]
    assert [b0.x, b0.y, b0.w, b0.h, b0.rotation] == pytest.approx([10, 20, 40, 30, 30])
    assert (a.iloc[1].z_order, bool(a.iloc[1].occluded)) == (1, True) and not a.iloc[0].occluded
    assert b0.attributes == {"color": "red"}
    assert a.iloc[1]["points"] == pytest.approx([0, 50, 100, 50, 100, 100])
    assert a.iloc[3][["x", "y", "w", "h"]].tolist() == pytest.approx([20, 30, 20, 10])
    assert np.array_equal(brush.from_coco(a.iloc[4]["mask"]), brush.from_coco(FOREIGN_RLE))
    assert a.iloc[5]["label"] == "sunny" and a.iloc[5]["type"] == "tag"
    v = a[a["item_id"] == 1]
    assert v["frame"].tolist() == [0, 10] and v["x"].tolist() == pytest.approx([32, 64])


def test_cvat_video_frames_become_one_video_task():
    # CVAT for video: one item per frame (kind video_frame), a track across frames, a lone box, a polygon
    items = {"item_id": [0, 1, 2], "name": ["frame_000000", "frame_000001", "frame_000002"], "task": [3, 3, 3],
             "frame": [0, 1, 2], "kind": ["video_frame"] * 3, "width": [100] * 3, "height": [50] * 3}
    ann = {"ann_id": [0, 1, 2, 3, 4], "item_id": [0, 1, 2, 1, 2], "label": ["car", "car", "car", "bike", "road"],
           "type": ["bbox", "bbox", "bbox", "bbox", "polygon"], "x": [0, 10, 20, 5, 0], "y": [0, 0, 0, 5, 0],
           "w": [10, 10, 10, 5, 10], "h": [10, 10, 10, 5, 10], "track_id": [7, pd.NA, 7, pd.NA, pd.NA],
           "keyframe": [True, False, True, False, False], "outside": [False, False, True, False, False],
           "points": [None, None, None, None, [0, 0, 10, 0, 10, 10]]}
    ann["track_id"][1] = 7
    ds = Dataset(items=items, annotations=ann, tasks={"task_id": [3], "name": ["street.mp4"]})
    from annowidgets.core.loss import LossReport

    rep = LossReport("ls")
    tasks = ls_write.build_tasks(ds, rep)
    assert len(tasks) == 1 and tasks[0]["data"] == {"video": "street.mp4"} and tasks[0]["id"] == 3
    res = tasks[0]["annotations"][0]["result"]
    assert [r["type"] for r in res] == ["videorectangle", "videorectangle"]
    car = next(r for r in res if r["value"]["labels"] == ["car"])
    assert [k["frame"] for k in car["value"]["sequence"]] == [1, 2, 3]
    assert [k["x"] for k in car["value"]["sequence"]] == pytest.approx([0, 10, 20])
    assert car["value"]["framesCount"] == 3
    assert [e.rows for e in rep.entries if "rectangles only" in e.reason] == [[4]]


# -- where Label Studio's media live: /data/upload/ and /data/local-files/?d= ---------------------
def _png(path, shade):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), (shade, 0, 0)).save(path)
    return path.read_bytes()


def test_upload_and_local_files_urls_map_to_folders_given_at_load(tmp_path, monkeypatch):
    upload, docroot = tmp_path / "media" / "upload", tmp_path / "docroot"
    blobs = [_png(upload / "3" / "a1b2-cat.png", 10), _png(docroot / "pics" / "dog 1.png", 20),
             _png(upload / "3" / "c3d4-cow.png", 30)]
    box = {"x": 10, "y": 10, "width": 50, "height": 50, "rotation": 0, "rectanglelabels": ["cat"]}
    tasks = [{"id": i + 1, "data": {"image": url},
              "annotations": [{"id": i + 1, "result": [{"id": f"r{i}", "type": "rectanglelabels", "from_name": "label",
                                                        "to_name": "image", "original_width": 8,
                                                        "original_height": 6, "value": box}]}]}
             for i, url in enumerate(["/data/upload/3/a1b2-cat.png", "/data/local-files/?d=pics/dog%201.png",
                                      "http://localhost:8080/data/upload/3/c3d4-cow.png"])]
    src = tmp_path / "export" / "tasks.json"
    src.parent.mkdir()
    src.write_bytes(orjson.dumps(tasks))
    monkeypatch.delenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", raising=False)
    ds = aw.load(str(src), upload_dir=str(upload), local_files_root=str(docroot))
    urls = [ds.media_url(m) for m in ds.items["media"]]
    assert urls == [str(upload / "3" / "a1b2-cat.png"), str(docroot / "pics" / "dog 1.png"),
                    str(upload / "3" / "c3d4-cow.png")]
    out = ds.export(str(tmp_path / "coco"), "COCO 1.0", save_images=True, archive=False, warn=False)
    copied = sorted(p.read_bytes() for p in (tmp_path / "coco").rglob("*.png"))
    assert copied == sorted(blobs)
    assert (tmp_path / "coco").exists() and out
    # the media values themselves are kept as Label Studio wrote them (a JSON export keeps them)
    assert ds.items["media"].tolist()[0] == "/data/upload/3/a1b2-cat.png"
    # the environment variable Label Studio itself reads is the default document root
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", str(docroot))
    assert aw.load(str(src)).media_url("/data/local-files/?d=pics/dog%201.png") == str(docroot / "pics" / "dog 1.png")
    # without a map the paths pass through unchanged (nothing guessed)
    monkeypatch.delenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")
    assert aw.load(str(src)).media_url("/data/upload/3/a1b2-cat.png") == "/data/upload/3/a1b2-cat.png"


# -- HTML and dialogue NER: HyperTextLabels (XPath + globalOffsets) and ParagraphLabels -------------
_HTML_TASK = {"id": 1, "data": {"html": "<p>Hello world</p>", "dialogue": [{"author": "a", "text": "Hi there"}]},
              "annotations": [{"id": 5, "result": [
                  {"id": "h1", "from_name": "ner", "to_name": "html", "type": "hypertextlabels",
                   "value": {"start": "/p[1]/text()[1]", "end": "/p[1]/text()[1]", "startOffset": 0, "endOffset": 5,
                             "globalOffsets": {"start": 0, "end": 5}, "text": "Hello",
                             "hypertextlabels": ["GREET", "WORD"]}},
                  {"id": "p1", "from_name": "para", "to_name": "dialogue", "type": "paragraphlabels",
                   "value": {"start": "0", "end": "0", "startOffset": 0, "endOffset": 2, "text": "Hi",
                             "paragraphlabels": ["Q"]}}]}]}


def test_hypertext_and_paragraph_labels_are_spans_with_labels_and_round_trip(tmp_path):
    src = tmp_path / "tasks.json"
    src.write_bytes(orjson.dumps([_HTML_TASK]))
    ds = aw.load(str(src))
    a = ds.annotations
    assert a["type"].tolist() == ["span"] * 3
    assert a["label"].tolist() == ["GREET", "WORD", "Q"]
    assert a["text"].tolist() == ["Hello", "Hello", "Hi"]
    assert a["start"].tolist()[:2] == [0.0, 0.0] and a["end"].tolist()[:2] == [5.0, 5.0]
    assert a["start"].isna().tolist()[2]  # a paragraph index is not a character offset
    back = orjson.loads(open(ds.export(str(tmp_path / "out.json"), "JSON", warn=False), "rb").read())
    assert back[0]["annotations"][0]["result"] == _HTML_TASK["annotations"][0]["result"]
    # a label edited in the table reaches the file; the XPath addressing stays as it was
    ds.annotations.loc[ds.annotations["label"] == "Q", "label"] = "A"
    back = orjson.loads(open(ds.export(str(tmp_path / "out2.json"), "JSON", warn=False), "rb").read())
    para = back[0]["annotations"][0]["result"][1]["value"]
    assert para["paragraphlabels"] == ["A"] and para["start"] == "0" and para["endOffset"] == 2
