"""Every notebook in ``notebooks/`` runs top to bottom in a fresh kernel without an error.

The kernel imports this checkout (``PYTHONPATH``), and the tour's workspace and image cache go
to the test's temporary folder, never to the user's cache or the repository. The notebooks are
kept in git without outputs, so a diff shows only what changed in the code.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 180


def test_there_are_notebooks():
    assert any(p.name == "tour.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_kept_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"
    assert "widgets" not in nb["metadata"], f"{path.name}: saved widget state; clear it before committing"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' (nbclient, ipykernel)")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' (nbclient, ipykernel)")
    pytest.importorskip("ipykernel", reason="pip install -e '.[test]' (nbclient, ipykernel)")

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("ANNOWIDGETS_TOUR_DIR", str(tmp_path / "tour"))
    monkeypatch.setenv("ANNOWIDGETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell, with its traceback

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "some cells did not run"
    stderr = [(i, o.get("text", "")) for i, c in enumerate(code) for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr" and "Traceback" in o.get("text", "")]
    assert not stderr, f"tracebacks printed (e.g. from a widget callback or a thread): {stderr}"
    assert not list((ROOT / "notebooks").glob("**/workspace.db")), "a notebook wrote its workspace into the repo"
    if path.name == "tour.ipynb":
        stdout = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
        # the tour's export -> import round trip really happened, in the temporary folder
        assert "import dataset: created task(s)" in stdout and "upload annotations: imported" in stdout, stdout
        assert (tmp_path / "tour" / "workspace" / "workspace.db").is_file()
        assert len(list((tmp_path / "tour" / "workspace" / "exports").glob("*.zip"))) == 2
