"""Export and import at each level, through requests, with a test-only format that loses nothing."""
from __future__ import annotations

import os
import re
import zipfile

import orjson
import pandas as pd
import pytest

from annowidgets.core.io import Sink
from annowidgets.workspace import ImportMismatchError, RequestFailed, transfer

from .helpers import annotations_for, geometry
from .jsonfmt import NAME

NAMES = [f"img{i:03d}.png" for i in range(10)]


@pytest.fixture
def setup(ws, images):
    p = ws.create_project("cars", labels=["car", "person"])
    t = p.create_task("day-1", media=images, subset="train", segment_size=5, overlap=2)
    return ws, p, t


def archive(ds, path) -> str:
    """Write ``ds`` in the test format to ``path`` (an input to import)."""
    from annowidgets.formats import registry

    return str(registry.export(ds, str(path), NAME))


def tables(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return orjson.loads(z.read("tables.json"))


def test_task_import_then_export_annotations(setup, tmp_path):
    ws, p, t = setup
    ds = annotations_for(NAMES, prediction_every=5)
    r = t.import_annotations(archive(ds, tmp_path / "in.zip"), format=NAME)
    assert r.wait() is None and r.status == "finished" and r.progress == 1.0
    assert "imported 30 annotations" in r.message
    assert geometry(t.annotations) == geometry(ds.annotations)
    out = t.export(format=NAME, target=str(tmp_path / "out")).wait()
    assert re.fullmatch(r"task_\d+_annotations_\d{4}(_\d\d){5}_aw tables json 1\.0\.zip", os.path.basename(out))
    doc = tables(out)
    assert doc["info"]["level"] == "task" and doc["info"]["id"] == t.id
    assert len(doc["tables"]["annotations"]["ann_id"]) == 30
    with zipfile.ZipFile(out) as z:
        assert not any(n.startswith("images/") for n in z.namelist())


def test_task_export_dataset_has_images(setup, tmp_path):
    ws, p, t = setup
    out = t.export(format=NAME, save_images=True, name="mine.zip", target=str(tmp_path)).wait()
    assert out == str(tmp_path / "mine.zip")
    with zipfile.ZipFile(out) as z:
        assert sorted(n for n in z.namelist() if n.startswith("images/")) == [f"images/train/{n}" for n in NAMES]
    assert not [f for f in os.listdir(tmp_path) if ".part-" in f]


def test_job_export_holds_its_segment_only(setup, tmp_path):
    ws, p, t = setup
    transfer.import_annotations(ws, "task", t.id, annotations_for(NAMES))
    job = t.jobs[1]  # frames 3..7
    for save_images in (False, True):
        out = job.export(format=NAME, save_images=save_images, target=str(tmp_path)).wait()
        assert os.path.basename(out).startswith(f"job_{job.id}_{'dataset' if save_images else 'annotations'}_")
        doc = tables(out)
        assert doc["tables"]["items"]["frame"] == [3, 4, 5, 6, 7]
        assert len(doc["tables"]["annotations"]["ann_id"]) == 15
        assert doc["tables"]["jobs"]["job_id"] == [job.id]


def test_job_import_replaces_only_that_job(setup, tmp_path):
    ws, p, t = setup
    transfer.import_annotations(ws, "task", t.id, annotations_for(NAMES, per_item=2))
    job = t.jobs[2]  # frames 6..9
    new = annotations_for(NAMES[6:], per_item=1, labels=("person",))
    job.import_annotations(archive(new, tmp_path / "job.zip")).wait()  # format detected
    a = t.annotations
    assert a.groupby("frame").size().to_dict() == {**{f: 2 for f in range(6)}, **{f: 1 for f in range(6, 10)}}
    assert set(a.loc[a["frame"] >= 6, "label"]) == {"person"}


def test_task_import_replaces_everything_and_frames_match_by_name(setup, tmp_path):
    ws, p, t = setup
    transfer.import_annotations(ws, "task", t.id, annotations_for(NAMES, per_item=3))
    # a file naming only 3 frames, in another order and with other frame numbers: matched by name
    new = annotations_for([NAMES[9], NAMES[0], NAMES[5]], per_item=1)
    t.import_annotations(archive(new, tmp_path / "t.zip")).wait()
    a = t.annotations
    assert sorted(a["frame"]) == [0, 5, 9] and len(a) == 3
    assert a.set_index("frame")["attributes"][9]["name"] == NAMES[9]


def test_match_by_stem_then_frame_number(setup, tmp_path):
    ws, p, t = setup
    new = annotations_for(["img001", "sub/img002.jpg"], per_item=1)  # stem and base-name matches
    n = transfer.import_annotations(ws, "task", t.id, new)
    assert n == 2 and sorted(t.annotations["frame"]) == [1, 2]
    new = annotations_for(["x", "y"], per_item=1, start_id=500)
    new.items["frame"] = [7, 8]  # no name or id matches: frame numbers do
    transfer.import_annotations(ws, "task", t.id, new)
    assert sorted(t.annotations["frame"]) == [7, 8]


def test_unmatched_frames_fail_and_change_nothing(setup, tmp_path):
    ws, p, t = setup
    transfer.import_annotations(ws, "task", t.id, annotations_for(NAMES))
    before = geometry(t.annotations)
    bad = annotations_for(["img001.png", "zebra.png", "yak.png"], per_item=1, start_id=900)
    bad.items["frame"] = [1, 40, 41]
    r = t.jobs[0].import_annotations(archive(bad, tmp_path / "bad.zip"))
    with pytest.raises(RequestFailed, match=r"2 annotated item\(s\).*'zebra.png', 'yak.png'"):
        r.wait()
    assert r.status == "failed" and "zebra.png" in r.message
    assert geometry(t.annotations) == before


def test_unknown_labels_fail_with_their_names(setup, tmp_path):
    ws, p, t = setup
    bad = annotations_for(NAMES[:2], labels=("car", "truck", "bus"))
    with pytest.raises(ImportMismatchError, match="'truck', 'bus'"):
        transfer.import_annotations(ws, "task", t.id, bad)
    assert len(t.annotations) == 0


def test_project_export_keeps_subsets_apart(ws, images, tmp_path):
    p = ws.create_project("p", labels=["car", "person"])
    a = p.create_task("a", media=sorted(images.glob("*.png"))[:4], subset="train")
    b = p.create_task("b", media=sorted(images.glob("*.png"))[4:7], subset="val")
    c = p.create_task("c", media=sorted(images.glob("*.png"))[7:], subset="train")
    for task in (a, b, c):
        names = task.items["name"].tolist()
        transfer.import_annotations(ws, "task", task.id, annotations_for(names, per_item=1))
    for save_images in (False, True):
        out = p.export(format=NAME, save_images=save_images, target=str(tmp_path)).wait()
        assert os.path.basename(out).startswith(f"project_{p.id}_")
        items = pd.DataFrame(tables(out)["tables"]["items"])
        assert items.groupby("subset").size().to_dict() == {"train": 7, "val": 3}
        # frames are offset per subset (tasks by id), so they stay unique within it
        assert items[items["subset"] == "train"]["frame"].tolist() == list(range(7))
        assert items[items["subset"] == "val"]["frame"].tolist() == [0, 1, 2]
        if save_images:
            with zipfile.ZipFile(out) as z:
                names = [n for n in z.namelist() if n.startswith("images/")]
            assert len(names) == 10 and sum(n.startswith("images/val/") for n in names) == 3


def test_project_import_annotations_and_dataset(ws, images, tmp_path):
    p = ws.create_project("p", labels=["car", "person"])
    files = sorted(images.glob("*.png"))
    p.create_task("a", media=files[:5], subset="train")
    p.create_task("b", media=files[5:], subset="val")
    ds = annotations_for(NAMES, per_item=2)
    ds.items["subset"] = ["train"] * 5 + ["val"] * 5
    r = p.import_annotations(archive(ds, tmp_path / "p.zip"), format=NAME)
    r.wait()
    assert [len(t.annotations) for t in p.tasks] == [10, 10]
    # a dataset import makes new tasks, one per subset, with the media of the archive copied in
    ds.items["media"] = [str(f) for f in files]
    src = str(transfer_archive_with_images(ds, tmp_path / "ds.zip"))
    q = ws.create_project("q")
    q.import_dataset(src).wait()
    assert sorted((t.name, t.subset, t.size, len(t.annotations)) for t in q.tasks) == [
        ("train", "train", 5, 10), ("val", "val", 5, 10)]
    assert sorted(q.labels["name"]) == ["car", "person"]
    media = q.tasks[0].items["media"]
    assert all(m.startswith(os.path.join(ws.path, "media")) and os.path.exists(m) for m in media)
    assert q.tasks[0].frame(0).size == (32, 24)


def transfer_archive_with_images(ds, path):
    from annowidgets.formats import registry

    return registry.export(ds, str(path), NAME, save_images=True)


def test_dataset_import_checks_labels_of_a_project_that_has_some(ws, tmp_path):
    p = ws.create_project("p", labels=["car"])
    ds = annotations_for(NAMES[:3], labels=("car", "person", "background"))
    r = p.import_dataset(archive(ds, tmp_path / "d.zip"))
    with pytest.raises(RequestFailed, match="does not have the label.*'person'"):
        r.wait()
    assert "background" not in r.message  # background is the one label CVAT lets through
    assert p.tasks == []


def test_dataset_without_media_needs_sizes(ws, tmp_path):
    p = ws.create_project("p")
    ds = annotations_for(NAMES[:3])  # sizes given, no media: accepted, unlike CVAT
    p.import_dataset(archive(ds, tmp_path / "d.zip")).wait()
    (t,) = p.tasks
    assert t.items["width"].tolist() == [32] * 3 and t.items["media"].isna().all()
    ds.items["width"] = pd.NA
    r = ws.create_project("q").import_dataset(archive(ds, tmp_path / "e.zip"))
    with pytest.raises(RequestFailed, match="neither media nor a size"):
        r.wait()


def test_failing_import_midway_rolls_back(setup, tmp_path, monkeypatch):
    ws, p, t = setup
    transfer.import_annotations(ws, "task", t.id, annotations_for(NAMES))
    before = geometry(t.annotations)
    from annowidgets.workspace import store

    real = store.insert

    def boom(conn, table, columns, progress=None, what=""):
        real(conn, table, columns, progress, what)
        if table == "annotations":
            raise OSError("disk on fire")

    monkeypatch.setattr(store, "insert", boom)
    r = t.import_annotations(archive(annotations_for(NAMES, per_item=1), tmp_path / "x.zip"))
    with pytest.raises(RequestFailed, match="disk on fire"):
        r.wait()
    assert geometry(t.annotations) == before


def test_failing_export_leaves_no_archive(setup, tmp_path, monkeypatch):
    ws, p, t = setup
    from . import jsonfmt

    def broken(ds, sink, ctx):
        sink.write_bytes("half.json", b"{")
        raise RuntimeError("writer broke")

    spec = jsonfmt.registry.get(NAME)
    monkeypatch.setitem(jsonfmt.registry._FORMATS, NAME, type(spec)(**{**spec.__dict__, "write": broken}))
    for k, v in list(jsonfmt.registry._BY_KEY.items()):
        if v.name == NAME:
            monkeypatch.setitem(jsonfmt.registry._BY_KEY, k, jsonfmt.registry._FORMATS[NAME])
    r = t.export(format=NAME, name="x.zip", target=str(tmp_path / "out"))
    with pytest.raises(RequestFailed, match="writer broke"):
        r.wait()
    assert os.listdir(tmp_path / "out") == []


def test_requests_table_cancel_and_expiry(setup, tmp_path):
    ws, p, t = setup
    r = t.export(format=NAME)
    out = r.wait()
    assert out.startswith(os.path.join(ws.path, "exports")) and os.path.exists(out)
    df = ws.requests()
    row = df.set_index("id").loc[r.id]
    assert row["operation"] == "export:annotations" and row["level"] == "task" and row["target_id"] == t.id
    assert row["status"] == "finished" and row["format"] == NAME and row["result"] == out
    assert (row["expiry"] - row["finished"]).total_seconds() == pytest.approx(24 * 3600)
    # expiry removes the request and its result kept in exports/
    import datetime as dt

    assert ws.expire(at=row["expiry"].to_pydatetime() + dt.timedelta(seconds=1)) == 1
    assert not os.path.exists(out) and r.id not in set(ws.requests()["id"])


def test_cancel_running_import_changes_nothing(setup, tmp_path, monkeypatch):
    ws, p, t = setup
    import threading

    gate = threading.Event()
    real = transfer.import_annotations

    def slow(ws_, level, ident, ds, progress):
        def step(f, m=""):
            gate.wait(5)
            progress(f, m)
        return real(ws_, level, ident, ds, step)

    monkeypatch.setattr(transfer, "import_annotations", slow)
    r = t.import_annotations(archive(annotations_for(NAMES), tmp_path / "c.zip"))
    r.cancel()
    gate.set()
    from annowidgets.workspace import RequestCancelled

    with pytest.raises(RequestCancelled):
        r.wait()
    assert r.status == "cancelled" and len(t.annotations) == 0


def test_export_to_attached_storage_and_import_from_it(setup, tmp_path):
    ws, p, t = setup
    ws.attach_storage("share", str(tmp_path / "share"))
    transfer.import_annotations(ws, "task", t.id, annotations_for(NAMES))
    p.set_storage(target="share", source="share")
    out = t.export(format=NAME, name="x.zip").wait()  # project's default target storage
    assert out == str(tmp_path / "share" / "x.zip")
    out2 = t.jobs[0].export(format=NAME, storage="share", name="y.zip").wait()
    assert os.path.exists(out2)
    transfer.import_annotations(ws, "task", t.id, annotations_for(NAMES[:1]))
    t.import_annotations("x.zip").wait()  # a bare name is looked up in the default source storage
    assert len(t.annotations) == 30
    local = t.export(format=NAME, target="local").wait()  # CVAT's location=local beats the default
    assert os.path.dirname(local) == os.path.join(ws.path, "exports")


def test_sink_is_atomic_for_the_workspace_too(tmp_path):
    with pytest.raises(RuntimeError), Sink(str(tmp_path / "a.zip")) as s:
        s.write_bytes("x", b"1")
        raise RuntimeError
    assert os.listdir(tmp_path) == []


def test_reader_item_ids_never_match_database_rows(setup):
    """Readers number items 0..N-1; the workspace's rows are numbered from 1 across tasks.
    Matching those would shift every frame by one, so unmatched names fall to frame numbers."""
    ws, p, t = setup
    new = annotations_for(["x0.png", "x1.png", "x2.png"], per_item=1)  # item ids 0, 1, 2
    new.items["frame"] = [5, 6, 7]
    transfer.import_annotations(ws, "task", t.id, new)
    a = t.annotations.sort_values("frame")
    assert a["frame"].tolist() == [5, 6, 7]
    assert [x["name"] for x in a["attributes"]] == ["x0.png", "x1.png", "x2.png"]


def test_annotation_import_checks_the_labels_used_dataset_import_those_declared(setup, tmp_path):
    ws, p, t = setup
    ds = annotations_for(NAMES[:2], per_item=1)  # uses 'car' only
    ds.labels = pd.DataFrame({"name": ["car", "person", "aeroplane", "bicycle"]})  # a VOC-like label map
    t.import_annotations(archive(ds, tmp_path / "a.zip")).wait()
    assert len(t.annotations) == 2 and list(p.labels["name"]) == ["car", "person"]
    r = p.import_dataset(archive(ds, tmp_path / "d.zip"))
    with pytest.raises(RequestFailed, match="'aeroplane', 'bicycle'"):
        r.wait()


def test_copied_media_never_leaves_the_workspace(ws, images, tmp_path):
    """Item names and subsets come from the input; '..' in them must not place files outside."""
    ds = annotations_for(["../../../escape.png", "/abs/olute.png"], per_item=1)
    ds.items["subset"] = ["../..", "train"]
    ds.items["media"] = [str(images / "img000.png"), str(images / "img001.png")]
    p = ws.create_project_from(ds, copy_media=True)
    media = [m for t in p.tasks for m in t.items["media"]]
    root = os.path.join(ws.path, "media") + os.sep
    assert len(media) == 2 and all(os.path.abspath(m).startswith(root) and os.path.exists(m) for m in media)
    assert not (tmp_path / "escape.png").exists() and not list(tmp_path.parent.glob("escape.png"))


def test_project_import_matches_frame_numbers_per_subset(ws, images):
    """A project export numbers the frames of a subset's tasks one after the other (CVAT);
    an import with unknown names falls back to those numbers, within the subset."""
    files = sorted(images.glob("*.png"))
    p = ws.create_project("p", labels=["car", "person"])
    a = p.create_task("a", media=files[:3], subset="train")
    b = p.create_task("b", media=files[3:5], subset="train")
    v = p.create_task("v", media=files[5:7], subset="val")
    ds = annotations_for(["u.png", "w.png", "x.png"], per_item=1)
    ds.items["subset"] = ["train", "train", "val"]
    ds.items["frame"] = [3, 4, 1]  # train frames 3 and 4 are task b's 0 and 1; val frame 1 is v's 1
    transfer.import_annotations(ws, "project", p.id, ds)
    assert len(a.annotations) == 0
    assert sorted(b.items.set_index("item_id").loc[b.annotations["item_id"], "frame"]) == [0, 1]
    assert v.items.set_index("item_id").loc[v.annotations["item_id"], "frame"].tolist() == [1]
