"""RequestsPanel and HierarchyBrowser on the real Workspace (skipped until the workspace lands)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from annowidgets.core.dataset import Dataset
from annowidgets.widgets import HierarchyBrowser, RequestsPanel

workspace = pytest.importorskip("annowidgets.workspace", reason="annowidgets.workspace is not on this branch yet")


def _dataset(n: int = 4) -> Dataset:
    items = pd.DataFrame({"item_id": np.arange(n), "name": [f"img{i}.png" for i in range(n)], "frame": np.arange(n),
                          "width": 32, "height": 24})
    ann = pd.DataFrame({"ann_id": np.arange(2 * n), "item_id": np.repeat(np.arange(n), 2),
                        "frame": np.repeat(np.arange(n), 2), "label": ["car", "person"] * n,
                        "source": ["annotation", "prediction"] * n, "score": [np.nan, 0.5] * n,
                        "model_version": [None, "m1"] * n, "x": 1.0, "y": 2.0, "w": 3.0, "h": 4.0})
    return Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": ["car", "person"]}))


@pytest.fixture
def ws(tmp_path):
    w = workspace.Workspace(tmp_path / "ws")
    yield w
    w.close()


def test_browser_counts_match_the_workspace(ws, comm):
    project = ws.create_project_from(_dataset(), name="cars")
    b = HierarchyBrowser(ws)
    (p,) = b.tree
    assert p["name"] == "cars" and p["labels"] == 2
    task = p["tasks"][0]
    assert task["items"] == 4 and task["annotations"] == {"annotation": 4, "prediction": 4}
    c = comm(b)
    c.update(selected={"level": "task", "id": task["id"]})
    assert b.selected_node == project.tasks[0]
    job = task["jobs"][0]
    got = []
    b.on_action(lambda action, node: got.append((action, node)))
    c.custom({"kind": "action", "action": "export_annotations", "level": "job", "id": job["id"]})
    assert got == [("export_annotations", ws.job(job["id"]))]


def test_panel_follows_a_failing_import(ws, tmp_path, comm):
    project = ws.create_project_from(_dataset(), name="cars")
    panel = RequestsPanel(ws)
    ended = []
    panel.on_finish(ended.append)
    c = comm(panel)
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    req = project.tasks[0].import_annotations(str(bad))
    with pytest.raises(workspace.RequestFailed):
        req.wait(timeout=30)
    c.custom({"kind": "refresh"})
    assert [r["id"] for r in ended] == [req.id] and ended[0]["status"] == "failed"
    assert panel.requests[0]["operation"] == "import:annotations" and panel.requests[0]["message"]
    assert c.customs()[-1]["kind"] == "notify"
