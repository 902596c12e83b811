"""The real sample: Datumaro's CVAT *project* export imported into a workspace project."""
from __future__ import annotations

import shutil
import zipfile

import pytest

import annowidgets as aw
from annowidgets.workspace import RequestFailed

pytestmark = pytest.mark.fixtures

SUBSETS = ["Test", "Train", "Validation"]


@pytest.fixture
def project_export(datumaro_dir, tmp_path):
    """The sample as CVAT ships it: one zip with annotations.xml and images/<subset>/."""
    src = datumaro_dir / "cvat_dataset" / "for_images" / "export_project"
    if not src.is_dir():
        pytest.skip(f"{src} missing")
    return shutil.make_archive(str(tmp_path / "export_project"), "zip", src)


def test_dataset_import_makes_one_task_per_subset(ws, project_export):
    p = ws.create_project("imported")  # no labels: they come from the dataset, with their attributes
    r = p.import_dataset(project_export)
    assert r.wait() is None and r.status == "finished" and r.result_id == p.id
    tasks = p.tasks
    assert [(t.name, t.subset, t.size, len(t.jobs)) for t in tasks] == [(s, s, 2, 1) for s in SUBSETS]
    for t in tasks:
        a = t.annotations
        assert len(a) == 4
        assert a.groupby("frame")["type"].apply(sorted).to_dict() == {0: ["bbox", "polyline"],
                                                                     1: ["points", "polygon"]}
        items = t.items
        assert items["name"].tolist() == ["img0.jpg", "img1.jpg"]
        assert items["width"].tolist() == [8, 10] and items["height"].tolist() == [8, 10]
        assert t.frame(1).size == (10, 10)  # media copied out of the archive into the workspace
    labels = p.labels.set_index("name")
    assert list(labels.index) == ["label1", "label2"] and labels["color"].str.startswith("#").all()
    assert [a["name"] for a in labels.loc["label1", "attributes"]] == ["a1", "a2", "a3", "a4"]
    box = tasks[1].annotations.query("type == 'bbox'").iloc[0]
    assert (box.x, box.y, box.w, box.h, bool(box.occluded)) == (0, 2, 4, 2, True)


def test_dataset_import_into_a_project_lacking_a_label_names_it(ws, project_export):
    p = ws.create_project("partial", labels=["label1", "other"])
    r = p.import_dataset(project_export)
    with pytest.raises(RequestFailed, match=r"does not have the label\(s\) 'label2'"):
        r.wait()
    assert p.tasks == [] and list(p.labels["name"]) == ["label1", "other"]


def test_project_round_trip_keeps_subsets_and_matches_names_per_subset(ws, project_export, tmp_path):
    p = ws.create_project("rt")
    p.import_dataset(project_export).wait()
    out = p.export(format="CVAT for images 1.1", save_images=True, target=str(tmp_path)).wait()
    with zipfile.ZipFile(out) as z:
        images = sorted(n for n in z.namelist() if n.startswith("images/"))
    assert images == [f"images/{s}/img{i}.jpg" for s in SUBSETS for i in (0, 1)]
    back = aw.load(out)
    assert back.items.groupby("subset").size().to_dict() == dict.fromkeys(SUBSETS, 2)
    assert len(back.annotations) == 12
    # the same names in every subset: a project import matches by subset and name
    tasks = p.tasks
    train = tasks[1]
    ws_before = {t.subset: len(t.annotations) for t in tasks}
    p.import_annotations(project_export, format="CVAT for images 1.1").wait()
    assert {t.subset: len(t.annotations) for t in tasks} == ws_before
    assert train.annotations.query("type == 'bbox'")["label"].tolist() == ["label1"]


def test_video_task_takes_the_cvat_video_sample(ws, datumaro_dir, tmp_path):
    """Datumaro's CVAT video sample (start_frame 10, step=3) imported into a task made from its
    video: frames named frame_000010, frame_000013… match, and the tracks come back as written."""
    pytest.importorskip("av")
    root = datumaro_dir / "cvat_dataset"
    xml = root / "for_video" / "annotations.xml"
    if not (root / "test.mp4").exists() or not xml.exists():
        pytest.skip("video sample missing")
    p = ws.create_project("video")
    t = p.create_task("v1", media=str(root / "test.mp4"), start_frame=10, stop_frame=19, frame_step=3)
    assert t.items["name"].tolist() == ["frame_000010", "frame_000013", "frame_000016", "frame_000019"]
    assert t.mode == "interpolation" and t.frame(3).size == (240, 180)
    r = t.import_annotations(str(xml))  # the format is detected
    r.wait()
    a = t.annotations.sort_values(["track_id", "frame"])
    assert a.groupby("track_id")["frame"].apply(list).to_dict() == {0: [10, 13, 16], 1: [10, 13], 2: [13, 16]}
    assert list(p.labels["name"]) == ["klhg", "z U k", "II"]  # created from the file, spaces kept
    out = t.export(format="CVAT for video 1.1", save_images=True, target=str(tmp_path)).wait()
    with zipfile.ZipFile(out) as z:
        assert sorted(n for n in z.namelist() if n.startswith("images/")) == [
            f"images/frame_{i:06d}.PNG" for i in (10, 13, 16, 19)]
        text = z.read("annotations.xml").decode()
    assert "<start_frame>10</start_frame>" in text and "<frame_filter>step=3</frame_filter>" in text
    for line in ('<box frame="16" keyframe="1" outside="1" occluded="0" xtl="8.00" ytl="7.00" xbr="14.00" '
                 'ybr="17.00"', 'points="21.95,8.00;9.55,15.09;5.23,1.16"', '<attribute name="hgl">hgkf</attribute>'):
        assert line in text
