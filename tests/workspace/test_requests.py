"""Requests as on CVAT's Requests page: statuses, progress, cancel (also from another kernel),
expiry, the ``ws.requests()`` table, and CVAT's default archive names."""
from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
import zipfile

import pandas as pd
import pytest

from annowidgets.formats import registry
from annowidgets.workspace import RequestCancelled, RequestFailed, Workspace, transfer

from .helpers import annotations_for
from .jsonfmt import NAME

SLOW = "AW slow test 1.0"
GATE = threading.Event()


def _slow_write(ds, sink, ctx) -> None:
    """A long export: writes a part, then reports progress until the test opens GATE."""
    sink.write_bytes("part.txt", b"half")
    for i in range(1, 1000):
        if GATE.wait(0.01):
            break
        ctx.step(min(0.9, i / 200), f"working {i}")
    else:
        raise TimeoutError("the test never opened the gate")
    sink.write_bytes("done.txt", b"whole")


registry.register(registry.FormatSpec(name=SLOW, read=None, write=_slow_write, detect=None, family="test"))


def until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@pytest.fixture
def one_worker(tmp_path, images):
    """A workspace running one request at a time, with a task of 10 images."""
    GATE.clear()
    ws = Workspace(tmp_path / "ws", workers=1)
    t = ws.create_project("p", labels=["car", "person"]).create_task("t", media=images, segment_size=5)
    yield ws, t
    GATE.set()
    ws.close()


def test_statuses_progress_and_timestamps(one_worker, tmp_path):
    ws, t = one_worker
    a = t.export(format=SLOW, target=str(tmp_path / "out"))
    b = t.export(format=NAME, target=str(tmp_path / "out"))
    seen = []
    until(lambda: seen.append(a.progress) or a.progress > 0.45)
    assert a.status == "started" and b.status == "queued"  # one worker: b waits its turn
    assert a.target == f"task {t.id}" and a.format == SLOW and a.operation == "export:annotations"
    assert 0.4 < a.progress < 1.0 and a.message.startswith("working")
    table = ws.requests().set_index("id")
    assert table.loc[[a.id, b.id], "status"].tolist() == ["started", "queued"]
    GATE.set()
    assert os.path.basename(a.wait()).startswith(f"task_{t.id}_annotations_")
    assert os.path.exists(b.wait())
    assert seen == sorted(seen)  # progress only moves forward
    table = ws.requests().set_index("id")
    for rid in (a.id, b.id):
        row = table.loc[rid]
        assert row["status"] == "finished" and row["progress"] == 1.0
        assert row["created"] <= row["started"] <= row["finished"] < row["expiry"]
    assert table.loc[b.id, "started"] >= table.loc[a.id, "finished"]


def test_cancel_a_long_running_export_leaves_no_archive(one_worker, tmp_path):
    ws, t = one_worker
    out = tmp_path / "out"
    r = t.export(format=SLOW, name="slow.zip", target=str(out))
    until(lambda: r.progress > 0.45)
    assert r.status == "started"
    r.cancel()
    with pytest.raises(RequestCancelled):
        r.wait(timeout=10)
    assert r.status == "cancelled" and "cancelled" in r.message and r.result is None
    assert not out.exists() or os.listdir(out) == []  # the staged part was removed
    row = ws.requests().set_index("id").loc[r.id]
    assert row["expiry"] - row["finished"] == pd.Timedelta(hours=24)


def test_cancel_a_queued_request_never_runs_it(one_worker, tmp_path):
    ws, t = one_worker
    a = t.export(format=SLOW, target=str(tmp_path / "a"))
    b = t.import_annotations(str(tmp_path / "never-read.zip"))
    until(lambda: a.status == "started")
    b.cancel()
    assert b.status == "cancelled" and b.started is None
    row = ws.requests().set_index("id").loc[b.id]
    assert row["expiry"] - row["finished"] == pd.Timedelta(hours=24)  # it expires like any other
    GATE.set()
    a.wait()
    with pytest.raises(RequestCancelled):
        b.wait()
    assert b.started is None  # the worker skipped it


def test_another_kernel_sees_and_cancels_a_request(one_worker, tmp_path):
    ws, t = one_worker
    transfer.import_annotations(ws, "task", t.id, annotations_for(t.items["name"].tolist()))
    r = t.export(format=SLOW, target=str(tmp_path / "out"))
    until(lambda: r.status == "started")
    other = Workspace(ws.path)  # a second kernel on the same folder
    try:
        theirs = other.request(r.id)
        assert theirs.status == "started" and theirs.operation == "export:annotations"
        theirs.cancel()  # sets the flag in the database; the running worker stops at its next step
        with pytest.raises(RequestCancelled):
            theirs.wait(timeout=10)  # polls the database: the request is not running in this kernel
    finally:
        other.close()
    assert r.status == "cancelled" and len(t.annotations) == 30


def test_expiry_is_configurable_and_failures_expire_too(tmp_path, images):
    with Workspace(tmp_path / "ws", result_ttl=90) as ws:
        t = ws.create_project("p", labels=["car"]).create_task("t", media=images)
        ok = t.export(format=NAME)
        ok.wait()
        bad = t.import_annotations(str(tmp_path / "missing.zip"), format=NAME)
        with pytest.raises(RequestFailed, match="missing.zip"):
            bad.wait()
        df = ws.requests()
        assert list(df.columns[:15]) == ["id", "operation", "level", "target_id", "format", "location", "status",
                                         "progress", "message", "created", "started", "finished", "expiry",
                                         "result", "result_id"]
        assert str(df["created"].dtype).startswith("datetime64") and str(df["created"].dt.tz) == "UTC"
        rows = df.set_index("id")
        for rid in (ok.id, bad.id):
            assert rows.loc[rid, "expiry"] - rows.loc[rid, "finished"] == pd.Timedelta(seconds=90)
        assert rows.loc[bad.id, "status"] == "failed" and "missing.zip" in rows.loc[bad.id, "message"]
        result = ok.result
        assert os.path.exists(result)
        assert ws.expire(at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=91)) == 2
        assert ws.requests().empty and not os.path.exists(result)


CVAT_NAME = re.compile(r"(project|task|job)_(\d+)_(annotations|dataset)_(\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2})_(.+)\.zip")


@pytest.mark.parametrize("fmt", ["CVAT for images 1.1", "COCO 1.0", "YOLO 1.1"])
def test_default_archive_names_are_cvats(ws, images, tmp_path, fmt):
    p = ws.create_project("p", labels=["car", "person"])
    t = p.create_task("t", media=images, segment_size=5)
    ds = annotations_for(t.items["name"].tolist(), per_item=1)
    ds.annotations["rotation"] = 0.0  # every format here carries plain boxes
    transfer.import_annotations(ws, "task", t.id, ds)
    job = t.jobs[1]
    levels = ((job, "job"), (t, "task"), (p, "project")) if fmt.startswith("CVAT") else ((t, "task"),)
    for node, level in levels:
        for save_images in (False, True):
            path = node.export(format=fmt, save_images=save_images, target=str(tmp_path / level)).wait()
            name = os.path.basename(path)
            m = CVAT_NAME.fullmatch(name)
            assert m, name
            assert name == name.lower()
            assert m.group(1) == level and int(m.group(2)) == node.id
            assert m.group(3) == ("dataset" if save_images else "annotations")
            assert m.group(5) == fmt.lower()  # the display name, lower-cased, spaces kept
            # the timestamp is the resource's last update, as CVAT's updated_date
            assert m.group(4) == ws._updated(level, node.id).strftime("%Y_%m_%d_%H_%M_%S")
            assert registry.format_from_filename(name).name == fmt  # so an import recognises it
            with zipfile.ZipFile(path) as z:
                assert any(n.endswith(".png") for n in z.namelist()) == save_images  # the task's images


def test_what_a_format_cannot_carry_is_in_the_request_message(ws, images, tmp_path):
    t = ws.create_project("p", labels=["car", "person"]).create_task("t", media=images)
    transfer.import_annotations(ws, "task", t.id, annotations_for(t.items["name"].tolist(), per_item=1))
    r = t.export(format="YOLO 1.1", target=str(tmp_path))
    assert os.path.exists(r.wait())  # a loss is no failure, and raises no warning in the worker thread
    assert r.status == "finished"
    assert r.message.startswith("exported; YOLO 1.1 could not carry ")
    assert re.search(r"10 annotations row\(s\): rotated box written as its axis-aligned enclosing box", r.message)
    assert re.search(r"10 annotations row\(s\): attributes are not carried by YOLO 1\.1", r.message)
