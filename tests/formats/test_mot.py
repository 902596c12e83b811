"""MOT 1.1: Datumaro's samples, CVAT's track rules on import (gaps -> outside), the per-frame
export with renumbered tracks, what MOT cannot carry, bad lines, and Datumaro reading ours."""
from __future__ import annotations

import json
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core import tracks
from annowidgets.core.errors import FormatError, UnknownFormatError
from annowidgets.core.loss import LossWarning

LABELS = ["car", "person"]


def _export(ds, tmp_path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(tmp_path), format="MOT 1.1", archive=False, name="out", **kw)


def _seq(tmp_path, gt: str, labels=LABELS):
    (tmp_path / "gt").mkdir(parents=True, exist_ok=True)
    (tmp_path / "gt" / "gt.txt").write_text(gt)
    (tmp_path / "gt" / "labels.txt").write_text("\n".join(labels))
    return tmp_path


def _tracked_dataset(media=None) -> aw.Dataset:
    """Six frames; track 7 has keyframes at 0 and 4 (interpolated between) and an outside keyframe
    at 5; track 9 is one visible keyframe at 2 (repeated to the end); one plain box on frame 1."""
    items = pd.DataFrame({"item_id": range(6), "name": [f"{i + 1:06d}.png" for i in range(6)], "frame": range(6),
                          "width": 40, "height": 30, "task": 0,
                          "media": [str(media / f"{i}.png") if media else pd.NA for i in range(6)]})
    if media:
        media.mkdir(parents=True, exist_ok=True)
        for i in range(6):
            Image.new("RGB", (40, 30), (i * 20, 0, 0)).save(media / f"{i}.png")
    rows = [
        dict(item_id=0, frame=0, track_id=7, keyframe=True, label="car", x=1.0, y=2.0, w=4.0, h=6.0,
             attributes={"visibility": 0.75, "ignored": False}),
        dict(item_id=4, frame=4, track_id=7, keyframe=True, label="car", x=9.0, y=2.0, w=8.0, h=6.0,
             attributes={"visibility": 0.25, "ignored": True}),
        dict(item_id=5, frame=5, track_id=7, keyframe=True, outside=True, label="car", x=9.0, y=2.0, w=8.0, h=6.0),
        dict(item_id=2, frame=2, track_id=9, keyframe=True, label="person", x=3.5, y=4.25, w=2.0, h=3.0,
             occluded=True),
        dict(item_id=1, frame=1, label="person", x=20.125, y=10.0, w=5.0, h=5.5),
    ]
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", range(len(ann)))
    tasks = pd.DataFrame({"task_id": [0], "name": ["seq"], "mode": ["interpolation"], "size": [6],
                          "start_frame": [0], "stop_frame": [5]})
    return aw.Dataset(items=items, annotations=ann, labels=[{"name": n} for n in LABELS], tasks=tasks).validate()


# -- Datumaro's samples -----------------------------------------------------------------------
def test_datumaro_samples_load_detected(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "mot_dataset"))
    assert ds.info["format"] == "MOT 1.1"
    assert sorted(ds.items["subset"]) == ["mot_seq", "mot_seq_with_seqinfo"]
    assert (ds.items["name"] == "000001.jpg").all() and (ds.items["frame"] == 0).all()
    assert ds.items["width"].tolist() == [16, 16] and ds.items["height"].tolist() == [16, 16]
    assert ds.labels["name"].tolist() == [f"label_{i}" for i in range(10)]
    a = ds.annotations
    assert len(a) == 2 and (a["label"] == "label_2").all() and a["track_id"].isna().all()
    assert a[list("xywh")].to_numpy().tolist() == [[0, 4, 4, 8]] * 2
    assert a["attributes"].tolist() == [{"visibility": 1.0, "ignored": False}] * 2
    assert not a["occluded"].any()
    seqinfo = ds.tasks.set_index("name").loc["Test", "extra"]["mot_seqinfo"]
    assert seqinfo == {"name": "Test", "imDir": "img1", "frameRate": 10, "seqLength": 1, "imWidth": 16,
                       "imHeight": 16, "imExt": ".jpg"}
    one = aw.load(str(datumaro_dir / "mot_dataset" / "mot_seq"))
    assert one.info["format"] == "MOT 1.1" and one.items["media"].iloc[0].endswith("img1/000001.jpg")


# -- import as CVAT does it -------------------------------------------------------------------
def test_track_gaps_become_outside_keyframes(tmp_path):
    gt = ("1,1,10,10,5,5,1,1,1.0\n2,1,11,10,5,5,1,1,0.5\n5,1,20,10,5,5,0,1,0.0\n"
          "1,2,0,0,3,3,1,2,1\n4,-1,1,1,1,1,1,2,1\n6,3,0,0,1,1,1,2,1\n")
    ds = aw.load(str(_seq(tmp_path, gt)))
    assert ds.info["format"] == "MOT 1.1"
    a = ds.annotations
    assert ds.items["frame"].tolist() == [0, 1, 2, 3, 4, 5]  # every frame up to the last of gt.txt, 0-based
    t1 = a[a["track_id"] == 1].sort_values("frame")
    # a gap gets an outside frame after the last visible one; so does the end before the sequence's end
    assert t1["frame"].tolist() == [0, 1, 2, 4, 5] and t1["outside"].tolist() == [False, False, True, False, True]
    assert t1["keyframe"].all()
    last = t1.iloc[-2]
    assert last["occluded"] and last["attributes"] == {"visibility": 0.0, "ignored": True}
    t2 = a[a["track_id"] == 2].sort_values("frame")  # ends before the sequence: outside on the next frame
    assert t2["frame"].tolist() == [0, 1] and t2["outside"].tolist() == [False, True]
    assert (a[a["track_id"] == 3]["frame"].tolist()) == [5]  # ends on the last frame: nothing after
    plain = a[a["track_id"].isna()]
    assert len(plain) == 1 and plain["frame"].iloc[0] == 3 and not plain["keyframe"].iloc[0]
    assert plain["label"].iloc[0] == "person"


def test_missing_fields_and_labels_default(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt.txt").write_text("1,1,1,2,3,4\n2,1,1,2,3,4,0,3\n")  # 6 and 8 fields
    ds = aw.load(str(tmp_path), format="mot")
    a = ds.annotations[~ds.annotations["outside"]]
    assert a["label"].tolist() == ["", "car"]  # no class -> no label; 3 = MOT's own "car"
    assert a["attributes"].tolist() == [{"visibility": 1.0, "ignored": False}, {"visibility": 1.0, "ignored": True}]


# -- export -----------------------------------------------------------------------------------
def test_export_writes_every_visible_frame_like_cvat(tmp_path):
    ds = _tracked_dataset()
    out = _export(ds, tmp_path)
    lines = (tmp_path / "out" / "gt" / "gt.txt").read_text().splitlines()
    assert (tmp_path / "out" / "gt" / "labels.txt").read_text() == "car\nperson"
    rows = [ln.split(",") for ln in lines]
    # tracks renumbered by first appearance (7 -> 1, 9 -> 2); the plain box gets -1; shapes before tracks
    assert [(int(r[0]), int(r[1])) for r in rows] == [(1, 1), (2, -1), (2, 1), (3, 1), (3, 2), (4, 1), (4, 2),
                                                      (5, 1), (5, 2), (6, 2)]
    per = tracks.interpolate(ds.annotations, start=0, step=1, stop=5, visible_only=True)
    per = per[per["track_id"] == 7].sort_values("frame")
    got = np.array([[float(v) for v in r[2:6]] for r in rows if r[1] == "1"])
    assert np.allclose(got, per[list("xywh")].to_numpy())
    first, kf4 = rows[0], next(r for r in rows if r[0] == "5" and r[1] == "1")
    assert first[6:] == ["1", "1", "0.75"] and kf4[6:] == ["0", "1", "0.25"]  # not_ignored, class, visibility
    occl = next(r for r in rows if r[1] == "2")
    assert occl[6:] == ["1", "2", "0.0"]  # occluded without a visibility attribute -> 1 - occluded
    plain = next(r for r in rows if r[1] == "-1")
    assert plain[2:6] == ["20.125", "10.0", "5.0", "5.5"]
    assert "written interpolated" in out.loss.summary()


def test_round_trip_equal_on_what_mot_carries(tmp_path):
    ds = _tracked_dataset()
    back = aw.load(_export(ds, tmp_path))
    assert back.info["format"] == "MOT 1.1"
    want = tracks.interpolate(ds.annotations, start=0, step=1, stop=5, visible_only=True)
    got = back.annotations[~back.annotations["outside"]]
    key = ["frame", "label", "x", "y", "w", "h", "occluded"]
    w = want.sort_values(["frame", "x"])[key].reset_index(drop=True)
    g = got.sort_values(["frame", "x"])[key].reset_index(drop=True)
    pd.testing.assert_frame_equal(g, w, check_dtype=False)
    # track 7 ends with an outside keyframe at frame 5, as it did; track 9 runs to the end
    t = back.annotations.dropna(subset=["track_id"])
    assert t.groupby("track_id")["outside"].sum().tolist() == [1, 0]
    assert back.annotations["track_id"].notna().sum() == len(t)
    # and the file written from what we read is the same bytes
    again = _export(back, tmp_path / "again")
    assert (tmp_path / "again" / "out" / "gt" / "gt.txt").read_text() == \
        (tmp_path / "out" / "gt" / "gt.txt").read_text()
    assert again.loss.summary().endswith("nothing lost")


def test_loss_report_names_what_mot_cannot_carry(tmp_path):
    ds = _tracked_dataset()
    extra = pd.DataFrame([
        dict(ann_id=10, item_id=0, label="car", type="polygon", points=[0, 0, 4, 0, 4, 4], x=0, y=0, w=4, h=4),
        dict(ann_id=11, item_id=0, label="car", type="bbox", x=1, y=1, w=2, h=2, rotation=30.0),
        dict(ann_id=12, item_id=0, label="car", type="tag"),
        dict(ann_id=13, item_id=1, label="car", type="bbox", x=1, y=1, w=2, h=2, attributes={"color": "red"}),
        dict(ann_id=14, item_id=1, label="car", type="bbox", x=1, y=1, w=2, h=2, group=3),
    ])
    ds = aw.Dataset(items=ds.items, annotations=pd.concat([ds.annotations, extra], ignore_index=True),
                    labels=ds.labels, tasks=ds.tasks)
    loss = _export(ds, tmp_path).loss.to_frame()
    by_reason = {r: rows for r, rows in zip(loss["reason"], loss["rows"], strict=True)}
    assert next(v for k, v in by_reason.items() if "only boxes" in k) == [10, 12]
    assert next(v for k, v in by_reason.items() if "rotation" in k) == [11]
    assert next(v for k, v in by_reason.items() if "only the visibility and ignored" in k) == [13]
    assert next(v for k, v in by_reason.items() if "groups" in k) == [14]


def test_save_images_and_seqinfo(tmp_path, datumaro_dir):
    ds = _tracked_dataset(tmp_path / "media")
    _export(ds, tmp_path, save_images=True)
    assert sorted(p.name for p in (tmp_path / "out" / "img1").iterdir()) == [f"{i:06d}.png" for i in range(1, 7)]
    assert not (tmp_path / "out" / "seqinfo.ini").exists()  # CVAT writes none
    # a sequence that came with one gets it back
    src = aw.load(str(datumaro_dir / "mot_dataset" / "mot_seq_with_seqinfo"))
    _export(src, tmp_path / "s")
    text = (tmp_path / "s" / "out" / "seqinfo.ini").read_text()
    assert "name=Test\n" in text and "seqLength=1\n" in text and "imWidth=16\n" in text and "imExt=.jpg\n" in text
    assert aw.load(str(tmp_path / "s" / "out")).tasks["extra"].iloc[0] == src.tasks["extra"].iloc[0]


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(("gt", "line", "what"), [
    ("1,1,1,1,1,1,1,1,1\n1,2,3,4\n", 2, "expected 6 to 10 comma-separated fields"),
    ("1,1,1,1,1,1,1,1,1\n\n2,1,x,1,1,1,1,1,1\n", 3, "field 'x' is 'x', expected a number"),
    ("1.5,1,1,1,1,1,1,1,1\n", 1, "frame must be an integer"),
    ("0,1,1,1,1,1,1,1,1\n", 1, "MOT frames start at 1"),
    ("1,1,1,1,1,1,1,1,1\n999999999,1,1,1,1,1,1,1,1\n", 2, "is beyond 1000000"),
    ("1,1,1,1,1,1,1,5,1\n", 1, "class_id 5 is not a line of labels.txt"),
])
def test_bad_lines_name_file_and_line(tmp_path, gt, line, what):
    _seq(tmp_path, gt)
    with pytest.raises(FormatError) as info:
        aw.load(str(tmp_path), format="MOT 1.1")
    assert info.value.file.endswith("gt/gt.txt") and info.value.line == line
    assert what in str(info.value)


def test_other_text_folders_are_not_mot(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt.txt").write_text("hello world\n")
    with pytest.raises(UnknownFormatError):
        aw.load(str(tmp_path))


# -- Datumaro reads ours ----------------------------------------------------------------------
DM_MOT = textwrap.dedent("""
    import json, sys
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], "mot_seq")
    names = [c.name for c in ds.categories()[AnnotationType.label]]
    rows = []
    for item in ds:
        for a in item.annotations:
            rows.append([int(item.id), a.attributes.get("track_id", -1), names[a.label], a.x, a.y, a.w, a.h,
                         a.attributes["visibility"], a.attributes["ignored"]])
    print(json.dumps({"labels": names, "rows": sorted(rows)}))
""")


@pytest.mark.oracle
def test_datumaro_reads_our_mot(tmp_path, oracle):
    ds = _tracked_dataset(tmp_path / "media")
    out = _export(ds, tmp_path, save_images=True)
    got = oracle(DM_MOT, str(out))
    assert got["labels"] == LABELS
    rows = [ln.split(",") for ln in (tmp_path / "out" / "gt" / "gt.txt").read_text().splitlines()]
    want = sorted([int(r[0]), int(r[1]), LABELS[int(r[7]) - 1], *map(float, r[2:6]), float(r[8]), r[6] == "0"]
                  for r in rows)
    # Datumaro keeps coordinates as float32 rounded to 2 decimals; ours are exact in the file
    assert [[*r[:3], *np.round(r[3:7], 2).tolist(), *r[7:]] for r in got["rows"]] == \
        [[*r[:3], *np.round(r[3:7], 2).tolist(), *r[7:]] for r in want]
    assert len(got["rows"]) == 10 and {r[1] for r in got["rows"]} == {-1, 1, 2}
    back = aw.load(str(out))
    assert json.dumps(sorted(back.annotations.loc[~back.annotations["outside"], "frame"].add(1).tolist())) == \
        json.dumps(sorted(r[0] for r in got["rows"]))


def test_cvat_archive_zip_round_trip(tmp_path):
    ds = _tracked_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        path = ds.export(str(tmp_path), format="mot")  # CVAT's default name, zipped
    assert path.endswith("_mot 1.1.zip")
    back = aw.load(path)
    assert back.info["format"] == "MOT 1.1" and len(back.annotations[~back.annotations["outside"]]) == 10


DM_WRITE_MOT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from datumaro.components.annotation import Bbox
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image
    items = []
    for f in range(1, 5):
        anns = [Bbox(1.5 * f, 2.25, 4.0, 3.0, label=0, attributes={"track_id": 11, "visibility": 0.5,
                                                                    "ignored": False})]
        if f != 2:  # track 12 skips frame 2
            anns.append(Bbox(10.0, 1.0, 2.5, 2.0, label=1, attributes={"track_id": 12, "ignored": f == 4}))
        if f == 3:
            anns.append(Bbox(0.0, 0.0, 1.0, 1.0, label=1))
        items.append(DatasetItem(id=str(f), media=Image.from_numpy(np.zeros((20, 30, 3), np.uint8)),
                                 annotations=anns))
    Dataset.from_iterable(items, categories=["car", "person"]).export(sys.argv[1], "mot_seq_gt", save_media=True)
    print(json.dumps({"ok": True}))
""")


@pytest.mark.oracle
def test_we_read_datumaros_mot(tmp_path, oracle):
    oracle(DM_WRITE_MOT, str(tmp_path / "dm"))
    ds = aw.load(str(tmp_path / "dm"))
    assert ds.info["format"] == "MOT 1.1" and ds.labels["name"].tolist() == ["car", "person"]
    assert ds.items["frame"].tolist() == [0, 1, 2, 3] and (ds.items["width"] == 30).all()
    a = ds.annotations
    car = a[a["label"] == "car"].sort_values("frame")
    assert car["x"].tolist() == [1.5, 3.0, 4.5, 6.0] and car["track_id"].nunique() == 1 and car["keyframe"].all()
    assert (car["attributes"].map(lambda d: d["visibility"]) == 0.5).all()
    person = a[(a["label"] == "person") & a["track_id"].notna()].sort_values("frame")
    assert person["frame"].tolist() == [0, 1, 2, 3] and person["outside"].tolist() == [False, True, False, False]
    assert person["attributes"].iloc[-1]["ignored"] is True
    plain = a[a["track_id"].isna()]
    assert len(plain) == 1 and plain["frame"].iloc[0] == 2


def test_item_names_and_trailing_empty_frames_are_reported(tmp_path):
    items = pd.DataFrame({"item_id": [0, 1, 2], "name": ["street.png", "000002.png", "000003.png"], "frame": [0, 1, 2],
                          "width": 10, "height": 10})
    ann = pd.DataFrame([dict(ann_id=0, item_id=0, label="car", type="bbox", x=1, y=1, w=2, h=2)])
    loss = _export(aw.Dataset(items=items, annotations=ann), tmp_path).loss.to_frame()
    items_loss = loss[loss["table"] == "items"].set_index("reason")["rows"]
    assert next(v for k, v in items_loss.items() if "item name is not kept" in k) == [0]
    assert next(v for k, v in items_loss.items() if "after the last box" in k) == [1, 2]
