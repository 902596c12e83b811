"""Real-browser tests: the built bundle in Debian's Chromium via playwright-python, no server.

A blank page gets a ~90-line fake host (``fake_host.js``) that loads the ESM from a Blob URL the
way anywidget does. A :class:`Bridge` plays the kernel: it applies what the page saved or sent to
the real Python widget (``_handle_msg``) and pushes the widget's outgoing updates back into the
page, so a click goes JS -> Python -> JS as in Jupyter, minus the network.

Skipped when /usr/bin/chromium (or ``CHROMIUM_PATH``), playwright or the bundle is missing;
``BROWSER_TESTS_REQUIRED=1`` turns those skips into failures (CI).
Never run ``playwright install``: it downloads browsers; we use the system Chromium.
"""
from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from annowidgets.widgets._base import STATIC

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("BROWSER_TEST_ARTIFACTS") or ROOT / "test-artifacts")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
               "--disable-quic"]
TIMEOUT_MS = 15_000


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y --no-install-recommends chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; never `playwright install`)"
    if not (STATIC / "preview.js").exists():
        return "front-end bundle not built (npm install && npm run build)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("BROWSER_TESTS_REQUIRED") == "1":
        raise pytest.UsageError(f"BROWSER_TESTS_REQUIRED=1 but {reason}")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


# Package scope: one sync Playwright per process at a time, and tests/e2e starts its own after this
# package is done (a second sync_playwright() while this one runs fails: "Sync API inside the asyncio loop").
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="package")
def context(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, request):
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console.error: {msg.text}") if msg.type == "error" else None)
    pg.set_content("<!doctype html><html><head></head><body></body></html>")
    pg.add_script_tag(content=(HERE / "fake_host.js").read_text())
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-FAILED.png"))
    pg.close()
    assert not errors, errors


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _b64(bufs) -> list[str]:
    return [base64.b64encode(bytes(b)).decode("ascii") for b in bufs]


class Bridge:
    """Plays the kernel between a Python widget and the page that renders it."""

    def __init__(self, widget, page, monkeypatch):
        from ipywidgets.widgets.widget import _remove_buffers

        self.w, self.page, self._remove = widget, page, _remove_buffers
        self.outbox: list[tuple[dict, list]] = []
        monkeypatch.setattr(widget.comm, "send", lambda data=None, buffers=None, **_: self.outbox.append(
            (data, list(buffers or []))))

    def mount(self) -> None:
        state, paths, bufs = self._remove(self.w.get_state())
        esm, css = str(self.w._esm), str(self.w._css)
        self.page.evaluate("([esm, css, s, p, b]) => window.__awMount(esm, css, s, p, b)",
                           [esm, css, state, paths, _b64(bufs)])
        self.page.wait_for_selector(".aw-preview, .aw-root")

    def pump(self) -> list[dict]:
        """Deliver saved state and sent messages to Python, then Python's updates to the page.

        Returns what the page saved (the JS -> Python updates), for assertions.
        """
        saved = self.page.evaluate("() => window.__awHost.takeSaved()")
        sent = self.page.evaluate("() => window.__awHost.takeSentWithBuffers()")
        for state in saved:
            self.w._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
                                "buffers": []})
        for content, bufs in sent:
            self.w._handle_msg({"content": {"data": {"method": "custom", "content": content}},
                                "buffers": [base64.b64decode(b) for b in bufs]})
        out, self.outbox = self.outbox, []
        for data, bufs in out:
            if data.get("method") == "update":
                self.page.evaluate("([s, p, b]) => window.__awHost.push(s, p, b)",
                                   [data["state"], data.get("buffer_paths", []), _b64(bufs)])
            elif data.get("method") == "custom":
                self.page.evaluate("([c, b]) => window.__awHost.custom(c, b)", [data["content"], _b64(bufs)])
        return saved


@pytest.fixture
def bridge(page, monkeypatch):
    return lambda widget: Bridge(widget, page, monkeypatch)
