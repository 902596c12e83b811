"""The seed's levels × operations table, each cell run as a request through a real format:

| level   | import annotations | import dataset | export annotations | export dataset |
| job     | yes                | –              | yes                | yes            |
| task    | yes                | –              | yes                | yes            |
| project | yes                | yes            | yes                | yes            |
"""
from __future__ import annotations

import zipfile

import pytest

import annowidgets as aw
from annowidgets.workspace import transfer

from .conftest import make_images
from .helpers import annotations_for

CVAT = "CVAT for images 1.1"


@pytest.fixture
def project(ws, tmp_path):
    """Two tasks (train: 6 images in jobs of 3, val: 2 images), boxes and polygons on each."""
    p = ws.create_project("p", labels=["car", "person"])
    train = p.create_task("a", media=make_images(tmp_path / "train", 6, prefix="tr"), subset="train",
                          segment_size=3)
    val = p.create_task("b", media=make_images(tmp_path / "val", 2, prefix="va"), subset="val")
    for t in (train, val):
        ds = annotations_for(t.items["name"].tolist(), per_item=2)
        ds.annotations["rotation"] = 0.0
        transfer.import_annotations(ws, "task", t.id, ds)
    return ws, p, train, val


def _images(path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return sorted(n for n in z.namelist() if n.startswith("images/") and not n.endswith("/"))


def test_job_and_task_operations(project, tmp_path):
    ws, p, train, val = project
    job = train.jobs[1]  # frames 3..5
    for node, frames in ((job, [3, 4, 5]), (train, list(range(6)))):
        ann = node.export(format=CVAT, target=str(tmp_path)).wait()
        dataset = node.export(format=CVAT, save_images=True, target=str(tmp_path)).wait()
        assert _images(ann) == [] and len(_images(dataset)) == len(frames)
        back = aw.load(dataset)
        assert back.items["frame"].tolist() == frames and len(back.annotations) == len(node.annotations) > 0
        # import annotations: the node's exported file, one box per frame fewer, replaces the scope
        one = aw.load(ann)
        one.annotations = one.annotations[one.annotations["type"] == "bbox"]
        small = str(one.export(str(tmp_path / f"{node.level}-in"), format=CVAT))
        node.import_annotations(small, format=CVAT).wait()
        a = train.annotations
        assert a[a["frame"].isin(frames)].groupby("frame").size().tolist() == [1] * len(frames)
    assert len(val.annotations) == 4  # other tasks untouched
    # a bare annotations.xml (no archive), as in task.jobs[0].import_annotations("annotations.xml")
    first = train.jobs[0]
    transfer.import_annotations(ws, "job", first.id, annotations_for(["tr000.png"], per_item=3))
    with zipfile.ZipFile(first.export(format=CVAT, target=str(tmp_path / "j0")).wait()) as z:
        (tmp_path / "annotations.xml").write_bytes(z.read("annotations.xml"))
    transfer.import_annotations(ws, "job", first.id, annotations_for(["tr001.png"], per_item=1))
    first.import_annotations(str(tmp_path / "annotations.xml")).wait()  # format detected from the XML
    a = train.annotations
    assert a[a["frame"] < 3]["frame"].tolist() == [0, 0, 0]


def test_project_operations(project, tmp_path):
    ws, p, train, val = project
    ann = p.export(format=CVAT, target=str(tmp_path)).wait()
    dataset = p.export(format=CVAT, save_images=True, target=str(tmp_path)).wait()
    assert _images(ann) == []
    assert [n.split("/")[1] for n in _images(dataset)] == ["train"] * 6 + ["val"] * 2
    # import annotations into the project: matched per subset and name, replacing all of it
    ds = aw.load(ann)
    ds.annotations = ds.annotations[ds.annotations["label"] == "person"]
    p.import_annotations(str(ds.export(str(tmp_path / "pin"), format=CVAT)), format=CVAT).wait()
    assert set(train.annotations["label"]) == set(val.annotations["label"]) == {"person"}
    assert len(train.annotations) + len(val.annotations) == 8
    # import the dataset into an empty project: one task per subset, labels created
    q = ws.create_project("q")
    q.import_dataset(dataset, format=CVAT).wait()
    assert [(t.name, t.size, len(t.annotations)) for t in q.tasks] == [("train", 6, 12), ("val", 2, 4)]
    assert sorted(q.labels["name"]) == ["car", "person"]


@pytest.mark.parametrize("fmt", ["COCO 1.0", "PASCAL VOC 1.1", "Ultralytics YOLO Detection 1.0",
                                 "Label Studio JSON"])
def test_project_dataset_round_trip_through_other_formats(project, tmp_path, fmt):
    ws, p, train, val = project
    out = p.export(format=fmt, save_images=True, target=str(tmp_path)).wait()
    carried = aw.load(out, format=fmt)
    q = ws.create_project("q")
    q.import_dataset(out, format=fmt).wait()
    tasks = q.tasks
    assert sum(t.size for t in tasks) == 8 and sum(len(t.annotations) for t in tasks) == len(carried.annotations) > 0
    assert all(t.frame(0).size == (32, 24) for t in tasks)  # the images came along
