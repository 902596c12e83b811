"""HierarchyBrowser and RequestsPanel in Chromium: clicks and keys reach Python and come back."""
from __future__ import annotations

import pytest

from annowidgets.widgets import HierarchyBrowser, RequestsPanel
from tests.widgets.test_requests_hierarchy_comm import FakeWorkspace

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _rows(page, sel: str) -> int:
    return int(page.eval_on_selector(sel, "el => el.dataset.rows"))


def test_hierarchy_select_expand_and_act(page, bridge):
    w = HierarchyBrowser(FakeWorkspace())
    got = []
    w.on_action(lambda action, node: got.append((action, node)))
    b = bridge(w)
    b.mount()
    assert _rows(page, ".aw-hierarchy") == 3  # two projects, one task (tasks closed)
    page.locator(".aw-hb-row[data-key='task:3']").click()
    assert b.pump() == [{"selected": {"level": "task", "id": 3}}] and w.selected_node == ("task", 3)
    assert page.locator(".aw-hb-action").all_inner_texts() == [
        "Export annotations", "Export dataset", "Upload annotations", "Preview"]
    page.keyboard.press("ArrowRight")  # open the task: its two jobs appear
    b.pump()
    assert w.expanded == ["project:1", "project:2", "task:3"]
    page.wait_for_function("() => document.querySelector('.aw-hierarchy').dataset.rows === '5'")
    assert "frames 0–1 · 2 items · 3 annotations" in page.locator(".aw-hb-row[data-key='job:5']").inner_text()
    page.keyboard.press("ArrowDown")
    b.pump()
    assert w.selected == {"level": "job", "id": 5}
    page.locator(".aw-hb-action[data-action=export_dataset]").click()
    b.pump()
    assert got == [("export_dataset", ("job", 5))]
    page.wait_for_function("() => document.querySelector('.aw-hb-status').textContent === 'export_dataset on job 5'")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".aw-hierarchy").screenshot(path=str(ARTIFACTS / "hierarchy.png"))


def test_requests_poll_notify_cancel_download(page, bridge, tmp_path):
    archive = tmp_path / "task_3.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    ws = FakeWorkspace()
    ws.add("run-1", "started", 0.3)
    ws.add("que-2", "queued", minutes_ago=1)
    w = RequestsPanel(ws, poll_interval=0.2)
    b = bridge(w)
    b.mount()
    assert page.locator(".aw-rq-row").count() == 2
    assert page.eval_on_selector(".aw-requests", "el => el.dataset.active") == "2"
    # the view polls by itself while requests are active
    page.wait_for_function("() => window.__awHost.sent.some(m => m.kind === 'refresh')")
    page.locator(".aw-rq-row[data-id='que-2'] .aw-rq-cancel").click()
    b.pump()
    assert ws.cancelled == ["que-2"]
    ws.add("que-2", "cancelled", message="cancelled before it started", minutes_ago=1)
    ws.add("run-1", "finished", 1.0, result=str(archive), message="exported")
    page.wait_for_function("() => window.__awHost.sent.some(m => m.kind === 'refresh')")
    b.pump()
    page.wait_for_selector(".aw-rq-toast")
    assert any("finished" in t for t in page.locator(".aw-rq-toast").all_inner_texts())
    assert page.eval_on_selector(".aw-requests", "el => el.dataset.active") == "0"
    with page.expect_download() as dl:
        page.locator(".aw-rq-row[data-id='run-1'] .aw-rq-download").click()
        b.pump()
    assert dl.value.suggested_filename == "task_3.zip"
    assert open(dl.value.path(), "rb").read() == archive.read_bytes()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".aw-requests").screenshot(path=str(ARTIFACTS / "requests.png"))


def test_requests_idle_poll_notices_a_request_started_elsewhere(page, bridge):
    ws = FakeWorkspace()
    w = RequestsPanel(ws, idle_interval=0.2)
    ended = []
    w.on_finish(ended.append)
    b = bridge(w)
    b.mount()
    assert page.eval_on_selector(".aw-requests", "el => el.dataset.rows") == "0"
    # started and finished from code (or another kernel) while the panel showed nothing active
    ws.add("bg-1", "finished", 1.0, result="/tmp/x.zip", message="exported")
    page.wait_for_function("() => window.__awHost.sent.some(m => m.kind === 'refresh')")
    b.pump()
    page.wait_for_selector(".aw-rq-toast")
    assert "finished" in page.inner_text(".aw-rq-toast") and [r["id"] for r in ended] == ["bg-1"]
    assert page.eval_on_selector(".aw-requests", "el => el.dataset.rows") == "1"
