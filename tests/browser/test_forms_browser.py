"""ExportForm and ImportForm in Chromium on a real workspace: clicks, a file picked and a file
dropped, each asserted on the Python widget and the workspace."""
from __future__ import annotations

import os
import time

import pytest

from annowidgets.widgets import ExportForm, ImportForm
from annowidgets.workspace import Workspace
from tests.widgets.forms_helpers import make_project

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser
POLL = 0.05


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


def pump_until(page, b, cond, what: str, timeout: float = 15.0) -> None:
    """Play the kernel (pump) until ``cond()`` holds."""
    deadline = time.monotonic() + timeout
    b.pump()
    while not cond():
        if time.monotonic() > deadline:
            row = b.w.last_request._row() if getattr(b.w, "last_request", None) is not None else None
            raise AssertionError(f"timed out waiting for {what}; the form shows {b.w.request}, the request is {row}")
        page.wait_for_timeout(25)
        b.pump()


def test_export_form_choices_progress_result_and_download(page, bridge, ws, tmp_path):
    task = make_project(ws, tmp_path).tasks[0]
    w = ExportForm(task, poll_interval=POLL)
    b = bridge(w)
    b.mount()
    options = page.locator(".aw-ef-format option").all_inner_texts()
    assert len(options) == len(w.formats) and options[0] == "CVAT for images 1.1"
    assert any(o.startswith("YOLO 1.1 — loses points, polygon") for o in options)
    assert page.locator(".aw-ef-default-name").inner_text() == f"Default: {w.default_name}"
    page.select_option(".aw-ef-format", "Label Studio JSON")
    page.locator(".aw-ef-kind label[data-value=true] input").check()
    page.fill(".aw-ef-name", "mine")
    page.select_option(".aw-ef-location", "local")
    out = tmp_path / "out"
    page.fill(".aw-ef-target", str(out))
    b.pump()
    assert (w.format, w.save_images, w.name, w.location, w.target) == (
        "Label Studio JSON", True, "mine", "local", str(out))
    page.wait_for_function("() => document.querySelector('.aw-ef-default-name').textContent.includes('_dataset_')")
    page.click(".aw-ef-export")
    pump_until(page, b, lambda: w.request.get("status") == "finished", "the export")
    page.wait_for_function("() => document.querySelector('.aw-export').dataset.status === 'finished'")
    assert page.eval_on_selector(".aw-ef-progress", "el => el.dataset.percent") == "100"
    result = str(out / "mine.zip")
    assert w.request["result"] == result and page.inner_text(".aw-ef-result-path") == result
    with page.expect_download() as dl:
        page.click(".aw-ef-download")
        b.pump()
    assert dl.value.suggested_filename == "mine.zip"
    assert open(dl.value.path(), "rb").read() == open(result, "rb").read()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".aw-export").screenshot(path=str(ARTIFACTS / "export-form.png"))


def test_export_form_shows_errors(page, bridge, ws, tmp_path):
    w = ExportForm(make_project(ws, tmp_path).tasks[0], poll_interval=POLL)
    b = bridge(w)
    b.mount()
    page.select_option(".aw-ef-location", "url")
    page.fill(".aw-ef-target", "just-a-folder")
    page.click(".aw-ef-export")
    b.pump()
    assert w.request == {} and "s3://bucket" in w.error
    page.wait_for_function("() => document.querySelector('.aw-ef-error').textContent.includes('cloud URL')")
    # a running request whose snapshot does not change still gets polled (no update, no change event)
    w.request = {"id": "r1", "status": "started", "progress": 0.25, "message": "writing"}
    b.pump()
    page.wait_for_function("() => window.__awHost.sent.filter(m => m.kind === 'poll').length >= 3")
    assert page.is_disabled(".aw-ef-export") and page.is_visible(".aw-ef-cancel")
    assert page.eval_on_selector(".aw-ef-progress", "el => el.dataset.percent") == "25"
    assert page.inner_text(".aw-ef-progress .aw-progress-text") == "25% · started: writing"
    page.click(".aw-ef-cancel")
    assert {"kind": "cancel"} in page.evaluate("() => window.__awHost.sent")
    w.request = {"id": "r1", "status": "finished", "progress": 1.0, "message": "exported", "result": "/x/a.zip",
                 "lost": "YOLO 1.1 cannot carry points (4 annotations)"}
    b.pump()
    page.wait_for_selector(".aw-ef-result:not([hidden])")
    assert page.inner_text(".aw-ef-lost") == "Not in the archive: YOLO 1.1 cannot carry points (4 annotations)"


def test_import_form_upload_by_picker_then_import(page, bridge, ws, tmp_path):
    task = make_project(ws, tmp_path).tasks[0]
    archive = task.export("CVAT for images 1.1", save_images=True).wait(timeout=30)
    data = open(archive, "rb").read()
    w = ImportForm(task, poll_interval=POLL, chunk_size=512)
    b = bridge(w)
    b.mount()
    assert page.locator(".aw-if-mode").is_hidden()  # a task takes annotations only
    assert page.locator(".aw-if-format option").first.inner_text() == "Auto-detect"
    assert page.is_disabled(".aw-if-import")
    page.set_input_files(".aw-if-file", files=[{"name": os.path.basename(archive), "mimeType": "application/zip",
                                                "buffer": data}])
    pump_until(page, b, lambda: w.upload.get("status") == "complete", "the upload")
    assert len(data) > 3 * 512  # several chunks went through the window of two
    assert open(w.uploaded_path, "rb").read() == data
    page.wait_for_function("() => document.querySelector('.aw-import').dataset.upload === 'complete'")
    page.wait_for_function("() => document.querySelector('.aw-if-format option').textContent"
                           " === 'Auto-detect (CVAT for images 1.1)'")
    page.click(".aw-if-import")
    pump_until(page, b, lambda: w.summary.get("status") == "finished", "the import")
    page.wait_for_selector(".aw-if-imported li")
    lines = page.locator(".aw-if-imported li").all_inner_texts()
    assert lines[0] == "imported 16 annotations on 4 items (detected: CVAT for images 1.1)" and "annotations: 12 → 16 (replaced)" in lines
    assert len(task.annotations) == 16
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".aw-import").screenshot(path=str(ARTIFACTS / "import-form.png"))


def test_import_form_drop_rejected_file_and_url_mode(page, bridge, ws, tmp_path):
    project = make_project(ws, tmp_path)
    w = ImportForm(project, poll_interval=POLL)
    b = bridge(w)
    b.mount()
    page.locator(".aw-if-mode label[data-value=annotations] input").check()
    assert not page.is_checked(".aw-if-polygons")  # CVAT's default: masks stay masks
    page.locator(".aw-if-polygons").check()
    b.pump()
    assert w.mode == "annotations" and w.to_polygons is True
    w.to_polygons = False  # Python's change reaches the box
    b.pump()
    page.wait_for_function("() => !document.querySelector('.aw-if-polygons').checked")
    page.evaluate("""([name, text]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], name, { type: "application/json" }));
        document.querySelector('.aw-if-drop').dispatchEvent(
            new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", ["broken.json", "{ not json"])
    pump_until(page, b, lambda: w.upload.get("status") == "complete", "the upload")
    assert w.upload["name"] == "broken.json" and open(w.uploaded_path).read() == "{ not json"
    page.click(".aw-if-import")
    pump_until(page, b, lambda: w.summary.get("status") == "failed", "the failure")
    page.wait_for_selector(".aw-if-rejected li")
    assert "broken.json" in page.inner_text(".aw-if-rejected") and page.inner_text(".aw-if-error")
    assert len(project.tasks[0].annotations) == 16  # nothing changed
    page.locator(".aw-if-source label[data-value=url] input").check()
    page.fill(".aw-if-url", "s3://bucket/a.zip")
    b.pump()
    assert (w.source, w.url) == ("url", "s3://bucket/a.zip")
    assert page.locator(".aw-if-upload").is_hidden() and not page.is_disabled(".aw-if-import")


def test_a_second_file_replaces_an_upload_in_flight(page, bridge, ws, tmp_path):
    w = ImportForm(make_project(ws, tmp_path).tasks[0], chunk_size=256)
    b = bridge(w)
    b.mount()
    first, second = bytes(range(256)) * 40, b"<annotations/>" * 50
    listeners = page.evaluate("() => window.__awHost.listenerCount()")
    page.set_input_files(".aw-if-file", files=[{"name": "first.bin", "mimeType": "application/octet-stream",
                                                "buffer": first}])
    b.pump()  # start acked: the page sends the first chunks
    page.wait_for_function("() => window.__awHost.sent.some(m => m.kind === 'upload_chunk')")
    page.set_input_files(".aw-if-file", files=[{"name": "second.xml", "mimeType": "text/xml", "buffer": second}])
    pump_until(page, b, lambda: w.upload.get("status") == "complete" and w.upload["name"] == "second.xml",
               "the second upload")
    assert open(w.uploaded_path, "rb").read() == second and w.error == ""
    assert page.eval_on_selector(".aw-import", "el => el.dataset.upload") == "complete"
    # each upload's ack listener went away with it
    assert page.evaluate("() => window.__awHost.listenerCount()") == listeners
    page.evaluate("() => window.__awHost.unmount()")
    w.request = {"id": "late", "status": "started", "progress": 0.5, "message": ""}  # after the view: no error
    w.summary = {"status": "finished", "imported": ["late"], "rejected": []}
    b.pump()
