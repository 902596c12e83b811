"""End-to-end fixtures: a private JupyterLab on 127.0.0.1 and Debian's Chromium driving it.

The server gets a temporary root folder holding a copy of ``notebooks/tour.ipynb``, its own
``JUPYTER_*``/``IPYTHONDIR``/settings/workspaces folders (so the user's Jupyter config is never
read or written), ``--port=0`` (the real port is read from the server's runtime file, so there is
no race for a free port), a random token, and no network use (news, update checks and the PyPI
extension manager are off). The kernel imports this checkout through ``PYTHONPATH`` and keeps the
tour's workspace in the temporary folder.

Skipped when Chromium, playwright, JupyterLab or the front-end bundle is missing;
``BROWSER_TESTS_REQUIRED=1`` turns the skip into a failure (CI). Never ``playwright install``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from annowidgets.widgets._base import STATIC

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("BROWSER_TEST_ARTIFACTS") or ROOT / "test-artifacts")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
               "--disable-quic"]
SERVER_START_S = 60  # generous for a loaded 2-core machine; a normal start takes ~2 s
TIMEOUT_MS = 60_000  # every Playwright wait; the slow ones are the kernel start and the tour's cells

#: User settings that keep JupyterLab quiet and deterministic: no news toast or update check, and
#: no notebook windowing (it skips rendering off-screen cells, so their outputs are not in the DOM).
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y --no-install-recommends chromium)"
    for mod, hint in (("playwright.sync_api", "pip install -e '.[browser]' (never `playwright install`)"),
                      ("jupyterlab", "pip install -e '.[lab]'"), ("ipykernel", "pip install -e '.[lab]'")):
        try:
            __import__(mod)
        except ImportError:
            return f"{mod} is not installed ({hint})"
    if not (STATIC / "hierarchy.js").exists():
        return "front-end bundle not built (npm ci && npm run build)"
    return None


def pytest_collection_modifyitems(config, items):
    if not any("e2e" in item.keywords for item in items):
        return
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("BROWSER_TESTS_REQUIRED") == "1":
        raise pytest.UsageError(f"BROWSER_TESTS_REQUIRED=1 but {reason}")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


class Lab:
    """A running JupyterLab: where it listens, its token, its root folder and its log."""

    def __init__(self, url: str, token: str, root: Path, log: Path):
        self.url, self.token, self.root, self.log = url, token, root, log

    def tree_url(self, name: str) -> str:
        return f"{self.url}lab/tree/{name}?reset&token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture(scope="package")
def jupyter_lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "tour.ipynb", root / "tour.ipynb")
    dirs = {name: base / name.lower() for name in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
        "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")}
    for d in dirs.values():
        d.mkdir()
    for rel, value in SETTINGS.items():
        f = dirs["JUPYTERLAB_SETTINGS_DIR"] / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    token = secrets.token_hex(16)
    env = {**os.environ, **{k: str(v) for k, v in dirs.items()},
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "ANNOWIDGETS_TOUR_DIR": str(base / "tour"), "ANNOWIDGETS_CACHE": str(base / "cache"),
           "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_PREFER_ENV_PATH", None)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = base / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        lab = Lab(_wait_for_server(proc, dirs["JUPYTER_RUNTIME_DIR"], token, log), token, root, log)
        yield lab
    finally:
        _stop(proc)


def _wait_for_server(proc: subprocess.Popen, runtime: Path, token: str, log: Path) -> str:
    """The server's URL once ``/api/status`` answers; its port comes from ``jpserver-<pid>.json``."""
    deadline = time.monotonic() + SERVER_START_S
    info = runtime / f"jpserver-{proc.pid}.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if info.exists():
            try:
                port = json.loads(info.read_text())["port"]
                url = f"http://127.0.0.1:{port}/"
                with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        return url
            except (OSError, ValueError, KeyError):
                pass  # file half-written or server not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the server shuts its kernels down), then kill what is left of the group we started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # our own session: the server and its kernels only
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=10)


@pytest.fixture(scope="package")  # torn down with this package: one sync Playwright at a time (see tests/browser)
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def lab_page(chromium, jupyter_lab, request):
    """A fresh browser context on the Lab; a screenshot and the server log on failure."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    (ARTIFACTS / f"{request.node.name}-FAILED.png").unlink(missing_ok=True)  # not a stale one from an old run
    ctx = chromium.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-FAILED.png"))
        print(f"--- JupyterLab log (tail) ---\n{jupyter_lab.log_tail()}\n--- page errors ---\n{errors}")
    ctx.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
