"""Manual check (not collected by pytest): Studio with the export and import forms in a real
JupyterLab 4 driven by Debian's Chromium. Clicks a task, opens *Upload annotations*, uploads a
32 MiB file through the real comm (timed, checked by hash in the kernel), imports a CVAT archive
(summary checked), opens *Export dataset*, exports with a custom name and downloads it.

    python3 tests/manual/lab_forms_check.py      # needs jupyterlab, ipykernel, playwright, chromium
"""

# ruff: noqa: BLE001
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
base = Path(tempfile.mkdtemp(prefix="annowidgets-lab-"))
root = base / "root"
root.mkdir()
dirs = {
    n: base / n.lower()
    for n in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
    )
}
for d in dirs.values():
    d.mkdir()
s = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
s.parent.mkdir(parents=True)
s.write_text(json.dumps({"windowingMode": "none"}))
cells = [
    f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
    "import annowidgets as aw, pathlib\nfrom annowidgets.workspace import Workspace\n"
    "from tests.widgets.forms_helpers import make_project\n"
    f"d = pathlib.Path('{base}/data'); d.mkdir()\nws = Workspace(d / 'ws'); project = make_project(ws, d)\n"
    "archive = project.tasks[0].export('CVAT for images 1.1', save_images=True).wait(30)\n"
    "studio = aw.Studio(ws); studio",
]
nb = {
    "cells": [
        {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in cells
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}
(root / "check.ipynb").write_text(json.dumps(nb))
token = secrets.token_hex(8)
env = {**os.environ, **{k: str(v) for k, v in dirs.items()}, "JUPYTER_PLATFORM_DIRS": "1"}
cmd = [
    sys.executable,
    "-m",
    "jupyterlab",
    "--no-browser",
    "--ServerApp.ip=127.0.0.1",
    "--ServerApp.port=0",
    f"--IdentityProvider.token={token}",
    f"--ServerApp.root_dir={root}",
    "--LabApp.expose_app_in_browser=True",
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
    "--allow-root",
]
log = open(base / "server.log", "wb")
proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
print("server pid", proc.pid, flush=True)
try:
    info = dirs["JUPYTER_RUNTIME_DIR"] / f"jpserver-{proc.pid}.json"
    t0 = time.time()
    while True:
        if info.exists():
            try:
                port = json.loads(info.read_text())["port"]
                url = f"http://127.0.0.1:{port}/"
                urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2)
                break
            except Exception:
                pass
        assert time.time() - t0 < 90
        time.sleep(0.2)
    from playwright.sync_api import expect, sync_playwright

    IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
      const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
      return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }"""
    EVAL = """async (expr) => { const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
      const f = kernel.requestExecute({code: '', silent: true, store_history: false, user_expressions: {v: expr}});
      let r = null; f.onReply = (m) => { r = m; }; await f.done; return r.content.user_expressions.v; }"""

    def kv(page, expr):
        out = page.evaluate(EVAL, expr)
        assert out["status"] == "ok", out
        return out["data"]["text/plain"]

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        ctx = b.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        ctx.set_default_timeout(90_000)
        expect.set_options(timeout=90_000)
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}lab/tree/check.ipynb?reset&token={token}")
        page.wait_for_function(IDLE)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        tree = page.locator(".aw-hierarchy")
        expect(tree).to_have_count(1)
        expect(page.locator(".aw-requests")).to_have_count(1)
        tree.locator(".aw-hb-row[data-key='task:1']").click()
        expect(page.locator(".aw-preview")).to_have_count(1)
        # upload through the real comm: 10 MiB random file (3 chunks of 4 MiB), then the real archive
        tree.locator(".aw-hb-action[data-action=import_annotations]").click()
        form = page.locator(".aw-import")
        expect(form).to_have_count(1)
        big = os.urandom(32 * 2**20)
        page.evaluate("""() => { const el = document.querySelector('.aw-import'); window.__t = {};
          new MutationObserver(() => { const v = el.dataset.upload; if (v && !window.__t[v]) window.__t[v] = performance.now(); })
            .observe(el, {attributes: true}); }""")
        page.set_input_files(
            ".aw-if-file", files=[{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": big}]
        )
        expect(form).to_have_attribute("data-upload", "complete")
        tt = page.evaluate("() => window.__t")
        print("32 MiB upload through JupyterLab's comm: %.2f s" % ((tt["complete"] - tt["sending"]) / 1000), flush=True)
        h = kv(page, "__import__('hashlib').sha256(open(studio.form.uploaded_path,'rb').read()).hexdigest()")
        assert h.strip("'") == hashlib.sha256(big).hexdigest(), h
        data = open(kv(page, "archive").strip("'"), "rb").read()
        page.set_input_files(
            ".aw-if-file",
            files=[
                {
                    "name": "task_1_dataset_2026_01_01_00_00_00_cvat for images 1.1.zip",
                    "mimeType": "application/zip",
                    "buffer": data,
                }
            ],
        )
        expect(form).to_have_attribute("data-upload", "complete")
        page.locator(".aw-if-import").click()
        expect(form.locator(".aw-if-imported li").first).to_have_text("imported 16 annotations on 4 items (detected: CVAT for images 1.1)")
        expect(page.locator(".aw-rq-toast").last).to_contain_text("import:annotations of task 1: finished")
        print("import summary:", form.locator(".aw-if-imported").inner_text().replace("\n", " | "), flush=True)
        # export from the tree: the form, progress, result, download
        tree.locator(".aw-hb-action[data-action=export_dataset]").click()
        ef = page.locator(".aw-export")
        expect(ef).to_have_count(1)
        ef.locator(".aw-ef-name").fill("from-lab")
        ef.locator(".aw-ef-export").click()
        expect(ef).to_have_attribute("data-status", "finished")
        res = ef.locator(".aw-ef-result-path").inner_text()
        print("export result:", res, flush=True)
        with page.expect_download() as dl:
            ef.locator(".aw-ef-download").click()
        got = open(dl.value.path(), "rb").read()
        assert dl.value.suggested_filename == "from-lab.zip" and got == open(res, "rb").read()
        print("download ok:", len(got), "bytes", flush=True)
        page.screenshot(path=str(base / "studio.png"), full_page=True)
        print("screenshot:", base / "studio.png")
        print("page errors:", errors)
        b.close()
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
