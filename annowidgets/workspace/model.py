"""The workspace and thin handles on its projects, tasks, jobs and storages.

A handle holds an id; every property reads the database, so two kernels on one workspace
always see each other's changes. Long operations (export, import) return a
:class:`~annowidgets.workspace.requests.Request` running in the background.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import orjson
import pandas as pd

from ..core import schema
from ..core.dataset import Dataset
from . import db, store, transfer
from . import media as _media
from .migrations import WORKSPACE
from .requests import DEFAULT_TTL, Request, RequestStore, Worker
from .transfer import PALETTE


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def labels_frame(labels: Iterable[str | dict] | pd.DataFrame | None, start: int = 0) -> pd.DataFrame:
    """Labels given as names or dicts (name, color, type, attributes, parent, svg) as the labels table."""
    if labels is None:
        return schema.empty("labels")
    if isinstance(labels, pd.DataFrame):
        df = schema.conform("labels", labels)
    else:
        rows = [{"name": x} if isinstance(x, str) else dict(x) for x in labels]
        for r in rows:
            if not r.get("name"):
                raise ValueError(f"a label needs a name: {r!r}")
            if r.get("attributes") is not None:
                r["attributes"] = [_attribute(a) for a in r["attributes"]]
        df = schema.conform("labels", pd.DataFrame(rows))
    missing = df["color"].isna()
    df.loc[missing, "color"] = [PALETTE[(start + i) % len(PALETTE)] for i in range(int(missing.sum()))]
    dup = df["name"][df["parent"].isna()].duplicated()
    if dup.any():
        raise ValueError(f"duplicate label names: {sorted(set(df['name'][df['parent'].isna()][dup]))}")
    return df


def _attribute(a: str | dict) -> dict:
    if isinstance(a, str):
        a = {"name": a}
    out = {"name": a["name"], "input_type": a.get("input_type", "text"), "values": list(a.get("values", [])),
           "default": a.get("default", a.get("default_value")), "mutable": bool(a.get("mutable", False))}
    if out["default"] is None:
        out["default"] = out["values"][0] if out["values"] else ""
    return out


class Storage:
    """An attached storage: any fsspec URL plus its options (endpoint, credentials…)."""

    def __init__(self, ws: Workspace, ident: int):
        self._ws, self.id = ws, ident

    def _row(self):
        row = self._ws.conn.execute("SELECT name, url, options FROM storages WHERE id = ?", (self.id,)).fetchone()
        if row is None:
            raise KeyError(f"storage {self.id} does not exist")
        return row

    @property
    def name(self) -> str:
        return self._row()[0]

    @property
    def url(self) -> str:
        return self._row()[1]

    @property
    def options(self) -> dict:
        raw = self._row()[2]
        return orjson.loads(raw) if raw else {}

    def __repr__(self) -> str:
        return f"<Storage {self.id} {self.name!r} {self.url}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Storage) and other.id == self.id


class _Node:
    """What jobs, tasks and projects share: export, import, their Dataset."""

    level = ""
    table = ""

    def __init__(self, ws: Workspace, ident: int):
        self._ws, self.id = ws, int(ident)
        if ws.conn.execute(f"SELECT 1 FROM {self.table} WHERE id = ?", (self.id,)).fetchone() is None:
            raise KeyError(f"{self.level} {ident} does not exist")

    def _get(self, col: str):
        return self._ws.conn.execute(f"SELECT {col} FROM {self.table} WHERE id = ?", (self.id,)).fetchone()[0]

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.id == self.id and other._ws is self._ws

    def __hash__(self) -> int:
        return hash((self.level, self.id))

    def dataset(self) -> Dataset:
        """This scope's items, annotations (every source), labels, tasks and jobs as a Dataset."""
        return transfer.scope_dataset(self._ws, self.level, self.id)

    @property
    def annotations(self) -> pd.DataFrame:
        """This scope's annotations (every source), frames numbered as its export numbers them."""
        return transfer.scope_annotations(self._ws, self.level, self.id)

    @property
    def items(self) -> pd.DataFrame:
        """This scope's items; image sizes still unknown are read from the headers and cached."""
        return transfer.scope_items(self._ws, self.level, self.id)

    def export(self, format: str, save_images: bool = False, name: str | None = None, target: str | None = None,
               storage: str | None = None) -> Request:
        """Export annotations (or the dataset, with ``save_images``) in the background.

        ``target``: a folder or archive URL (any fsspec URL), or ``"local"`` for
        ``<workspace>/exports`` whatever the project's default; ``storage``: the name of an
        attached storage (``target`` is then a path inside it); neither: the project's
        default target storage, else ``<workspace>/exports``. ``name``: the archive name,
        else CVAT's default ``<level>_<id>_<annotations|dataset>_<timestamp>_<format>.zip``.
        """
        from ..formats import registry

        spec = registry.get(format)
        op = "export:dataset" if save_images else "export:annotations"
        location, _, owned = transfer.export_location(self._ws, self._ws._project_of(self.level, self.id), target,
                                                      storage)
        def run(progress):
            result = transfer.export_scope(self._ws, self.level, self.id, spec.name, save_images, name, target,
                                           storage, progress)
            # what the format could not carry goes into the request's message (a LossWarning
            # raised in a background thread would never reach the notebook)
            return str(result), None, "exported" + (f"; {result.loss.summary()}" if result.loss else "")

        return self._ws._submit(op, self.level, self.id, spec.name, location, owned, run)

    def import_annotations(self, source: str, format: str | None = None, storage: str | None = None,
                           **options) -> Request:
        """Replace this scope's annotations with those in ``source`` (as CVAT does), in the background.

        Frames are matched by name, then id, then frame number; unmatched annotated frames or
        labels the project lacks fail the request and change nothing.
        """
        ws, level, ident = self._ws, self.level, self.id
        project_id = ws._project_of(level, ident)

        def run(progress):
            progress(0.0, "reading")
            ds = transfer.read_input(ws, project_id, source, format, storage, options)
            progress(0.2, f"read {len(ds.annotations)} annotations")
            n = transfer.import_annotations(ws, level, ident, ds, lambda f, m="": progress(0.2 + 0.8 * f, m))
            return None, ident, (f"imported {n} annotations on {len(ds.items)} items{_detected(format, ds)}"
                                 f"{_read_losses(ds)}")

        return ws._submit("import:annotations", level, ident, format, str(source), False, run)


def _read_losses(ds: Dataset) -> str:
    """'; on reading: …' naming what the reader could not take in (the request's message is where
    a background import reports; a warning in the worker thread would never reach the notebook)."""
    if not ds.loss:
        return ""
    return "; on reading: " + "; ".join(f"{e.count} {e.table} row(s): {e.reason}" for e in ds.loss.entries)


def _detected(format: str | None, ds: Dataset) -> str:
    """' (detected: <format>)' when the request left the format to detection, so it is on record."""
    return f" (detected: {ds.info.get('format')})" if not format and ds.info.get("format") else ""


class Job(_Node):
    """A segment of a task: frames ``start..stop`` (inclusive, relative to the task)."""

    level, table = "job", "jobs"

    @property
    def task(self) -> Task:
        return Task(self._ws, self._get("task_id"))

    @property
    def start(self) -> int:
        return self._get("start")

    @property
    def stop(self) -> int:
        return self._get("stop")

    @property
    def frames(self) -> range:
        return range(self.start, self.stop + 1)

    def __repr__(self) -> str:
        return f"<Job {self.id} of task {self._get('task_id')}: frames {self.start}–{self.stop}>"


class Task(_Node):
    """A task: media split into jobs by segment size and overlap."""

    level, table = "task", "tasks"

    name = property(lambda self: self._get("name"))
    subset = property(lambda self: self._get("subset"))
    mode = property(lambda self: self._get("mode"))
    size = property(lambda self: self._get("size"))
    segment_size = property(lambda self: self._get("segment_size"))
    overlap = property(lambda self: self._get("overlap"))

    @property
    def project(self) -> Project:
        return Project(self._ws, self._get("project_id"))

    @property
    def jobs(self) -> list[Job]:
        rows = self._ws.conn.execute("SELECT id FROM jobs WHERE task_id = ? ORDER BY start", (self.id,)).fetchall()
        return [Job(self._ws, r[0]) for r in rows]

    def frame(self, n: int):
        """Frame ``n`` as a PIL image (video frames are decoded on demand)."""
        row = self._ws.conn.execute('SELECT media, media_frame, kind FROM items WHERE task_id = ? AND "frame" = ?',
                                    (self.id, n)).fetchone()
        if row is None:
            raise IndexError(f"task {self.id} has no frame {n}")
        url, mframe, kind = row
        if url is None:
            raise FileNotFoundError(f"task {self.id} frame {n} has no media")
        opts = self._ws.open_options(url)
        if kind == "video_frame":
            return _media.video_frame(url, mframe, opts)
        from PIL import Image

        with _media.open_url(url, "rb", **opts) as f:
            im = Image.open(f)
            im.load()
            return im

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.name!r} subset={self.subset!r} {self.size} frames, {len(self.jobs)} jobs>"


class Project(_Node):
    """A project: labels, tasks, default source and target storages."""

    level, table = "project", "projects"

    name = property(lambda self: self._get("name"))

    @property
    def labels(self) -> pd.DataFrame:
        return store.read_labels(self._ws.conn, self.id)

    def add_labels(self, labels: Iterable[str | dict]) -> None:
        with db.transaction(self._ws.conn) as conn:
            n = conn.execute("SELECT count(*) FROM labels WHERE project_id = ?", (self.id,)).fetchone()[0]
            df = labels_frame(labels, start=n)
            have = set(store.read_labels(conn, self.id)["name"])
            clash = sorted(set(df["name"]) & have)
            if clash:
                raise ValueError(f"project {self.id} already has the label(s) {clash}")
            store.insert_labels(conn, self.id, df)

    @property
    def tasks(self) -> list[Task]:
        rows = self._ws.conn.execute("SELECT id FROM tasks WHERE project_id = ? ORDER BY id", (self.id,)).fetchall()
        return [Task(self._ws, r[0]) for r in rows]

    def task(self, name_or_id: str | int) -> Task:
        col = "id" if isinstance(name_or_id, int) else "name"
        row = self._ws.conn.execute(f"SELECT id FROM tasks WHERE project_id = ? AND {col} = ? ORDER BY id",
                                    (self.id, name_or_id)).fetchone()
        if row is None:
            raise KeyError(f"project {self.id} has no task {name_or_id!r}")
        return Task(self._ws, row[0])

    # -- storages -------------------------------------------------------------------------
    def _storage(self, col: str) -> Storage | None:
        sid = self._get(col)
        return None if sid is None else Storage(self._ws, sid)

    @property
    def source_storage(self) -> Storage | None:
        """Where imports given as a bare file name are read from (None: local files)."""
        return self._storage("source_storage_id")

    @property
    def target_storage(self) -> Storage | None:
        """Where exports without a target go (None: ``<workspace>/exports``)."""
        return self._storage("target_storage_id")

    def set_storage(self, source: str | None | bool = False, target: str | None | bool = False) -> None:
        """Pick attached storages (by name) as default source/target; None resets to local."""
        with db.transaction(self._ws.conn) as conn:
            for col, val in (("source_storage_id", source), ("target_storage_id", target)):
                if val is False:
                    continue
                sid = None if val is None else self._ws.storage(val).id
                conn.execute(f"UPDATE projects SET {col} = ? WHERE id = ?", (sid, self.id))

    # -- creating tasks ---------------------------------------------------------------------
    def create_task(self, name: str, media, subset: str | None = None, segment_size: int | None = None,
                    overlap: int | None = None, copy: bool = False, start_frame: int = 0,
                    stop_frame: int | None = None, frame_step: int = 1,
                    storage_options: dict | None = None) -> Task:
        """A task from image files, folders or URLs (sizes read lazily), from one video file, or from
        point clouds (``.pcd``/``.bin``; camera images in CVAT's ``related_images/<name>_pcd/``).

        A video gives an ``interpolation`` task whose frames are decoded on demand
        (``start_frame``, ``stop_frame``, ``frame_step`` pick them); images give an
        ``annotation`` task. ``copy`` copies the media into the workspace folder.
        """
        ws = self._ws
        opts = storage_options or ws.options_for(str(media if isinstance(media, (str, os.PathLike)) else
                                                     next(iter(media), "")))
        urls = _media.expand(media, opts)
        if not urls:
            raise ValueError(f"no images, videos or point clouds found in {media!r}")
        videos = [u for u in urls if _media.is_video(u)]
        clouds = sum(_media.is_point_cloud(u) for u in urls)
        if clouds and clouds != len(urls):
            raise ValueError("a task holds point clouds or images/videos, not both")
        related = _media.related_images(urls, opts) if clouds else None
        folder = None
        if copy:
            folder = os.path.join(ws.path, "media", uuid.uuid4().hex)
            flat = _copy_all(urls + [r for rs in related or () for r in rs], folder, opts)
            urls, rest = flat[:len(urls)], iter(flat[len(urls):])
            related = [[next(rest) for _ in rs] for rs in related] if related else None
        try:
            if videos:
                if len(urls) != 1:
                    raise ValueError("a task holds either one video or images, not both or several videos")
                info = _media.video_info(urls[0], opts)
                stop = info["frames"] - 1 if stop_frame is None else min(stop_frame, info["frames"] - 1)
                mframes = list(range(start_frame, stop + 1, frame_step))
                if not mframes:
                    raise ValueError(f"{urls[0]}: no frames in {start_frame}..{stop} (the video has "
                                     f"{info['frames']} frames)")
                stop = mframes[-1]  # CVAT's stop_frame is the last frame taken
                # CVAT names video frames after their number in the video: frame_%06d
                items = pd.DataFrame({"name": [f"frame_{i:06d}" for i in mframes], "media": urls[0],
                                      "media_frame": mframes, "width": info["width"], "height": info["height"],
                                      "kind": "video_frame"})
                mode, filt = "interpolation", (f"step={frame_step}" if frame_step != 1 else "")
            else:
                common = _media.common_folder(urls)
                items = pd.DataFrame({"name": [_media.display_name(u, common) for u in urls], "media": urls,
                                      "kind": "point_cloud" if clouds else "image"})
                if related is not None:
                    items["extra"] = [{"related_images": r} if r else None for r in related]
                mode, filt, stop, start_frame = "annotation", "", len(urls) - 1, 0
            items["frame"] = range(len(items))
            items = schema.conform("items", items)
            if "media_frame" not in items:
                items["media_frame"] = pd.NA
            t = _now()
            with db.transaction(ws.conn) as conn:
                task_id = conn.execute(
                    "INSERT INTO tasks (project_id, name, subset, mode, size, start_frame, stop_frame, frame_filter, "
                    "segment_size, overlap, media_dir, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (self.id, name, subset or "", mode, len(items), start_frame, stop, filt, segment_size,
                     _overlap(len(items), segment_size, overlap, mode), folder, t, t)).lastrowid
                store.insert_items(conn, task_id, items)
                transfer.insert_jobs(conn, task_id, len(items), segment_size, overlap, mode)
        except BaseException:
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return Task(ws, task_id)

    def create_task_from(self, dataset: Dataset, name: str | None = None, subset: str | None = None,
                         segment_size: int | None = None, overlap: int | None = None,
                         copy_media: bool | None = None) -> Task:
        """One task holding every item and annotation of a loaded Dataset."""
        ws = self._ws
        ds = transfer._with_item_ids(dataset)
        urls, folder = transfer.stage_media(ws, ds, copy_media)
        try:
            ds = transfer.with_related_images(ws, ds, folder)
            with db.transaction(ws.conn) as conn:
                sub = subset if subset is not None else (ds.items["subset"].iloc[0]
                                                         if ds.items["subset"].nunique() == 1 else "")
                order = ds.items.sort_values(["subset", "frame", "item_id"], kind="stable").index
                ids = transfer.add_tasks(ws, conn, self.id, ds, [(name or ds.info.get("name") or "task", sub, order)],
                                         urls, segment_size, overlap, folder)
        except BaseException:
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return Task(ws, ids[0])

    def import_dataset(self, source: str, format: str | None = None, storage: str | None = None,
                       copy_media: bool | None = None, segment_size: int | None = None, overlap: int | None = None,
                       **options) -> Request:
        """Import a dataset as new tasks, one per subset, in the background (labels created or checked)."""
        ws, ident = self._ws, self.id

        def run(progress):
            progress(0.0, "reading")
            ds = transfer.read_input(ws, ident, source, format, storage, options)
            progress(0.2, f"read {len(ds.items)} items, {len(ds.annotations)} annotations")
            ids = transfer.import_dataset(ws, ident, ds, copy_media, segment_size, overlap,
                                          lambda f, m="": progress(0.2 + 0.8 * f, m))
            return None, ident, (f"created task(s) {ids} with {len(ds.annotations)} annotations"
                                 f"{_detected(format, ds)}{_read_losses(ds)}")

        return ws._submit("import:dataset", "project", ident, format, str(source), False, run)

    def delete(self) -> None:
        """Remove the project, its tasks, jobs and annotations, and the media copied in for them."""
        with db.transaction(self._ws.conn) as conn:
            dirs = [r[0] for r in conn.execute("SELECT DISTINCT media_dir FROM tasks WHERE project_id = ? AND "
                                               "media_dir IS NOT NULL", (self.id,)).fetchall()]
            conn.execute("DELETE FROM projects WHERE id = ?", (self.id,))
            still = {r[0] for r in conn.execute("SELECT DISTINCT media_dir FROM tasks WHERE media_dir IS NOT NULL")}
        for d in dirs:
            if d not in still and _inside(d, os.path.join(self._ws.path, "media")):
                shutil.rmtree(d, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<Project {self.id} {self.name!r}: {len(self.labels)} labels, {len(self.tasks)} tasks>"


def _overlap(size: int, segment_size: int | None, overlap: int | None, mode: str) -> int:
    from .segments import effective

    return effective(size, segment_size, overlap, mode)[1]


def _inside(path: str, folder: str) -> bool:
    return os.path.abspath(path).startswith(os.path.abspath(folder) + os.sep)


def _copy_all(urls: list[str], folder: str, opts: dict) -> list[str]:
    out = []
    common = _media.common_folder(urls)
    try:
        for u in urls:
            dst = os.path.join(folder, _media.display_name(u, common))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with _media.open_url(u, "rb", **opts) as src, open(dst, "wb") as f:
                shutil.copyfileobj(src, f, 1 << 20)
            out.append(dst)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return out


class Workspace:
    """A folder holding ``workspace.db`` (projects, labels, tasks, jobs, items, annotations),
    ``requests.db``, copied media (``media/``) and default exports (``exports/``).

    Safe for several kernels at once: SQLite in WAL mode, a busy timeout, and writes in
    ``BEGIN IMMEDIATE`` transactions. ``result_ttl``: how long finished requests and their
    results in ``exports/`` are kept (24 h by default, as CVAT).
    """

    def __init__(self, path: str | os.PathLike, result_ttl: _dt.timedelta | float = DEFAULT_TTL, workers: int = 2):
        self.path = os.path.abspath(os.fspath(path))
        os.makedirs(self.path, exist_ok=True)
        self.result_ttl = result_ttl if isinstance(result_ttl, _dt.timedelta) else _dt.timedelta(seconds=result_ttl)
        self._local = threading.local()
        self._conns: list = []
        self._lock = threading.Lock()
        db.migrate(self.conn, WORKSPACE)
        self._requests = RequestStore(os.path.join(self.path, "requests.db"))
        self._requests.recover(self.result_ttl)
        self.clean_media()
        self._worker = Worker(self._requests, self.result_ttl, threads=workers)

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def conn(self):
        """This thread's connection to ``workspace.db``."""
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = db.connect(os.path.join(self.path, "workspace.db"))
            with self._lock:
                self._conns.append(c)
        return c

    def close(self, wait: bool = True) -> None:
        """Finish (or with ``wait=False`` abandon) queued requests and close every connection."""
        self._worker.shutdown(wait=wait)
        with self._lock:
            for c in self._conns:
                c.close()
            self._conns.clear()
        self._local = threading.local()
        self._requests.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _submit(self, operation, level, ident, format, location, owned, fn) -> Request:
        rid = self._requests.create(operation, level, ident, format, location, owned)
        self._worker.submit(rid, fn)
        return Request(self, rid)

    def _project_of(self, level: str, ident: int) -> int:
        if level == "project":
            return int(ident)
        sql = {"task": "SELECT project_id FROM tasks WHERE id = ?",
               "job": "SELECT t.project_id FROM jobs j JOIN tasks t ON t.id = j.task_id WHERE j.id = ?"}[level]
        row = self.conn.execute(sql, (ident,)).fetchone()
        if row is None:
            raise KeyError(f"{level} {ident} does not exist")
        return row[0]

    def _updated(self, level: str, ident: int) -> _dt.datetime:
        table = {"project": "projects", "task": "tasks", "job": "jobs"}[level]
        t = self.conn.execute(f"SELECT updated FROM {table} WHERE id = ?", (ident,)).fetchone()[0]
        return _dt.datetime.fromisoformat(t).astimezone(_dt.timezone.utc).replace(tzinfo=None)

    def open_options(self, url: str) -> dict:
        """Options to open ``url`` with fsspec; for a chained URL (``zip://m::s3://b/a.zip``)
        the options of its outer storage, keyed by that storage's protocol."""
        if "::" in url:
            outer = url.rsplit("::", 1)[1]
            opts = self.options_for(outer)
            return {outer.split("://", 1)[0] if "://" in outer else "file": opts} if opts else {}
        return self.options_for(url)

    def options_for(self, url: str) -> dict:
        """Storage options of the attached storage ``url`` lies in (longest URL prefix), else {}."""
        rows = self.conn.execute("SELECT url, options FROM storages").fetchall()
        best, opts = -1, {}
        for u, o in rows:
            base = u.rstrip("/")
            if (url == base or url.startswith(base + "/")) and len(base) > best:
                best, opts = len(base), (orjson.loads(o) if o else {})
        return opts

    def clean_media(self, older_than: _dt.timedelta = _dt.timedelta(hours=24)) -> list[str]:
        """Delete folders of ``media/`` that no task refers to and that are older than
        ``older_than``: media copied by an import that failed or whose process was killed
        (the database rolled back; the files cannot be). The age keeps the copies of an import
        still running in another kernel. Runs when the workspace is opened."""
        root = os.path.join(self.path, "media")
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        # by folder name (a uuid), not full path: a workspace moved elsewhere must not lose its media
        used = {os.path.basename(os.path.normpath(r[0])) for r in
                self.conn.execute("SELECT DISTINCT media_dir FROM tasks WHERE media_dir IS NOT NULL")}
        limit = _dt.datetime.now().timestamp() - older_than.total_seconds()
        gone = []
        for name in names:
            path = os.path.join(root, name)
            if name in used or not os.path.isdir(path) or os.path.getmtime(path) > limit:
                continue
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
        return gone

    # -- storages ------------------------------------------------------------------------------
    def attach_storage(self, name: str, url: str, **options: Any) -> Storage:
        """Attach a cloud (or any fsspec) storage under ``name``; ``options`` go to fsspec
        (e.g. ``key``, ``secret``, ``client_kwargs={"endpoint_url": …}`` for S3). They are
        stored in the workspace database in clear text, so prefer credentials from the
        environment where you can."""
        with db.transaction(self.conn) as conn:
            sid = conn.execute("INSERT INTO storages (name, url, options, created) VALUES (?, ?, ?, ?)",
                               (name, url.rstrip("/") or url, orjson.dumps(options), _now())).lastrowid
        return Storage(self, sid)

    def storage(self, name_or_id: str | int) -> Storage:
        col = "id" if isinstance(name_or_id, int) else "name"
        row = self.conn.execute(f"SELECT id FROM storages WHERE {col} = ?", (name_or_id,)).fetchone()
        if row is None:
            raise KeyError(f"no attached storage {name_or_id!r}; ws.attach_storage(name, url, ...) adds one")
        return Storage(self, row[0])

    @property
    def storages(self) -> list[Storage]:
        return [Storage(self, r[0]) for r in self.conn.execute("SELECT id FROM storages ORDER BY id").fetchall()]

    # -- projects ----------------------------------------------------------------------------------
    def create_project(self, name: str, labels: Iterable[str | dict] | pd.DataFrame | None = None,
                       source_storage: str | None = None, target_storage: str | None = None) -> Project:
        """A project with ``labels`` (names, or dicts with name/color/type/attributes)."""
        df = labels_frame(labels)
        src = None if source_storage is None else self.storage(source_storage).id
        dst = None if target_storage is None else self.storage(target_storage).id
        t = _now()
        with db.transaction(self.conn) as conn:
            pid = conn.execute("INSERT INTO projects (name, created, updated, source_storage_id, target_storage_id) "
                               "VALUES (?, ?, ?, ?, ?)", (name, t, t, src, dst)).lastrowid
            store.insert_labels(conn, pid, df)
        return Project(self, pid)

    def create_project_from(self, dataset: Dataset, name: str | None = None, copy_media: bool | None = None,
                            segment_size: int | None = None, overlap: int | None = None) -> Project:
        """A project from a loaded Dataset: its labels, and one task per subset."""
        ds = transfer._with_item_ids(dataset)
        urls, folder = transfer.stage_media(self, ds, copy_media)
        t = _now()
        try:
            ds = transfer.with_related_images(self, ds, folder)
            with db.transaction(self.conn) as conn:
                pid = conn.execute("INSERT INTO projects (name, created, updated) VALUES (?, ?, ?)",
                                   (name or ds.info.get("project_name") or ds.info.get("name") or "project", t, t)
                                   ).lastrowid
                if len(ds.labels):
                    store.insert_labels(conn, pid, labels_frame(ds.labels.drop_duplicates("name")))
                groups = [(str(s), str(s), idx) for s, idx in ds.items.groupby("subset", sort=False).groups.items()]
                transfer.add_tasks(self, conn, pid, ds, groups, urls, segment_size, overlap, folder)
        except BaseException:
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return Project(self, pid)

    @property
    def projects(self) -> list[Project]:
        return [Project(self, r[0]) for r in self.conn.execute("SELECT id FROM projects ORDER BY id").fetchall()]

    def project(self, name_or_id: str | int) -> Project:
        col = "id" if isinstance(name_or_id, int) else "name"
        row = self.conn.execute(f"SELECT id FROM projects WHERE {col} = ? ORDER BY id", (name_or_id,)).fetchone()
        if row is None:
            raise KeyError(f"no project {name_or_id!r}")
        return Project(self, row[0])

    def task(self, ident: int) -> Task:
        return Task(self, ident)

    def job(self, ident: int) -> Job:
        return Job(self, ident)

    # -- requests ---------------------------------------------------------------------------------
    def requests(self) -> pd.DataFrame:
        """Every request kept (newest first): id, operation, level, target_id, format, location,
        status, progress, message, created, started, finished, expiry, result, result_id.
        Expired requests are removed first, with their results in ``exports/``."""
        self.expire()
        return self._requests.frame()

    def request(self, rid: str) -> Request:
        self._requests.get(rid)
        return Request(self, rid)

    def expire(self, at: _dt.datetime | None = None) -> int:
        """Drop requests past their expiry; delete their results kept in ``exports/``."""
        gone = self._requests.expired(at)
        exports = os.path.join(self.path, "exports") + os.sep
        for r in gone:
            res = r["result"]
            if r["owned_by_workspace"] and res and os.path.abspath(res).startswith(exports):
                try:
                    os.remove(res)
                except FileNotFoundError:
                    pass
        return len(gone)

    # -- the hierarchy browser ---------------------------------------------------------------------
    def tree(self) -> list[dict]:
        """Projects -> tasks -> jobs with counts, for the hierarchy browser (one query per level).

        ``[{"id", "name", "labels": n, "tasks": [{"id", "name", "subset", "mode", "size", "items",
        "annotations": {source: n}, "labels": n_used, "jobs": [{"id", "start", "stop", "items",
        "annotations": {source: n}}]}]}]``; ``annotations`` maps each source present
        ("annotation", "prediction") to its count; ``labels`` of a task counts the distinct
        labels its annotations use.
        """
        c = self.conn
        c.execute("BEGIN")
        try:
            projects = c.execute("SELECT p.id, p.name, (SELECT count(*) FROM labels l WHERE l.project_id = p.id) "
                                 "FROM projects p ORDER BY p.id").fetchall()
            tasks = c.execute("SELECT t.id, t.project_id, t.name, t.subset, t.mode, t.size, "
                              "(SELECT count(*) FROM items i WHERE i.task_id = t.id) FROM tasks t ORDER BY t.id"
                              ).fetchall()
            task_anns = c.execute('SELECT task_id, "source", count(*), count(DISTINCT "label") FROM annotations '
                                  'GROUP BY task_id, "source"').fetchall()
            task_labels = dict(c.execute('SELECT task_id, count(DISTINCT "label") FROM annotations GROUP BY task_id'
                                         ).fetchall())
            jobs = c.execute("SELECT id, task_id, start, stop FROM jobs ORDER BY task_id, start").fetchall()
            job_anns = c.execute(
                'SELECT j.id, a."source", count(*) FROM jobs j JOIN items i ON i.task_id = j.task_id AND '
                'i."frame" BETWEEN j.start AND j.stop JOIN annotations a ON a.item_id = i.item_id '
                'GROUP BY j.id, a."source"').fetchall()
        finally:
            c.execute("COMMIT")
        t_ann: dict[int, dict] = {}
        for tid, src, n, _ in task_anns:
            t_ann.setdefault(tid, {})[src] = n
        j_ann: dict[int, dict] = {}
        for jid, src, n in job_anns:
            j_ann.setdefault(jid, {})[src] = n
        by_task: dict[int, list] = {}
        for jid, tid, a, b in jobs:
            by_task.setdefault(tid, []).append({"id": jid, "start": a, "stop": b, "items": b - a + 1,
                                                "annotations": j_ann.get(jid, {})})
        by_project: dict[int, list] = {}
        for tid, pid, name, subset, mode, size, n_items in tasks:
            by_project.setdefault(pid, []).append({
                "id": tid, "name": name, "subset": subset, "mode": mode, "size": size, "items": n_items,
                "annotations": t_ann.get(tid, {}), "labels": task_labels.get(tid, 0), "jobs": by_task.get(tid, [])})
        return [{"id": pid, "name": name, "labels": n_labels, "tasks": by_project.get(pid, [])}
                for pid, name, n_labels in projects]

    def __repr__(self) -> str:
        return f"<Workspace {self.path}: {len(self.projects)} projects>"
