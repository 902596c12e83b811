"""CVAT XML writers: byte-exact CVAT layout, table round trips, losses, media, levels."""
from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import annowidgets as aw
from annowidgets.core.dataset import Dataset
from annowidgets.core.loss import LossWarning
from annowidgets.formats import cvat_write
from annowidgets.formats.registry import WriteContext

from .media_helpers import TWINS, media_bytes, twins_dataset, zip_files

DATA = Path(__file__).parent / "data"
RICH = DATA / "cvat_task_rich.xml"
VIDEO = DATA / "cvat_video_interp.xml"


def _text(ds, flavour):
    ctx = WriteContext("test")
    return cvat_write.to_text(ds, ctx, flavour), ctx.report


def test_images_document_reproduced_byte_for_byte():
    text, loss = _text(aw.load(str(RICH)), "images")
    assert text == RICH.read_text()
    assert not loss


@pytest.mark.parametrize("keyframes_only", [False, True])
def test_video_document_reproduced_byte_for_byte(keyframes_only):
    """Interpolated frames are recomputed from the keyframes and equal CVAT's."""
    ds = aw.load(str(VIDEO), keyframes_only=keyframes_only)
    text, _ = _text(ds, "video")
    assert text == VIDEO.read_text()


def _same(a: Dataset, b: Dataset):
    pdt.assert_frame_equal(a.annotations, b.annotations)
    pdt.assert_frame_equal(a.items.drop(columns="media"), b.items.drop(columns="media"))
    pdt.assert_frame_equal(a.labels, b.labels)
    pdt.assert_frame_equal(a.tasks, b.tasks)
    pdt.assert_frame_equal(a.jobs, b.jobs)


def test_tables_to_xml_to_tables(tmp_path):
    ds = aw.load(str(RICH))
    out = ds.export(str(tmp_path), format="CVAT for images 1.1")
    assert Path(out).name.startswith("task_7_annotations_") and out.endswith("_cvat for images 1.1.zip")
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["annotations.xml"]
    _same(ds, aw.load(out))


def test_video_tables_round_trip(tmp_path):
    ds = aw.load(str(VIDEO))
    out = ds.export(str(tmp_path / "v.zip"), format="cvat_video")
    _same(ds, aw.load(out))


def test_images_flavour_cuts_tracks_into_visible_frames():
    ds = aw.load(str(VIDEO), keyframes_only=True)
    text, _ = _text(ds, "images")
    assert text.count("<image ") == 10
    # track 0 is visible on frames 0..5 (outside from 6): 6 boxes; track 1 on 2..9: 8 boxes
    assert text.count('source="manual" occluded') > 0
    assert text.count('<box label="car" source="manual"') == 6
    assert text.count('<box label="car" source="auto"') == 8
    assert 'xtl="3.00" ytl="0.00" xbr="13.00"' in text  # interpolated frame 3
    assert "keyframe" not in text.split("</meta>")[1]


def test_images_flavour_reports_the_track_ids_and_outside_frames_it_cannot_keep():
    ds = aw.load(str(VIDEO), keyframes_only=True)
    _, report = _text(ds, "images")
    a = ds.annotations
    by_reason = {e.reason: set(e.rows) for e in report.entries}
    lost_ids = next(ids for r, ids in by_reason.items() if "track id" in r)
    assert lost_ids == set(a.loc[a["track_id"].notna(), "ann_id"])
    hidden = next(ids for r, ids in by_reason.items() if r.startswith("outside"))
    assert hidden == set(a.loc[a["track_id"].notna() & a["outside"], "ann_id"]) and hidden


def test_images_to_video_makes_short_tracks_and_reports_tags(tmp_path):
    ds = aw.load(str(RICH))
    with pytest.warns(LossWarning, match="tags cannot be exported"):
        out = ds.export(str(tmp_path / "v.zip"), format="CVAT for video 1.1")
    assert len(out.loss) == 2
    back = aw.load(out)
    a = back.annotations
    top = a[a["parent_id"].isna()]
    # every standalone shape of frame 0 becomes a 2-frame track (keyframe, then outside keyframe)
    f0 = top[top["frame"] == 0]
    assert len(f0) == 9 and top["track_id"].nunique() == 10
    f1 = top[top["frame"] == 1]
    assert f1.loc[f1["type"] != "skeleton", "outside"].all()  # <skeleton> has no outside; its points do
    assert a[a["parent_id"].isin(f1["ann_id"])]["outside"].all()
    assert not (a["type"] == "tag").any()


def test_label_studio_like_tables_export(tmp_path):
    items = pd.DataFrame({"item_id": [10, 11], "name": ["", "b.jpg"], "media": ["/data/up/a.jpg", "/data/b.jpg"],
                          "width": [100, 50], "height": [80, 40]})
    ann = pd.DataFrame({
        "ann_id": [0, 1, 2, 3], "item_id": [10, 10, 11, 11], "label": ["cat", "dog", "cat", ""],
        "type": ["bbox", "polygon", "number", "tag"], "x": [1.0, 0, np.nan, np.nan], "y": [2.0, 0, np.nan, np.nan],
        "w": [3.0, 4, np.nan, np.nan], "h": [4.0, 4, np.nan, np.nan],
        "points": [None, [0.0, 0.0, 4.0, 0.0, 4.0, 4.0], None, None], "value": [np.nan, np.nan, 3.0, np.nan],
        "attributes": [{"conf": 0.5}, None, None, None]})
    ds = Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": ["cat", "dog"]}))
    with pytest.warns(LossWarning, match="no element for this annotation type"):
        out = ds.export(str(tmp_path / "ls.zip"), format="CVAT for images 1.1")
    assert out.loss.entries[0].rows == [2]
    back = aw.load(out)
    assert back.items["frame"].tolist() == [0, 1]
    assert back.items["name"].tolist() == ["a.jpg", "b.jpg"]
    a = back.annotations
    assert a["type"].tolist() == ["bbox", "polygon", "tag"]
    assert a.iloc[0][["x", "y", "w", "h"]].tolist() == [1, 2, 3, 4]
    assert a.iloc[0]["attributes"] == {"conf": "0.5"}
    assert back.labels["color"].notna().all()


def test_project_export_with_images(tmp_path, datumaro_dir):
    src = datumaro_dir / "cvat_dataset/for_images/export_project"
    ds = aw.load(str(src))
    out = ds.export(str(tmp_path / "p.zip"), format="cvat", save_images=True)
    with zipfile.ZipFile(out) as zf:
        names = sorted(zf.namelist())
        text = zf.read("annotations.xml").decode()
    assert "images/Train/img0.jpg" in names and "images/Validation/img1.jpg" in names
    assert '<image id="0" name="img0.jpg" subset="Test" task_id="39" width="8" height="8">' in text
    back = aw.load(out)
    # the sample has no source= attributes; CVAT always writes one ("manual" when unknown)
    # and CVAT writes shapes sorted by z_order, which this sample is not
    def canon(a):
        return a.drop(columns="ann_id").sort_values(["item_id", "z_order"], kind="stable").reset_index(drop=True)

    pdt.assert_frame_equal(canon(ds.annotations.assign(origin="manual")), canon(back.annotations))
    assert back.items["media"].str.contains("images/Validation/img1.jpg").iloc[5]
    assert back.info["level"] == "project" and len(back.tasks) == 3


def test_job_level_meta(tmp_path):
    text = VIDEO.read_text().replace("<task>", "<job>").replace("</task>", "</job>").replace(
        "      <name>clip</name>\n", "")
    p = tmp_path / "job.xml"
    p.write_text(text)
    ds = aw.load(str(p))
    assert ds.info["level"] == "job" and ds.info["id"] == 12
    out, _ = _text(ds, "video")
    assert "<job>\n      <id>12</id>\n      <size>10</size>" in out
    # CVAT puts <original_size> of a job next to <dumped>
    assert out.index("<original_size>") > out.index("<dumped>")


def test_written_xml_is_streamed_in_order(tmp_path):
    ds = aw.load(str(RICH))
    chunks = []
    cvat_write.to_text(ds, WriteContext("x"), "images", write=chunks.append)
    assert "".join(chunks) == RICH.read_text()


def test_subsets_without_tasks_become_a_project(tmp_path):
    items = pd.DataFrame({"item_id": [0, 1, 2], "name": ["a.jpg", "b.jpg", "c.jpg"], "subset": ["train", "val", "train"],
                          "width": [10, 10, 10], "height": [10, 10, 10]})
    ann = pd.DataFrame({"ann_id": [0, 1], "item_id": [0, 1], "label": ["cat", "zebra"], "type": ["bbox", "bbox"],
                        "x": [1.0, 2.0], "y": [1.0, 2.0], "w": [2.0, 2.0], "h": [2.0, 2.0]})
    ds = Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": ["cat"]}))
    text, _ = _text(ds, "images")
    assert "<project>" in text and "<subsets>train\nval</subsets>" in text
    assert "<name>zebra</name>" in text  # labels the annotations use are declared
    out = ds.export(str(tmp_path / "p.zip"), format="cvat")
    back = aw.load(out)
    assert back.items["subset"].tolist() == ["train", "val", "train"]
    assert back.items["frame"].tolist() == [0, 1, 2] and len(back.tasks) == 2


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 50000), st.integers(0, 50000), st.integers(0, 9999),
                          st.integers(0, 9999), st.integers(-2, 3), st.booleans(), st.integers(0, 3),
                          st.integers(0, 35999)), min_size=0, max_size=25))
def test_random_boxes_round_trip(rows):
    """Any table of boxes (2-decimal pixels) survives tables -> CVAT XML -> tables."""
    items = pd.DataFrame({"item_id": [0, 1, 2], "name": ["a.png", "b.png", "c.png"], "frame": [0, 1, 2],
                          "width": [640] * 3, "height": [480] * 3})
    ann = pd.DataFrame({
        "ann_id": np.arange(len(rows)), "item_id": [r[0] for r in rows], "frame": [r[0] for r in rows],
        "label": ["car" if r[7] % 2 else "person" for r in rows], "type": "bbox",
        "x": [r[1] / 100 for r in rows], "y": [r[2] / 100 for r in rows], "w": [r[3] / 100 for r in rows],
        "h": [r[4] / 100 for r in rows], "z_order": [r[5] for r in rows], "occluded": [r[6] for r in rows],
        "group": [r[7] or None for r in rows], "rotation": [r[8] / 100 for r in rows], "origin": "manual",
        "attributes": [{"n": str(r[7])} if r[7] == 2 else None for r in rows]})
    ds = Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": ["car", "person"]}))
    text, _ = _text(ds, "images")
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "a.xml"
        p.write_text(text)
        back = aw.load(str(p)).annotations
    a = ds.annotations.sort_values(["item_id", "z_order", "ann_id"], kind="stable").reset_index(drop=True)
    b = back.reset_index(drop=True)
    for col in ("item_id", "label", "z_order", "occluded", "group", "attributes", "origin"):
        assert a[col].tolist() == b[col].tolist(), col
    for col in ("x", "y", "rotation"):
        np.testing.assert_allclose(b[col], a[col], atol=1e-9)
    np.testing.assert_allclose(b["w"], a["w"], atol=1e-6)  # xbr - xtl of 2-decimal values
    np.testing.assert_allclose(b["h"], a["h"], atol=1e-6)


@pytest.mark.parametrize("subsets", [False, True])
def test_same_basename_in_two_folders_saves_both_images(tmp_path, subsets):
    """Unnamed items with media a/img.jpg, b/img.jpg: names keep the folder, each image is saved once."""
    ds = twins_dataset(tmp_path / "media", subsets=subsets)
    out = ds.export(str(tmp_path / "o.zip"), format="CVAT for images 1.1", save_images=True)
    files = zip_files(out)
    src = {f: (tmp_path / "media" / f / "img.jpg").read_bytes() for f in ("a", "b", "c")}
    # a task has one images/ folder (all three collide); a project one per subset (val's is alone)
    want = {"images/train/a/img.jpg": "a", "images/train/b/img.jpg": "b", "images/val/img.jpg": "c"} if subsets \
        else {"images/a/img.jpg": "a", "images/b/img.jpg": "b", "images/c/img.jpg": "c"}
    assert {n: d for n, d in files.items() if n.startswith("images/")} == {n: src[f] for n, f in want.items()}
    text = files["annotations.xml"].decode()
    names = [n.split("/", 2 if subsets else 1)[-1] for n in want]
    for name in names:
        assert f'name="{name}"' in text
    back = aw.load(out)
    assert back.items["name"].tolist() == names
    for (folder, *_), media in zip(TWINS, back.items["media"], strict=True):
        assert media_bytes(media) == src[folder]
    a = back.annotations
    got = a["item_id"].map(back.items.set_index("item_id")["name"])
    assert list(zip(got, a["label"], strict=True)) == list(zip(names, ["cat", "dog", "cow"], strict=True))


def test_same_basename_video_frames_saved_apart(tmp_path):
    ds = twins_dataset(tmp_path / "media", absolute=True, subsets=False)
    out = ds.export(str(tmp_path / "v.zip"), format="CVAT for video 1.1", save_images=True)
    files = zip_files(out)
    assert sorted(n for n in files if n.startswith("images/")) == ["images/a/img.jpg", "images/b/img.jpg",
                                                                   "images/c/img.jpg"]
    for f in ("a", "b", "c"):
        assert files[f"images/{f}/img.jpg"] == (tmp_path / "media" / f / "img.jpg").read_bytes()


def test_same_given_name_twice_renamed_with_images(tmp_path):
    ds = twins_dataset(tmp_path / "media", subsets=False)
    ds.items["name"] = ["img.jpg", "IMG.jpg", "c.jpg"]  # equal on a case-insensitive file system
    text, loss = _text(ds, "images")
    assert 'name="img.jpg"' in text and 'name="IMG.jpg"' in text and not loss
    with pytest.warns(LossWarning, match="collides"):
        out = ds.export(str(tmp_path / "o.zip"), format="CVAT for images 1.1", save_images=True)
    files = zip_files(out)
    assert 'name="IMG__1.jpg"' in files["annotations.xml"].decode()
    assert files["images/IMG__1.jpg"] == (tmp_path / "media/b/img.jpg").read_bytes()
    assert aw.load(out).items["name"].tolist() == ["img.jpg", "IMG__1.jpg", "c.jpg"]


def _tasks_without_frames(task_ids, subsets):
    n = len(task_ids)
    return pd.DataFrame({"task_id": task_ids, "name": [f"t{t}" for t in task_ids], "subset": subsets,
                         "mode": "annotation", "size": [pd.NA] * n, "start_frame": [pd.NA] * n,
                         "stop_frame": [pd.NA] * n})


def test_video_export_derives_missing_task_frames_from_items(tmp_path):
    """A tasks row without size/start/stop (a workspace images task, a hand-made table) exported as video."""
    items = pd.DataFrame({"item_id": range(4), "name": [f"f{i}.jpg" for i in range(4)], "frame": [0, 1, 2, 3],
                          "task": 7, "width": 10, "height": 8})
    ann = pd.DataFrame({"ann_id": [0, 1, 2], "item_id": [0, 3, 1], "label": ["cat", "cat", "dog"], "type": "bbox",
                        "x": [0.0, 3.0, 5.0], "y": 1.0, "w": 2.0, "h": 2.0, "track_id": [1, 1, pd.NA],
                        "frame": [0, 3, 1], "keyframe": [True, True, False]})
    ds = Dataset(items=items, annotations=ann, tasks=_tasks_without_frames([7], ["default"]))
    text, _ = _text(ds, "video")
    assert "<size>4</size>" in text and "<start_frame>0</start_frame>" in text and "<stop_frame>3</stop_frame>" in text
    back = aw.load(ds.export(str(tmp_path / "v.zip"), format="CVAT for video 1.1"))
    assert back.items["frame"].tolist() == [0, 1, 2, 3]
    assert back.tasks[["size", "start_frame", "stop_frame"]].iloc[0].tolist() == [4, 0, 3]
    cat = back.annotations[back.annotations["label"] == "cat"]
    assert cat["frame"].tolist() == [0, 1, 2, 3] and cat["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    dog = back.annotations[back.annotations["label"] == "dog"]
    assert dog["frame"].tolist() == [1, 2] and dog["outside"].tolist() == [False, True]


def test_video_project_export_derives_each_tasks_frames(tmp_path):
    items = pd.DataFrame({"item_id": range(5), "name": [f"f{i}.jpg" for i in range(5)], "frame": [0, 1, 2, 0, 1],
                          "task": [1, 1, 1, 2, 2], "subset": ["a", "a", "a", "b", "b"], "width": 10, "height": 8})
    ann = pd.DataFrame({"ann_id": [0, 1], "item_id": [2, 4], "label": "cat", "type": "bbox", "x": 1.0, "y": 1.0,
                        "w": 2.0, "h": 2.0})
    ds = Dataset(items=items, annotations=ann, tasks=_tasks_without_frames([1, 2], ["a", "b"]))
    back = aw.load(ds.export(str(tmp_path / "p.zip"), format="CVAT for video 1.1"))
    assert back.tasks[["task_id", "size", "start_frame", "stop_frame"]].values.tolist() == [[1, 3, 0, 2],
                                                                                           [2, 2, 0, 1]]
    assert back.items[["task", "frame"]].values.tolist() == [[1, 0], [1, 1], [1, 2], [2, 0], [2, 1]]
    a = back.annotations[~back.annotations["outside"]]
    assert a["item_id"].map(back.items.set_index("item_id")["task"]).tolist() == [1, 2]
