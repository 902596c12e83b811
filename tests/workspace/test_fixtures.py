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
