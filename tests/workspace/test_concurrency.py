"""Two processes on one workspace, and a process killed in the middle of a large import."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from annowidgets.workspace import Workspace, transfer

from .conftest import make_images
from .helpers import annotations_for, geometry, write_many
from .jsonfmt import NAME

ROOT = Path(__file__).resolve().parents[2]


def _python(script: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


KILLED_IMPORT = """
    import sys, time
    import tests.workspace.jsonfmt
    from annowidgets.workspace import Workspace, store
    store.CHUNK = 250  # small chunks: the import is killed between two of them
    real = store.insert
    def slow(conn, table, columns, progress=None, what=""):
        # the real insert, then a pause per chunk so the parent surely kills us mid-transaction
        def step(f, m=""):
            if progress is not None:
                progress(f, m)
            time.sleep(0.5)
        real(conn, table, columns, step, what)
    store.insert = slow
    ws = Workspace(sys.argv[1])
    r = ws.task(int(sys.argv[2])).import_annotations(sys.argv[3], format=tests.workspace.jsonfmt.NAME)
    r.wait()
    print("finished")
"""


def test_killed_import_leaves_the_workspace_unchanged(tmp_path):
    n_items = 200
    make_images(tmp_path / "imgs", 1, size=(8, 8))
    names = [f"f{i:04d}.png" for i in range(n_items)]
    ws = Workspace(tmp_path / "ws")
    p = ws.create_project("p", labels=["car", "person"])
    ds0 = annotations_for(names, per_item=2)
    ds0.items["media"] = str(tmp_path / "imgs" / "img000.png")
    t = p.create_task_from(ds0, name="big", segment_size=100)
    before = geometry(t.annotations)
    big = annotations_for(names, per_item=10)  # 2,000 annotations: 8 chunks of 250, 0.5 s apart
    src = str(transfer_archive(big, tmp_path / "big.zip"))
    ws.close()

    proc = _python(KILLED_IMPORT, str(tmp_path / "ws"), str(t.id), src)
    req_db = tmp_path / "ws" / "requests.db"
    deadline = time.monotonic() + 60
    progress = 0.0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if req_db.exists():
                c = sqlite3.connect(req_db, timeout=5)
                row = c.execute("SELECT status, progress FROM requests WHERE operation = 'import:annotations'"
                                ).fetchone()
                c.close()
                # past 0.4 the import is writing annotation chunks inside its transaction
                if row and row[0] == "started" and row[1] >= 0.4:
                    progress = row[1]
                    break
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, (out, err)
    assert 0.4 <= progress < 1.0, (progress, out, err)

    ws = Workspace(tmp_path / "ws")  # opens fine; WAL recovery drops the uncommitted transaction
    assert ws.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    t = ws.task(t.id)
    assert geometry(t.annotations) == before
    assert ws.conn.execute("SELECT count(*) FROM annotations").fetchone()[0] == 2 * n_items
    (req,) = ws.requests().itertuples()
    assert req.status == "failed" and "interrupted" in req.message
    ws.close()


def transfer_archive(ds, path):
    from annowidgets.formats import registry

    return registry.export(ds, str(path), NAME)


WRITER = """
    import os, sys, time
    from tests.workspace.helpers import write_many
    path, who, ready, go, shared = sys.argv[1:6]
    open(ready, "w").close()  # imports done: the parent starts us both at once
    while not os.path.exists(go):
        time.sleep(0.005)
    write_many(path, who, int(shared))
    print("done")
"""


def test_two_processes_lose_nothing(tmp_path):
    """This process and a child write to one workspace at the same time."""
    ws = Workspace(tmp_path / "ws")
    p = ws.create_project("shared", labels=["car", "person"])
    shared = p.create_task_from(annotations_for(["s0.png", "s1.png"]), name="both")
    ws.close()
    ready, go = tmp_path / "ready", tmp_path / "go"
    proc = _python(WRITER, str(tmp_path / "ws"), "b", str(ready), str(go), str(shared.id))
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        go.touch()
        write_many(str(tmp_path / "ws"), "a", shared.id)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "done" in out, err
    ws = Workspace(tmp_path / "ws")
    p = ws.project("shared")
    tasks = [t for t in p.tasks if t.name != "both"]
    assert sorted(t.name for t in tasks) == sorted(f"{w}-{k}" for w in "ab" for k in range(4))
    for t in tasks:
        assert t.size == 5 and len(t.jobs) == 3 and len(t.annotations) == 20
    c = ws.conn
    assert c.execute("SELECT count(*) FROM projects").fetchone()[0] == 9
    assert c.execute("SELECT count(*) FROM items").fetchone()[0] == 8 * 5 + 2
    # the shared task holds exactly one import's annotations (the last one), never a mix
    assert len(ws.task(shared.id).annotations) == 2 * 3
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ws.close()


@pytest.mark.parametrize("n", [3])
def test_threads_in_one_process_share_the_workspace(ws, n):
    """Requests run on worker threads with their own connections while the kernel keeps working."""
    p = ws.create_project("p", labels=["car", "person"])
    make = [p.create_task_from(annotations_for([f"{k}-{i}.png" for i in range(4)]), name=str(k)) for k in range(n)]
    reqs = [t.export(format=NAME) for t in make]
    assert len(p.tasks) == n  # the kernel is free meanwhile
    for r in reqs:
        assert os.path.exists(r.wait())
    assert transfer is not None
