"""The workspace itself: creation, persistence, labels, tasks from images, sizes, storages, tree."""
from __future__ import annotations

import sqlite3

import pytest

import annowidgets as aw
from annowidgets.workspace import Workspace
from annowidgets.workspace.migrations import WORKSPACE

from .conftest import make_images
from .helpers import annotations_for


def test_lazy_export_from_package(tmp_path):
    ws = aw.Workspace(tmp_path / "w")
    assert isinstance(ws, Workspace)
    ws.close()


def test_database_is_wal_and_versioned(ws):
    assert ws.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ws.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert ws.conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == len(WORKSPACE)


def test_newer_schema_is_refused(tmp_path):
    ws = Workspace(tmp_path / "w")
    ws.close()
    c = sqlite3.connect(tmp_path / "w" / "workspace.db")
    c.execute("INSERT INTO schema_version VALUES (99, 'now')")
    c.commit()
    c.close()
    with pytest.raises(RuntimeError, match="newer"):
        Workspace(tmp_path / "w")


def test_project_labels_and_persistence(tmp_path, images):
    ws = Workspace(tmp_path / "w")
    p = ws.create_project("cars", labels=["car", {"name": "person", "color": "#112233", "type": "rectangle",
                                                 "attributes": [{"name": "age", "input_type": "number",
                                                                 "values": ["0", "120", "1"]}]}])
    t = p.create_task("day-1", media=images, subset="train", segment_size=4, overlap=1)
    ws.close()
    ws = Workspace(tmp_path / "w")  # a new kernel sees the same
    (p2,) = ws.projects
    assert p2.name == "cars"
    labels = p2.labels.set_index("name")
    assert list(labels.index) == ["car", "person"]
    assert labels.loc["person", "color"] == "#112233" and labels.loc["person", "type"] == "rectangle"
    assert labels.loc["person", "attributes"][0]["name"] == "age"
    assert labels.loc["car", "color"].startswith("#")
    (t2,) = p2.tasks
    assert t2.id == t.id and t2.subset == "train" and t2.size == 10 and t2.mode == "annotation"
    assert [(j.start, j.stop) for j in t2.jobs] == [(0, 3), (3, 6), (6, 9)]
    ws.close()


def test_duplicate_labels_refused(ws):
    with pytest.raises(ValueError, match="duplicate"):
        ws.create_project("p", labels=["a", "a"])
    p = ws.create_project("p", labels=["a"])
    with pytest.raises(ValueError, match="already has"):
        p.add_labels(["a"])
    p.add_labels(["b"])
    assert list(p.labels["name"]) == ["a", "b"]


def test_sizes_are_read_lazily_and_cached(ws, images):
    p = ws.create_project("p", labels=["car"])
    t = p.create_task("t", media=sorted(images.glob("*.png")))
    raw = ws.conn.execute("SELECT count(*) FROM items WHERE width IS NULL").fetchone()[0]
    assert raw == 10  # nothing read at creation
    items = t.items
    assert items["width"].tolist() == [32] * 10 and items["height"].tolist() == [24] * 10
    assert ws.conn.execute("SELECT count(*) FROM items WHERE width IS NULL").fetchone()[0] == 0
    assert items["name"].tolist() == [f"img{i:03d}.png" for i in range(10)]


def test_task_names_keep_subfolders_and_copy_media(ws, tmp_path):
    make_images(tmp_path / "m" / "a", 2)
    make_images(tmp_path / "m" / "b", 2)
    p = ws.create_project("p", labels=["car"])
    t = p.create_task("t", media=tmp_path / "m", copy=True)
    items = t.items
    assert items["name"].tolist() == ["a/img000.png", "a/img001.png", "b/img000.png", "b/img001.png"]
    assert all(m.startswith(ws.path) for m in items["media"])
    assert t.frame(3).size == (32, 24)


def test_missing_media_is_an_error(ws, tmp_path):
    p = ws.create_project("p")
    with pytest.raises(FileNotFoundError):
        p.create_task("t", media=[tmp_path / "nope.png"])
    assert p.tasks == []


def test_create_project_and_task_from_dataset(ws, images):
    ds = annotations_for([f"img{i:03d}.png" for i in range(4)])
    ds.items["subset"] = ["train", "train", "val", "val"]
    ds.items["media"] = [str(images / n) for n in ds.items["name"]]
    p = ws.create_project_from(ds, name="from-ds", segment_size=1)
    assert sorted(t.subset for t in p.tasks) == ["train", "val"]
    assert sorted(p.labels["name"]) == ["car", "person"]
    for t in p.tasks:
        assert t.size == 2 and len(t.jobs) == 2
        assert len(t.annotations) == 6
    t = p.create_task_from(ds, name="all", subset="extra")
    assert t.size == 4 and len(t.annotations) == 12 and t.subset == "extra"
    a = t.annotations
    points = a[a["type"] == "points"]
    assert points["parent_id"].isin(a["ann_id"]).all()  # parents renumbered with their children


def test_tree_counts(ws, images):
    ds = annotations_for([f"img{i:03d}.png" for i in range(10)], prediction_every=4)
    p = ws.create_project("p", labels=["car", "person"])
    t = p.create_task("t", media=images, segment_size=5, overlap=2)
    from annowidgets.workspace import transfer

    transfer.import_annotations(ws, "task", t.id, ds)
    (proj,) = ws.tree()
    assert proj["name"] == "p" and proj["labels"] == 2
    (task,) = proj["tasks"]
    assert task["items"] == 10 and task["labels"] == 2
    assert task["annotations"] == {"annotation": 22, "prediction": 8}
    assert [(j["start"], j["stop"], j["items"]) for j in task["jobs"]] == [(0, 4, 5), (3, 7, 5), (6, 9, 4)]
    assert sum(j["annotations"].get("annotation", 0) + j["annotations"].get("prediction", 0)
               for j in task["jobs"]) == 30 + 2 * 3 * 2  # frames 3,4 and 6,7 are counted by two jobs


def test_storages(ws):
    s = ws.attach_storage("bucket", "memory://bucket/", anon=True)
    assert s.url == "memory://bucket" and s.options == {"anon": True}
    assert ws.options_for("memory://bucket/x/y.zip") == {"anon": True}
    assert ws.options_for("memory://other/y.zip") == {}
    p = ws.create_project("p", target_storage="bucket")
    assert p.target_storage == s and p.source_storage is None
    p.set_storage(source="bucket", target=None)
    assert p.source_storage == s and p.target_storage is None
    with pytest.raises(KeyError, match="attach_storage"):
        ws.storage("nope")


@pytest.fixture
def http_images(images):
    """The images served over HTTP on 127.0.0.1, counting the requests the server gets."""
    import functools
    import http.server
    import threading

    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(images)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_task_from_urls_reads_sizes_lazily_once(ws, http_images, monkeypatch):
    pytest.importorskip("aiohttp")  # fsspec's HTTP backend
    base, hits = http_images
    urls = [f"{base}/img{i:03d}.png" for i in range(10)]
    t = ws.create_project("p", labels=["car"]).create_task("web", media=urls, segment_size=4)
    assert ws.conn.execute("SELECT count(*) FROM items WHERE width IS NULL").fetchone()[0] == 10
    assert len(t.annotations) == 0 and len(t.jobs) == 3  # nothing needed the sizes yet
    items = t.items  # now the headers are read, in parallel, and the sizes stored
    assert items["width"].tolist() == [32] * 10 and items["media"].tolist() == urls
    assert items["name"].tolist() == [f"img{i:03d}.png" for i in range(10)]
    n = len(hits)
    from annowidgets.workspace import media

    def no_network(*a, **k):
        raise AssertionError("sizes should come from the database now")

    monkeypatch.setattr(media, "image_size", no_network)
    assert t.items["height"].tolist() == [24] * 10 and t.dataset().items["width"].tolist() == [32] * 10
    assert len(hits) == n  # cached: the server saw no further request
    assert t.frame(3).size == (32, 24)  # pixels are fetched on demand


def test_migrations_upgrade_an_existing_database_in_place(tmp_path, monkeypatch):
    """A workspace made by an older annowidgets gets the new migrations, data kept."""
    from annowidgets.workspace import db, migrations

    ws = Workspace(tmp_path / "w")
    ws.create_project("old", labels=["car"])
    ws.close()
    extra = "ALTER TABLE projects ADD COLUMN description TEXT NOT NULL DEFAULT ''"
    monkeypatch.setattr(migrations, "WORKSPACE", [*WORKSPACE, extra])
    from annowidgets.workspace import model

    monkeypatch.setattr(model, "WORKSPACE", migrations.WORKSPACE)
    ws = Workspace(tmp_path / "w")
    try:
        assert ws.conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == len(WORKSPACE) + 1
        assert ws.conn.execute("SELECT name, description FROM projects").fetchall() == [("old", "")]
        assert list(ws.project("old").labels["name"]) == ["car"]
        assert db.migrate(ws.conn, migrations.WORKSPACE) == len(WORKSPACE) + 1  # idempotent
    finally:
        ws.close()


def test_orphaned_media_copies_are_cleaned(tmp_path, images):
    """Media copied by an import that died (the rows rolled back) is removed on a later open,
    once old enough not to belong to an import still running elsewhere; deleting a project
    removes the media copied for it."""
    import os
    import time

    ws = Workspace(tmp_path / "w")
    p = ws.create_project("p", labels=["car"])
    kept = p.create_task("t", media=images, copy=True)
    other = ws.create_project("q").create_task("u", media=images, copy=True)
    media = tmp_path / "w" / "media"
    orphan_old, orphan_new = media / "dead-import", media / "running-import"
    for d in (orphan_old, orphan_new):
        d.mkdir()
        (d / "x.png").write_bytes(b"x")
    old = time.time() - 2 * 24 * 3600
    for d in (orphan_old, *media.iterdir()):
        os.utime(d, (old, old))
    os.utime(orphan_new, None)
    ws.close()
    ws = Workspace(tmp_path / "w")
    assert not orphan_old.exists() and orphan_new.exists()
    assert ws.task(kept.id).frame(0).size == (32, 24)  # referenced copies stay, however old
    other_dir = os.path.dirname(ws.task(other.id).items["media"].iloc[0])
    assert os.path.isdir(other_dir)
    ws.project("q").delete()  # its copied media goes with it
    kept_dir = os.path.dirname(ws.task(kept.id).items["media"].iloc[0])
    assert sorted(d.name for d in media.iterdir()) == sorted([orphan_new.name, os.path.basename(kept_dir)])
    ws.close()
