"""RequestsPanel and HierarchyBrowser over their comm, against a stand-in workspace.

The stand-in has exactly the Workspace methods the widgets use (``requests()``, ``request(id)``,
``tree()``, ``project/task/job(id)``), with the shapes documented in annowidgets.workspace;
test_workspace_integration.py runs the same widgets on the real Workspace.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest
import traitlets

from annowidgets.widgets import HierarchyBrowser, RequestsPanel

COLUMNS = ["id", "operation", "level", "target_id", "format", "location", "status", "progress", "message",
           "created", "started", "finished", "expiry", "result", "result_id", "owned_by_workspace", "pid", "host",
           "cancel"]


class FakeRequest:
    def __init__(self, ws, rid):
        self.ws, self.id = ws, rid

    def cancel(self):
        self.ws.cancelled.append(self.id)


class FakeWorkspace:
    def __init__(self):
        self.rows: list[dict] = []
        self.cancelled: list[str] = []
        self.projects = [{"id": 1, "name": "cars", "labels": 2, "tasks": [
            {"id": 3, "name": "day-1", "subset": "train", "mode": "annotation", "size": 4, "items": 4,
             "annotations": {"annotation": 7, "prediction": 2}, "labels": 2,
             "jobs": [{"id": 5, "start": 0, "stop": 1, "items": 2, "annotations": {"annotation": 3}},
                      {"id": 6, "start": 2, "stop": 3, "items": 2, "annotations": {"annotation": 4}}]}]},
            {"id": 2, "name": "empty", "labels": 0, "tasks": []}]

    def add(self, rid, status, progress=0.0, result=None, message="", minutes_ago=2.0, operation="export:annotations"):
        created = pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=minutes_ago)
        row = dict.fromkeys(COLUMNS)
        row.update(id=rid, operation=operation, level="task", target_id=3, format="COCO 1.0", status=status,
                   progress=progress, message=message, created=created, result=result, owned_by_workspace=True,
                   cancel=False)
        self.rows = [r for r in self.rows if r["id"] != rid] + [row]

    def requests(self):
        df = pd.DataFrame(self.rows, columns=COLUMNS)
        return df.sort_values("created", ascending=False) if len(df) else df

    def request(self, rid):
        if rid not in {r["id"] for r in self.rows}:
            raise KeyError(f"request {rid} does not exist")
        return FakeRequest(self, rid)

    def tree(self):
        return json.loads(json.dumps(self.projects))

    def project(self, i):
        return ("project", i)

    def task(self, i):
        return ("task", i)

    def job(self, i):
        return ("job", i)


# -- RequestsPanel ------------------------------------------------------------------------------------
def test_rows_are_json_safe_with_age():
    ws = FakeWorkspace()
    ws.add("a", "started", 0.4, minutes_ago=3)
    p = RequestsPanel(ws)
    (row,) = p.requests
    json.dumps(p.requests)
    assert row["id"] == "a" and row["status"] == "started" and row["progress"] == 0.4
    assert 170 < row["age_s"] < 200 and row["target_id"] == 3 and row["result"] is None


def test_finish_notifies_once_and_calls_back(comm):
    ws = FakeWorkspace()
    ws.add("a", "started", 0.5)
    p = RequestsPanel(ws)
    seen = []
    p.on_finish(seen.append)
    c = comm(p)
    c.custom({"kind": "refresh"})
    assert seen == [] and c.customs() == []
    ws.add("a", "finished", 1.0, result="/tmp/x.zip", message="exported")
    c.custom({"kind": "refresh"})
    assert [r["id"] for r in seen] == ["a"]
    note = c.customs()[-1]
    assert note["kind"] == "notify" and note["status"] == "finished" and "exported" in note["text"]
    assert c.last("requests")[0]["status"] == "finished"
    c.custom({"kind": "refresh"})
    assert len(seen) == 1  # not again
    ws.add("b", "failed", message="ValueError: bad file", operation="import:annotations")  # began and ended unseen
    p.refresh()
    assert [r["id"] for r in seen] == ["a", "b"] and seen[-1]["message"] == "ValueError: bad file"


def test_requests_already_done_at_start_are_not_news():
    ws = FakeWorkspace()
    ws.add("old", "finished", 1.0)
    seen = []
    p = RequestsPanel(ws)
    p.on_finish(seen.append)
    p.refresh()
    assert seen == []


def test_cancel_and_errors(comm):
    ws = FakeWorkspace()
    ws.add("a", "queued")
    p = RequestsPanel(ws)
    c = comm(p)
    c.custom({"kind": "cancel", "id": "a"})
    assert ws.cancelled == ["a"]
    c.custom({"kind": "cancel", "id": "nope"})
    assert c.customs()[-1]["kind"] == "error" and "nope" in c.customs()[-1]["message"]


def test_download_sends_the_archive_bytes(comm, tmp_path):
    archive = tmp_path / "task_3_annotations.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    ws = FakeWorkspace()
    ws.add("a", "finished", 1.0, result=str(archive))
    ws.add("b", "finished", 1.0, result=str(tmp_path / "gone.zip"))
    p = RequestsPanel(ws)
    c = comm(p)
    c.custom({"kind": "download", "id": "a"})
    data, buffers = c.sent[-1]  # one small archive: one file_chunk (large ones come in several)
    assert data["content"] == {"kind": "file_chunk", "token": "a", "name": "task_3_annotations.zip", "index": 0,
                               "count": 1, "size": 22}
    assert bytes(buffers[0]) == archive.read_bytes()
    c.custom({"kind": "download", "id": "b"})
    assert c.customs()[-1]["kind"] == "error" and "gone.zip" in c.customs()[-1]["message"]


def test_panel_rejects_non_workspace_and_unknown_kwargs():
    with pytest.raises(TypeError):
        RequestsPanel(object())
    with pytest.raises(TypeError, match="poll"):
        RequestsPanel(FakeWorkspace(), poll=3)


# -- HierarchyBrowser --------------------------------------------------------------------------------
def test_tree_and_default_expansion():
    b = HierarchyBrowser(FakeWorkspace())
    assert [p["name"] for p in b.tree] == ["cars", "empty"]
    assert b.expanded == ["project:1", "project:2"]
    assert b.tree[0]["tasks"][0]["annotations"] == {"annotation": 7, "prediction": 2}


def test_selection_from_front_end_and_selected_node(comm):
    b = HierarchyBrowser(FakeWorkspace())
    c = comm(b)
    c.update(selected={"level": "task", "id": 3})
    assert b.selected_node == ("task", 3)
    c.update(expanded=["project:1", "task:3"])
    assert b.expanded == ["project:1", "task:3"]
    with pytest.raises(traitlets.TraitError):
        b.selected = {"level": "folder", "id": 1}


def test_actions_reach_callbacks(comm):
    b = HierarchyBrowser(FakeWorkspace())
    c = comm(b)
    c.custom({"kind": "action", "action": "export_annotations", "level": "job", "id": 5})
    # no callback: the browser tries to open the form itself (the stand-in nodes are not workspace nodes)
    assert "cannot open the form" in b.status and b.selected == {"level": "job", "id": 5}
    got = []
    b.on_action(lambda action, node: got.append((action, node)))
    c.custom({"kind": "action", "action": "export_dataset", "level": "project", "id": 1})
    assert got == [("export_dataset", ("project", 1))] and b.status == "export_dataset on project 1"
    c.custom({"kind": "action", "action": "import_dataset", "level": "job", "id": 5})  # not a job action
    assert c.customs()[-1]["kind"] == "error" and len(got) == 1

    def boom(action, node):
        raise RuntimeError("disk full")

    b.on_action(boom)
    c.custom({"kind": "action", "action": "preview", "level": "task", "id": 3})
    assert "failed: RuntimeError: disk full" in b.status


def test_refresh_drops_a_deleted_selection(comm):
    ws = FakeWorkspace()
    b = HierarchyBrowser(ws)
    b.selected = {"level": "job", "id": 6}
    ws.projects[0]["tasks"][0]["jobs"].pop()
    comm(b).custom({"kind": "refresh"})
    assert b.selected == {} and len(b.tree[0]["tasks"][0]["jobs"]) == 1
