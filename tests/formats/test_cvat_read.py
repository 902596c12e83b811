"""CVAT XML reader: Datumaro's real sample exports, a rich task document, hostile input."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

import annowidgets as aw
from annowidgets.core import masks
from annowidgets.core.errors import FormatError, UnsafeInputError

DATA = Path(__file__).parent / "data"
RICH = DATA / "cvat_task_rich.xml"
VIDEO = DATA / "cvat_video_interp.xml"
pytestmark = pytest.mark.fixtures


def test_datumaro_task_export(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "cvat_dataset/for_images/export_task/train.xml"))
    assert ds.info["format"] == "CVAT for images 1.1" and ds.info["level"] == "task"
    assert ds.items["name"].tolist() == ["img0.jpg", "img1.jpg"]
    assert ds.items[["width", "height"]].values.tolist() == [[8, 8], [10, 10]]
    assert ds.items["media"].str.endswith("export_task/images/img0.jpg").iloc[0]
    a = ds.annotations
    assert a["type"].tolist() == ["bbox", "polyline", "polygon", "points"]
    box = a.iloc[0]
    assert (box.x, box.y, box.w, box.h, box.occluded, box.z_order) == (0, 2, 4, 2, True, 1)
    assert box.attributes == {"a1": "true", "a2": "v3", "a3": "0003", "a4": "2.4"}
    assert a["points"].iloc[1] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    lab = ds.labels.set_index("name")
    assert list(lab.index) == ["label1", "label2"]
    specs = {s["name"]: s for s in lab.loc["label1", "attributes"]}
    assert specs["a2"]["values"] == ["v1", "v2", "v3"]  # old files separate values by spaces
    assert specs["a4"] == {"name": "a4", "input_type": "number", "values": ["2.4", "1", "-5.6"], "default": "0",
                           "mutable": False}
    assert ds.tasks["extra"].iloc[0]["z_order"] == "True"  # unknown meta kept


def test_datumaro_project_export(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "cvat_dataset/for_images/export_project"))
    assert ds.info["level"] == "project" and ds.info["id"] == 3 and ds.info["name"] == "test"
    assert ds.items["subset"].tolist() == ["Test", "Test", "Train", "Train", "Validation", "Validation"]
    assert ds.items["frame"].tolist() == [0, 1] * 3
    assert ds.items["item_id"].is_unique
    assert ds.items["media"].str.contains("images/Train/img0.jpg").iloc[2]
    assert sorted(ds.tasks["subset"]) == ["Test", "Train", "Validation"]
    assert ds.tasks.set_index("task_id").loc[37, "name"] == "train"
    assert sorted(ds.jobs["job_id"].tolist()) == [4, 5, 6]
    assert len(ds.annotations) == 12
    assert ds.annotations.groupby("item_id").size().tolist() == [2] * 6
    assert ds.info["project"]["subsets"] == "Train\nTest\nValidation"


def test_datumaro_video_export(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "cvat_dataset/for_video/annotations.xml"))
    assert ds.info["format"] == "CVAT for video 1.1"
    assert ds.items["frame"].tolist() == [10, 13, 16, 19]  # start 10, stop 19, step=3
    assert ds.items["name"].tolist() == ["frame_000010", "frame_000013", "frame_000016", "frame_000019"]
    assert ds.items[["width", "height"]].drop_duplicates().values.tolist() == [[25, 20]]
    assert ds.items["media"].str.endswith("images/frame_000010.png").iloc[0]
    a = ds.annotations
    assert a["track_id"].tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert a["frame"].tolist() == [10, 13, 16, 10, 13, 13, 16]
    assert a["outside"].tolist() == [False, True, True, False, True, False, True]
    assert a["keyframe"].all()
    assert a["attributes"].iloc[3] == {"hgl": "hgkf"}
    assert (a.set_index("frame")["item_id"].groupby(level=0).first().to_dict() == {10: 0, 13: 1, 16: 2})
    spec = ds.labels.set_index("name").loc["klhg", "attributes"][0]
    assert spec["values"] == ["jk", "hgkf"] and spec["mutable"] is True
    assert ds.tasks.iloc[0]["frame_filter"] == "step=3"
    assert ds.jobs[["job_id", "start", "stop"]].values.tolist() == [[3, 0, 3], [4, 2, 3]]


def test_rich_task_document():
    ds = aw.load(str(RICH))
    a = ds.annotations.set_index("ann_id")
    assert ds.info["name"] == "demo & co" and ds.info["dumped"].startswith("2025-01-02 11:05")
    assert a["type"].value_counts().to_dict() == {"points": 3, "bbox": 2, "mask": 2, "tag": 2, "polyline": 1,
                                                   "ellipse": 1, "cuboid": 1, "skeleton": 1, "polygon": 1}
    rot = a[(a["type"] == "bbox") & (a["rotation"] != 0)].iloc[0]
    assert (rot.x, rot.y, rot.w, rot.h, rot.rotation, rot.origin) == (10, 10, 20, 15, 15, "auto")
    ell = a[a["type"] == "ellipse"].iloc[0]
    assert (ell.x, ell.y, ell.w, ell.h, ell.rotation) == (32, 25, 16, 10, 30.5)
    cub = a[a["type"] == "cuboid"].iloc[0]
    assert len(cub.points) == 16 and (cub.x, cub.y, cub.w, cub.h) == (1, 0, 9, 9)
    m = a[a["type"] == "mask"].iloc[0]
    full = masks.coco_decode(m["mask"])
    assert full.shape == (48, 64)
    np.testing.assert_array_equal(full[20:23, 10:14], [[0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 0]])
    skel = a[a["type"] == "skeleton"]
    kids = a[a["parent_id"] == skel.index[0]]
    assert kids["label"].tolist() == ["head", "tail"] and kids["outside"].tolist() == [False, True]
    assert skel.iloc[0].attributes == {"pose": "standing <still>"}
    assert a[a["group"] == 1]["type"].tolist() == ["bbox", "points"]
    tags = a[a["type"] == "tag"]
    assert tags["item_id"].tolist() == [0, 2] and tags["group"].tolist()[1] == 3
    assert ds.items["name"].tolist() == ["dir/img0.png", "dir/img1.png", 'img 2 "x".jpg']
    assert ds.items["subset"].unique().tolist() == ["train"] and ds.items["task"].unique().tolist() == [7]
    lab = ds.labels.set_index("name")
    assert lab.loc["head", "parent"] == "body" and "data-label-name" in lab.loc["body", "svg"]
    assert lab.loc["car", "attributes"][0]["values"] == ["red", "blue", "dark green"]
    ds.validate()


def test_video_full_and_keyframes_only():
    full = aw.load(str(VIDEO))
    kf = aw.load(str(VIDEO), keyframes_only=True)
    assert len(full.items) == 10 and full.items["kind"].unique().tolist() == ["video_frame"]
    assert full.annotations["keyframe"].sum() == kf.annotations["keyframe"].sum() == len(kf.annotations)
    assert (~full.annotations["keyframe"]).sum() > 0
    sk = full.annotations[full.annotations["type"] == "skeleton"]
    kids = full.annotations[full.annotations["parent_id"].isin(sk["ann_id"])]
    assert len(kids) == 2 * len(sk) and kids["track_id"].eq(4).all()
    full.validate()


def test_zip_with_several_documents(tmp_path):
    z = tmp_path / "task_7_annotations_2025_01_02_10_00_00_cvat for images 1.1.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a/annotations.xml", RICH.read_text())
        zf.writestr("b/annotations.xml", VIDEO.read_text())
        zf.writestr("a/images/dir/img0.png", b"png")
        zf.writestr("notes.xml", "<other/>")
    ds = aw.load(str(z))
    assert len(ds.items) == 13 and ds.items["item_id"].is_unique and ds.annotations["ann_id"].is_unique
    assert ds.items["media"].iloc[0].startswith("zip://a/images/dir/img0.png::")
    ds.validate()


def test_detection_by_content(tmp_path):
    p = tmp_path / "whatever.xml"
    p.write_text(RICH.read_text())
    assert aw.load(str(p)).info["format"] == "CVAT for images 1.1"


# -- hostile input -------------------------------------------------------------------------
@pytest.mark.parametrize("prolog", [
    '<!DOCTYPE annotations [<!ENTITY x "boom">]>',
    '<!DOCTYPE annotations SYSTEM "http://example.com/evil.dtd">',
])
def test_doctype_and_entities_are_refused(tmp_path, prolog):
    p = tmp_path / "evil.xml"
    p.write_text(f'<?xml version="1.0"?>\n{prolog}\n<annotations><version>1.1</version>&x;</annotations>')
    with pytest.raises(UnsafeInputError, match="DOCTYPE"):
        aw.load(str(p), format="cvat")


def test_truncated_xml_names_file_and_line(tmp_path):
    p = tmp_path / "cut.xml"
    text = RICH.read_text()
    p.write_text(text[: text.index("<polyline")])
    with pytest.raises(FormatError) as err:
        aw.load(str(p), format="cvat")
    assert "cut.xml" in str(err.value) and err.value.line and err.value.line > 125


def test_missing_attribute_names_element_and_line(tmp_path):
    p = tmp_path / "bad.xml"
    p.write_text(RICH.read_text().replace(' xtl="10.00" ytl="10.00"', ' ytl="10.00"'))
    with pytest.raises(FormatError, match="'xtl'") as err:
        aw.load(str(p), format="cvat")
    assert err.value.element == "box" and err.value.line == 126


def test_mask_runs_must_sum_to_box(tmp_path):
    p = tmp_path / "mask.xml"
    p.write_text(RICH.read_text().replace('rle="1, 2, 1, 4, 1, 2, 1"', 'rle="1, 2, 1, 4, 1, 2"'))
    with pytest.raises(FormatError, match="sum to 11") as err:
        aw.load(str(p), format="cvat")
    assert err.value.element == "mask" and err.value.line == 145


def test_mask_outside_image(tmp_path):
    p = tmp_path / "mask.xml"
    p.write_text(RICH.read_text().replace('left="10" top="20"', 'left="62" top="20"'))
    with pytest.raises(FormatError, match="outside"):
        aw.load(str(p), format="cvat")


def test_not_a_cvat_zip(tmp_path):
    z = tmp_path / "x.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.xml", "<other/>")
    z.write_bytes(buf.getvalue())
    with pytest.raises(FormatError, match="no CVAT XML"):
        aw.load(str(z), format="CVAT 1.1")


def test_video_task_without_size_or_stop_frame_runs_to_its_last_track_frame(tmp_path):
    """Files that leave <size> and <stop_frame> empty (our writer did, for tasks without them)."""
    p = tmp_path / "nosize.xml"
    p.write_text(VIDEO.read_text().replace("<size>10</size>", "<size></size>")
                 .replace("<stop_frame>9</stop_frame>", "<stop_frame></stop_frame>"))
    ds = aw.load(str(p))
    assert ds.items["frame"].tolist() == list(range(10))
    assert ds.annotations["frame"].max() == 9
    full = aw.load(str(VIDEO))
    assert ds.annotations["item_id"].tolist() == full.annotations["item_id"].tolist()


def test_track_frame_outside_the_task_is_named_as_an_int(tmp_path):
    p = tmp_path / "short.xml"
    p.write_text(VIDEO.read_text().replace("<stop_frame>9</stop_frame>", "<stop_frame>5</stop_frame>"))
    with pytest.raises(FormatError, match=r"frame 6 of a track is outside the task's frames \(0\.\.5\)") as err:
        aw.load(str(p))
    assert "short.xml" in str(err.value) and "6.0" not in str(err.value)
