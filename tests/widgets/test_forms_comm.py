"""ExportForm, ImportForm and Studio over their comm, on a real Workspace (no browser)."""
from __future__ import annotations

import os
import threading

import fsspec
import numpy as np
import pytest

from annowidgets.core import masks
from annowidgets.formats import registry
from annowidgets.widgets import ExportForm, HierarchyBrowser, ImportForm, Studio, _fit
from annowidgets.workspace import Workspace

from . import forms_helpers
from .forms_helpers import make_project

WAIT = 30


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


@pytest.fixture
def project(ws, tmp_path):
    return make_project(ws, tmp_path)


def _finish(form):
    """Wait for the form's request in the worker, then poll as the front end would."""
    try:
        form.last_request.wait(timeout=WAIT)
    except Exception:  # noqa: BLE001 - failures are asserted through the form
        pass
    return form.poll()


# -- which formats fit ----------------------------------------------------------------------------------
def test_export_formats_fit_what_the_task_holds(project):
    form = ExportForm(project.tasks[0])
    names = [f["name"] for f in form.formats]
    assert form.holding["types"] == {"bbox": 8, "polygon": 4, "points": 4}
    assert form.format == names[0] == "CVAT for images 1.1"
    for spec in registry.all_formats():
        if spec.name in names:
            assert spec.can_export and "image" in spec.media
            assert set(spec.shapes) & {"bbox", "polygon", "points"}
        elif spec.can_export and "image" in spec.media and "track" not in spec.name.lower():
            assert not set(spec.shapes) & {"bbox", "polygon", "points"}, spec.name
    assert "CONLL2003" not in names and "ASR_MANIFEST" not in names  # text / audio media
    assert not any("Track" in n for n in names)  # no tracks in this task
    lossy = [f for f in form.formats if f["lost"]]
    yolo = next(f for f in form.formats if f["name"] == "YOLO 1.1")
    assert yolo["lost"] == ["points", "polygon"] and "8 annotations" in yolo["note"]
    assert names.index(yolo["name"]) >= len(form.formats) - len(lossy)  # lossless ones first


def test_fit_rules_for_text_and_tracks():
    text = _fit.Holding(items=3, kinds={"text": 3}, types={"span": 5})
    names = [f["name"] for f in _fit.export_formats(text)]
    assert "CONLL2003" in names and "Label Studio JSON" in names
    assert "COCO 1.0" not in names and "CVAT for images 1.1" not in names
    video = _fit.Holding(items=10, kinds={"video_frame": 10}, types={"bbox": 20}, tracks=True)
    fits = _fit.export_formats(video)
    assert fits[0]["note"] == "keeps tracks"
    keeps = [f["note"] == "keeps tracks" for f in fits]
    assert keeps == sorted(keeps, reverse=True)  # formats that keep tracks first
    kept = {f["name"] for f in fits if f["note"] == "keeps tracks"}
    assert {"CVAT for video 1.1", "Ultralytics YOLO Detection Track 1.0"} <= kept
    coco = next(f for f in fits if f["name"] == "COCO 1.0")
    assert coco["note"] == "tracks become per-frame shapes"
    assert len(_fit.import_formats(text, "annotations")) < len(_fit.import_formats(text, "dataset"))


def test_default_name_follows_format_and_kind(project, comm):
    form = ExportForm(project.tasks[0])
    c = comm(form)
    m = registry.CVAT_NAME.match(form.default_name)
    assert m and m.group(1) == "task" and m.group(3) == "annotations"
    c.update(format="COCO 1.0", save_images=True)
    assert form.default_name.startswith(f"task_{project.tasks[0].id}_dataset_")
    assert registry.format_from_filename(form.default_name).name == "COCO 1.0"
    assert c.last("default_name") == form.default_name


def test_bad_arguments_fail_loudly(project):
    task = project.tasks[0]
    with pytest.raises(ValueError, match="does not fit"):
        ExportForm(task, format="CONLL2003")
    with pytest.raises(ValueError, match="takes annotations"):
        ImportForm(task, mode="dataset")
    with pytest.raises(TypeError, match="Project, Task or Job"):
        ExportForm("task 1")
    with pytest.raises(TypeError, match="unexpected keyword"):
        ExportForm(task, save_imgs=True)


# -- export ---------------------------------------------------------------------------------------------
def test_export_to_a_local_folder_then_download_in_chunks(project, tmp_path, comm):
    form = ExportForm(project.tasks[0].jobs[0], chunk_size=256)
    c = comm(form)
    out = tmp_path / "out"
    c.update(format="Label Studio JSON", name="my export", location="local", target=str(out))
    c.custom({"kind": "export"})
    assert form.error == "" and form.request["status"] in ("queued", "started", "finished")
    snap = _finish(form)
    assert snap["status"] == "finished" and snap["result"] == str(out / "my export.zip")
    assert snap["file_name"] == "my export.zip" and c.last("request")["status"] == "finished"
    data = (out / "my export.zip").read_bytes()
    c.sent.clear()
    c.custom({"kind": "download", "token": "t1"})
    chunks = [(d["content"], b) for d, b in c.sent if d.get("method") == "custom"]
    assert len(chunks) == -(-len(data) // 256) > 1
    assert all(m["kind"] == "file_chunk" and m["token"] == "t1" and m["name"] == "my export.zip" for m, _ in chunks)
    assert b"".join(bytes(b[0]) for _, b in chunks) == data


def test_export_default_target_is_the_projects_storage(ws, project, tmp_path, comm):
    folder = tmp_path / "bucket"
    folder.mkdir()
    ws.attach_storage("shared", f"file://{folder}")
    project.set_storage(target="shared")
    form = ExportForm(project, save_images=True)
    assert "shared" in form.default_target and form.storages == [{"name": "shared", "url": f"file://{folder}"}]
    c = comm(form)
    c.custom({"kind": "export"})
    snap = _finish(form)
    assert snap["status"] == "finished", snap
    assert os.listdir(folder) == [form.default_name]


def test_export_errors_are_shown_in_the_form(project, tmp_path, comm):
    form = ExportForm(project.tasks[0])
    c = comm(form)
    c.update(location="url", target="not a url")
    c.custom({"kind": "export"})
    assert "s3://bucket" in form.error and form.request == {}
    c.update(location="storage", storage="nowhere")
    c.custom({"kind": "export"})
    assert "attached storage" in form.error
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    c.update(location="local", target=str(blocker / "sub"))
    c.custom({"kind": "export"})
    snap = _finish(form)
    assert snap["status"] == "failed" and form.error == snap["message"] and form.error
    c.custom({"kind": "download"})
    assert "no finished export" in form.error


# -- upload ---------------------------------------------------------------------------------------------
def _upload(c, form, name: str, data: bytes, chunk: int = 1000) -> None:
    c.custom({"kind": "upload_start", "name": name, "size": len(data)})
    uid = c.customs()[-1]["id"]
    for off in range(0, len(data), chunk):
        c.custom({"kind": "upload_chunk", "id": uid, "offset": off}, [memoryview(data[off:off + chunk])])
        ack = c.customs()[-1]
        assert ack == {"kind": "upload_ack", "id": uid, "received": min(off + chunk, len(data)),
                       "done": off + chunk >= len(data)}


def test_upload_is_acknowledged_chunk_by_chunk(project, comm):
    form = ImportForm(project.tasks[0])
    c = comm(form)
    data = bytes(range(256)) * 20
    c.custom({"kind": "upload_start", "name": "../../etc/evil name?.xml", "size": len(data)})
    ack = c.customs()[-1]
    uid = ack["id"]
    assert ack["received"] == 0 and form.upload["status"] == "receiving"
    c.custom({"kind": "upload_chunk", "id": uid, "offset": 0}, [data[:3000]])
    c.custom({"kind": "upload_chunk", "id": uid, "offset": 100}, [data[:10]])  # not where we are
    assert c.customs()[-1]["error"] == "chunk at byte 100, expected 3000" and form.upload["received"] == 3000
    c.custom({"kind": "upload_chunk", "id": uid, "offset": 3000}, [data[3000:]])
    assert form.upload == {"id": uid, "name": "evil name_.xml", "size": len(data), "received": len(data),
                           "status": "complete"}
    path = form.uploaded_path
    assert os.path.basename(path) == "evil name_.xml" and open(path, "rb").read() == data
    c.custom({"kind": "upload_start", "name": "big.zip", "size": form.max_upload_bytes + 1})
    assert "max_upload_bytes" in form.error and not os.path.exists(path)  # the old upload is dropped


def test_upload_detection_and_abort(project, comm):
    form = ImportForm(project.tasks[0])
    c = comm(form)
    _upload(c, form, "notes.txt", b"just some words")
    assert form.detected.startswith("not recognised: ") and "notes.txt" in form.detected
    c.custom({"kind": "upload_start", "name": "a.json", "size": 10})
    uid = c.customs()[-1]["id"]
    folder = form._upload.folder
    assert form.detected == "" and os.path.isdir(folder)  # a new upload clears the old detection
    c.custom({"kind": "upload_abort", "id": uid})
    assert form.upload["status"] == "aborted" and not os.path.exists(folder)
    c.custom({"kind": "start"})
    assert "upload a file first" in form.error


# -- import ---------------------------------------------------------------------------------------------
def _export(node, fmt: str, save_images: bool = False) -> str:
    return node.export(fmt, save_images=save_images).wait(timeout=WAIT)


def test_upload_then_import_annotations_summarised(project, comm):
    task = project.tasks[0]
    archive = _export(task, "CVAT for images 1.1")
    form = ImportForm(task, chunk_size=4096)
    c = comm(form)
    _upload(c, form, os.path.basename(archive), open(archive, "rb").read(), chunk=700)
    assert form.detected == "CVAT for images 1.1"  # what "Auto-detect" will use, shown before importing
    c.custom({"kind": "start"})
    snap = _finish(form)
    assert snap["status"] == "finished", snap
    s = form.summary
    assert s["status"] == "finished" and s["rejected"] == []
    # CVAT XML has no prediction source: the 4 predictions come back as annotations (the summary says so)
    assert s["imported"][0] == "imported 16 annotations on 4 items (detected: CVAT for images 1.1)"
    assert "annotations: 12 → 16 (replaced)" in s["imported"] and "predictions: 4 → 0 (replaced)" in s["imported"]
    assert c.last("summary") == s
    path = form.uploaded_path  # kept for a retry (say, with another format) until replaced or closed
    assert os.path.isfile(path)
    c.custom({"kind": "start"})
    assert _finish(form)["status"] == "finished" and form.summary["imported"][0].startswith("imported 16")
    form.close()
    assert not os.path.exists(path)


def test_rejected_input_lists_the_reason_and_changes_nothing(ws, project, tmp_path, comm):
    other = make_project(ws, tmp_path, name="animals", labels=("cat", "dog"))
    archive = _export(other.tasks[0], "CVAT for images 1.1")
    task = project.tasks[0]
    before = task.annotations
    form = ImportForm(task, source="url", url=archive, format="CVAT for images 1.1")
    c = comm(form)
    c.custom({"kind": "start"})
    snap = _finish(form)
    assert snap["status"] == "failed"
    (rej,) = form.summary["rejected"]
    assert rej["what"] == "the input" and "does not have the label(s) 'cat', 'dog'" in rej["reason"]
    assert form.summary["imported"] == ["nothing: the workspace is unchanged"] and form.error
    assert len(task.annotations) == len(before)


def test_import_dataset_into_a_project_from_a_url(ws, project, tmp_path, comm):
    archive = _export(project.tasks[0], "CVAT for images 1.1", save_images=True)
    empty = ws.create_project("copy")
    form = ImportForm(empty)
    assert form.modes == ["dataset", "annotations"] and form.mode == "dataset"
    c = comm(form)
    c.update(source="url", url=archive)
    c.custom({"kind": "start"})
    snap = _finish(form)
    assert snap["status"] == "finished", snap
    assert "items: 0 → 4" in form.summary["imported"]
    assert any(line.startswith("tasks now: ") and "(4 frames)" in line for line in form.summary["imported"])
    assert len(empty.tasks) == 1 and len(empty.tasks[0].annotations) == 16


def _mask_annotations(tmp_path) -> str:
    """COCO annotations of the helper task's images: one RLE mask (a 7×6 block) on img0.png."""
    ds = forms_helpers.dataset(forms_helpers.images(tmp_path / "same-names"))
    block = np.zeros((24, 32), bool)
    block[4:10, 5:12] = True
    block[6, 8] = False  # a hole: a polygon cannot hold it
    ds.annotations = ds.annotations.iloc[:1].assign(type="mask", mask=[masks.coco_encode(block)], x=5.0, y=4.0,
                                                    w=7.0, h=6.0)
    return str(ds.export(str(tmp_path), "COCO 1.0", name="masks.zip"))


@pytest.mark.parametrize("ticked", [False, True])
def test_import_converts_masks_to_polygons_when_ticked(project, tmp_path, comm, ticked):
    task = project.tasks[0]
    form = ImportForm(task, source="url", url=_mask_annotations(tmp_path))
    assert form.to_polygons is False  # CVAT's default
    c = comm(form)
    c.update(to_polygons=ticked)
    c.custom({"kind": "start"})
    assert _finish(form)["status"] == "finished", form.summary
    (row,) = task.annotations.itertuples()
    assert row.type == ("polygon" if ticked else "mask")
    message = form.summary["imported"][0]
    if ticked:
        assert sorted(zip(row.points[0::2], row.points[1::2], strict=True)) == [(5, 4), (5, 10), (12, 4), (12, 10)]
        assert "on reading: 1 annotations row(s): mask holes cannot be polygons; holes filled" in message
    else:
        assert "on reading" not in message


def test_missing_input_is_rejected_with_the_reason(project, comm):
    form = ImportForm(project.tasks[0], source="url", url="/nonexistent/annotations.xml")
    c = comm(form)
    c.custom({"kind": "start"})
    snap = _finish(form)
    assert snap["status"] == "failed" and "annotations.xml" in form.summary["rejected"][0]["reason"]


# -- wiring -------------------------------------------------------------------------------------------
def test_studio_opens_forms_from_browser_actions(ws, project, comm):
    studio = Studio(ws)
    b = comm(studio.browser)
    task, job = project.tasks[0], project.tasks[0].jobs[0]
    b.custom({"kind": "action", "action": "export_dataset", "level": "task", "id": task.id})
    form = studio.form
    assert isinstance(form, ExportForm) and form.save_images and form.node["id"] == task.id
    assert studio._form_box.children == (form,)
    f = comm(form)
    f.custom({"kind": "export"})
    assert [r["id"] for r in studio.requests.requests] == [form.request["id"]]  # the panel polls it now
    _finish(form)
    assert studio.requests.requests[0]["status"] == "finished"
    b.custom({"kind": "action", "action": "import_annotations", "level": "job", "id": job.id})
    assert isinstance(studio.form, ImportForm) and studio.form.mode == "annotations"
    b.custom({"kind": "action", "action": "preview", "level": "task", "id": task.id})
    assert studio.preview is not None and studio.preview.item["name"] == "img0.png"
    assert studio._preview_box.children == (studio.preview,)


def test_studio_import_refreshes_tree_and_panel(ws, project, comm):
    studio = Studio(ws, preview=False)
    empty = ws.create_project("copy")
    studio.browser.refresh()
    archive = _export(project.tasks[0], "CVAT for images 1.1", save_images=True)
    comm(studio.browser).custom({"kind": "action", "action": "import_dataset", "level": "project", "id": empty.id})
    form = studio.form
    c = comm(form)
    c.update(source="url", url=archive)
    c.custom({"kind": "start"})
    _finish(form)
    tree = {p["name"]: p for p in studio.browser.tree}
    assert len(tree["copy"]["tasks"]) == 1 and tree["copy"]["tasks"][0]["items"] == 4
    assert {r["operation"] for r in studio.requests.requests} >= {"import:dataset", "export:dataset"}


def test_browser_alone_keeps_the_opened_form(ws, project, comm):
    b = HierarchyBrowser(ws)
    comm(b).custom({"kind": "action", "action": "import_dataset", "level": "project", "id": project.id})
    assert isinstance(b.form, ImportForm) and b.form.mode == "dataset" and "display(browser.form)" in b.status


def test_export_to_an_attached_storage_and_a_cloud_url(ws, project, tmp_path, comm):
    folder = tmp_path / "bucket"
    folder.mkdir()
    ws.attach_storage("shared", f"file://{folder}")
    form = ExportForm(project.tasks[0], chunk_size=256)
    c = comm(form)
    c.update(location="storage", storage="shared", target="exports/run1", name="a")
    c.custom({"kind": "export"})
    assert _finish(form)["status"] == "finished"
    assert (folder / "exports" / "run1" / "a.zip").is_file()
    # any fsspec URL (memory:// stands in for s3://): written there, downloaded from there
    c.update(location="url", target="memory://annowidgets-forms-test", name="")
    c.custom({"kind": "export"})
    snap = _finish(form)
    assert snap["status"] == "finished" and snap["result"] == f"memory://annowidgets-forms-test/{form.default_name}"
    c.sent.clear()
    c.custom({"kind": "download", "token": "m"})
    with fsspec.open(snap["result"], "rb") as fh:
        assert b"".join(bytes(b[0]) for d, b in c.sent if d.get("method") == "custom") == fh.read()


def test_cancel_while_queued(ws, project, comm):
    gate = threading.Event()
    blockers = [ws._submit("block", "project", project.id, None, None, False,
                           lambda p: (gate.wait(WAIT), (None, None, "done"))[1]) for _ in range(2)]
    try:
        form = ImportForm(project.tasks[0], source="url", url="/nowhere.xml")
        c = comm(form)
        c.custom({"kind": "start"})
        assert form.request["status"] == "queued" and form.running
        c.custom({"kind": "cancel"})
        assert form.request["status"] == "cancelled" and form.summary["status"] == "cancelled"
        assert form.summary["rejected"] == [{"what": "the import", "reason": "cancelled before it started"}]
    finally:
        gate.set()
        for r in blockers:
            r.wait(timeout=WAIT)


def test_an_upload_replaced_during_its_import_stays_until_the_import_ends(ws, project, comm):
    gate = threading.Event()
    blockers = [ws._submit("block", "project", project.id, None, None, False,
                           lambda p: (gate.wait(WAIT), (None, None, "done"))[1]) for _ in range(2)]
    try:
        form = ImportForm(project.tasks[0])
        c = comm(form)
        _upload(c, form, "first.xml", b"<annotations/>")
        first = form.uploaded_path
        c.custom({"kind": "start"})
        assert form.request["status"] == "queued"
        c.custom({"kind": "upload_start", "name": "second.xml", "size": 5})
        assert os.path.isfile(first)  # the queued import will read it
        c.custom({"kind": "cancel"})
        assert form.summary["status"] == "cancelled" and not os.path.exists(first)
    finally:
        gate.set()
        for r in blockers:
            r.wait(timeout=WAIT)


@pytest.mark.filterwarnings("ignore::annowidgets.core.loss.LossWarning")
def test_a_lossy_export_says_what_the_archive_lacks(project, comm):
    form = ExportForm(project.tasks[0], format="YOLO 1.1")
    c = comm(form)
    c.custom({"kind": "export"})
    snap = _finish(form)
    assert snap["status"] == "finished", snap
    assert snap["lost"] == "YOLO 1.1 cannot carry points, polygon (8 annotations)"
    assert c.last("request")["lost"] == snap["lost"]


def test_import_from_a_file_in_the_projects_source_storage(ws, project, tmp_path, comm):
    folder = tmp_path / "incoming"
    folder.mkdir()
    ws.attach_storage("incoming", f"file://{folder}")
    project.set_storage(source="incoming")
    archive = _export(project.tasks[0], "CVAT for images 1.1")
    (folder / "annotations.zip").write_bytes(open(archive, "rb").read())
    form = ImportForm(project.tasks[0], source="url", url="annotations.zip")
    assert form.storage == "incoming"  # the project's default source storage is preselected
    c = comm(form)
    c.custom({"kind": "start"})
    assert _finish(form)["status"] == "finished" and form.summary["imported"][0].startswith("imported 16")
    c.update(storage="gone")
    c.custom({"kind": "start"})
    assert form.error == "no attached storage 'gone'"
