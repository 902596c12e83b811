"""The tour notebook in a real JupyterLab and Chromium: it runs, its widgets render, clicks reach Python.

One notebook run covers the path a user takes: open the tour, *Run All*, see the tree, the
requests and the preview, click a task in the tree and find the selection in the kernel (read
back both through the kernel and by re-running the tour's own "selected" cell), then press the
tree's *Preview* action and see the Python callback display a new widget, then start an export
from the tree and see the requests panel follow it to the end. Screenshots go to
``test-artifacts/``.
"""
from __future__ import annotations

import ast
import json

import pytest

from .conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

#: True once the notebook is open, its kernel connected and idle (synchronous predicate: an async
#: one makes wait_for_function return at once).
KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.isReady && w.sessionContext.session
            && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""

#: True once every code cell has run (an execution count arrives with the cell's execute reply).
ALL_CELLS_RAN = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  return cells.length > 0 && cells.every((c) => c.model.type !== 'code' || c.model.executionCount > 0);
}"""

#: Evaluate a Python expression in the notebook's kernel without touching the notebook.
KERNEL_EVAL = """async (expr) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code: '', silent: true, store_history: false,
                                        user_expressions: {v: expr}});
  let reply = null;
  future.onReply = (msg) => { reply = msg; };
  await future.done;
  return reply.content.user_expressions.v;
}"""

#: Run the cell whose source contains the given text (the tour's "selected:" cell).
RUN_CELL_WITH = """async (needle) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const i = panel.content.widgets.findIndex((c) => c.model.sharedModel.getSource().includes(needle));
  if (i < 0) throw new Error('no cell contains ' + needle);
  panel.content.activeCellIndex = i;
  await window.jupyterapp.commands.execute('notebook:run-cell');
  return i;
}"""


def kernel_eval(page, expr: str):
    """The value of ``expr`` in the kernel (it must evaluate to a JSON string)."""
    out = page.evaluate(KERNEL_EVAL, expr)
    assert out["status"] == "ok", out
    return json.loads(ast.literal_eval(out["data"]["text/plain"]))


def wait_kernel_value(page, expr: str, expected, timeout_s: float = 30):
    """Poll the kernel until ``expr`` equals ``expected``: a comm update lands a moment after the DOM's."""
    deadline = page.evaluate("() => performance.now()") + 1000 * timeout_s
    value = None
    while page.evaluate("() => performance.now()") < deadline:
        value = kernel_eval(page, expr)
        if value == expected:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"kernel: {expr} = {value!r}, expected {expected!r}")


def test_tour_runs_in_jupyterlab_and_clicks_reach_python(lab_page, jupyter_lab):
    from playwright.sync_api import expect

    page = lab_page
    page.goto(jupyter_lab.tree_url("tour.ipynb"))
    page.wait_for_function(KERNEL_IDLE)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    # the tour's anywidget views render in their cells (cells are located by their source, so
    # widgets added further down, e.g. the Studio, do not change what is checked here)
    browser_cell = page.locator(".jp-Cell", has_text="browser = aw.HierarchyBrowser(ws)")
    tree = browser_cell.locator(".aw-hierarchy")
    expect(tree).to_have_count(1)
    requests = page.locator(".jp-Cell", has_text="it was made with the tree above").locator(".aw-requests")
    expect(requests).to_have_count(1)
    preview = page.locator(".jp-Cell", has_text="preview = aw.Preview(").locator(".aw-preview")
    expect(preview).to_have_count(1)
    page.wait_for_function(ALL_CELLS_RAN)
    page.wait_for_function(KERNEL_IDLE)
    # by then the re-imported project is in the tree and the requests are all finished
    expect(tree.locator(".aw-hb-project")).to_have_count(2)
    expect(tree.locator(".aw-hb-row[data-key='task:2']")).to_contain_text("val (val)")
    expect(tree.locator(".aw-hb-row[data-key='task:2']")).to_contain_text("4 items · 20 annotations, 22 predictions")
    expect(requests.locator(".aw-rq-row.aw-rq-finished")).to_have_count(4)
    expect(preview).to_have_attribute("data-image", "320x240")  # the PNG bytes decoded onto the canvas

    # a click in the tree changes Python state
    tree.locator(".aw-hb-row[data-key='task:2']").click()
    expect(tree).to_have_attribute("data-selected", "task:2")
    wait_kernel_value(page, "__import__('json').dumps(browser.selected)", {"level": "task", "id": 2})
    assert kernel_eval(page, "__import__('json').dumps(repr(browser.selected_node))").startswith("<Task 2 'val'")
    # ...which the tour's own cell reports when run again
    page.evaluate(RUN_CELL_WITH, 'print("selected:"')
    selected_cell = page.locator(".jp-Cell", has_text='print("selected:"')
    expect(selected_cell.locator(".jp-OutputArea-output")).to_contain_text("selected: {'level': 'task', 'id': 2}")
    expect(selected_cell.locator(".jp-OutputArea-output")).to_contain_text("<Task 2 'val'")

    # an action button runs the Python callback, which displays a new Preview under the tree
    tree.locator(".aw-hb-action[data-action=preview]").click()
    action_preview = browser_cell.locator(".aw-preview")
    expect(action_preview).to_have_attribute("data-image", "320x240")
    expect(tree.locator(".aw-hb-status")).to_have_text("preview on task 2")
    expect(action_preview).to_have_attribute("data-item", "7")  # the first image of the val task

    # an export started from the tree is followed by the requests panel (it polls while a request
    # is active) until it finishes, with a notice
    tree.locator(".aw-hb-action[data-action=export_annotations]").click()
    expect(browser_cell.locator("[data-mime-type='application/vnd.jupyter.stdout']")).to_contain_text(
        "export_annotations of <Task 2 'val'")
    expect(requests.locator(".aw-rq-row.aw-rq-finished")).to_have_count(5)
    expect(requests.locator(".aw-rq-toast")).to_contain_text("export:annotations of task 2: finished")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests.screenshot(path=str(ARTIFACTS / "e2e-tour-requests.png"))

    # the Studio composes a tree, the forms, the requests and a preview in its own cell; an action
    # in its tree opens the export form for the selected node
    studio = page.locator(".jp-Cell", has_text="studio = aw.Studio(ws)")
    studio_tree = studio.locator(".aw-hierarchy")
    expect(studio_tree).to_have_count(1)
    expect(studio.locator(".aw-requests")).to_have_count(1)
    studio_tree.locator(".aw-hb-row[data-key='task:2']").click()
    studio_tree.locator(".aw-hb-action[data-action=export_annotations]").click()
    expect(studio.locator(".aw-export")).to_have_count(1)
    expect(studio.locator(".aw-export .aw-form-title")).to_contain_text("val")
    studio.locator(".jp-OutputArea-output").scroll_into_view_if_needed()
    studio.locator(".jp-OutputArea-output").screenshot(path=str(ARTIFACTS / "e2e-tour-studio.png"))
    tree.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "e2e-tour-lab.png"))
    tree.screenshot(path=str(ARTIFACTS / "e2e-tour-hierarchy.png"))
    preview.screenshot(path=str(ARTIFACTS / "e2e-tour-preview.png"))
    assert not page.errors, page.errors
