"""Requests: every export and import runs in the background and is recorded, as on CVAT's
Requests page (id, operation, target, format, status, progress, message, timestamps, expiry,
result).

A :class:`Worker` (a small thread pool) runs the operation; the operation reports progress
through a callback that also checks for cancellation, so cancelling takes effect at the
next progress step (an import then rolls back, an export removes its staged archive).
Requests are rows of ``requests.db``; a request whose process died is marked failed the next
time the workspace is opened.
"""
from __future__ import annotations

import datetime as _dt
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pandas as pd

from ..core.errors import AnnowidgetsError
from . import db
from .migrations import REQUESTS

STATUSES = ("queued", "started", "finished", "failed", "cancelled")
DONE = ("finished", "failed", "cancelled")
#: How long finished results are kept (CVAT's export cache TTL default).
DEFAULT_TTL = _dt.timedelta(hours=24)
_COLUMNS = ["id", "operation", "level", "target_id", "format", "location", "status", "progress", "message",
            "created", "started", "finished", "expiry", "result", "result_id", "owned_by_workspace", "pid", "host",
            "cancel"]


class RequestFailed(AnnowidgetsError, RuntimeError):
    """The request ended in failure; the message is the request's message."""


class RequestCancelled(AnnowidgetsError, RuntimeError):
    """The request was cancelled before it finished."""


class Cancelled(BaseException):
    """Raised inside an operation at a progress step after cancel(); BaseException so that
    ``except Exception`` in a format reader cannot swallow it."""


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def iso(t: _dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RequestStore:
    """The ``requests`` table: one connection per thread on ``requests.db``."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()
        db.migrate(self.conn, REQUESTS)

    @property
    def conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = db.connect(self.path)
            with self._lock:
                self._all.append(c)
        return c

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                c.close()
            self._all.clear()
        self._local = threading.local()

    def create(self, operation: str, level: str, target_id: int, format: str | None, location: str | None,
               owned: bool = False) -> str:
        rid = str(uuid.uuid4())
        self.conn.execute(
            "INSERT INTO requests (id, operation, level, target_id, format, location, status, progress, message, "
            "created, owned_by_workspace, pid, host) VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, '', ?, ?, ?, ?)",
            (rid, operation, level, target_id, format, location, iso(now()), int(owned), os.getpid(),
             socket.gethostname()))
        return rid

    def update(self, rid: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE requests SET {sets} WHERE id = ?", (*fields.values(), rid))

    def get(self, rid: str) -> dict:
        row = self.conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM requests WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise KeyError(f"request {rid} does not exist (expired requests are removed)")
        return dict(zip(_COLUMNS, row, strict=True))

    def frame(self) -> pd.DataFrame:
        rows = self.conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM requests ORDER BY created DESC").fetchall()
        df = pd.DataFrame(rows, columns=_COLUMNS)
        for c in ("created", "started", "finished", "expiry"):
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
        df["progress"] = df["progress"].astype("float64")
        df["cancel"] = df["cancel"].astype(bool)
        df["owned_by_workspace"] = df["owned_by_workspace"].astype(bool)
        return df

    def recover(self, ttl: _dt.timedelta = DEFAULT_TTL) -> int:
        """Mark requests of processes on this host that are gone as failed; return how many."""
        host = socket.gethostname()
        rows = self.conn.execute("SELECT id, pid FROM requests WHERE status IN ('queued', 'started') AND host = ?",
                                 (host,)).fetchall()
        dead = [(rid, pid) for rid, pid in rows if pid != os.getpid() and not _alive(pid)]
        t = now()
        for rid, pid in dead:
            self.update(rid, status="failed", finished=iso(t), expiry=iso(t + ttl),
                        message=f"interrupted: process {pid} ended before the request finished; "
                                "nothing it was importing was kept")
        return len(dead)

    def expired(self, at: _dt.datetime | None = None) -> list[dict]:
        """Remove requests past their expiry and return them (so their results can be deleted)."""
        t = iso(at or now())
        rows = self.conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM requests WHERE expiry IS NOT NULL AND expiry < ?", (t,)).fetchall()
        if rows:
            self.conn.execute("DELETE FROM requests WHERE expiry IS NOT NULL AND expiry < ?", (t,))
        return [dict(zip(_COLUMNS, r, strict=True)) for r in rows]


class Progress:
    """The callback an operation gets: ``progress(fraction, message)``; raises :class:`Cancelled`.

    Writes to the database at most every ``interval`` seconds (and always on 0 and 1), so a
    tight loop of steps costs nothing.
    """

    def __init__(self, store: RequestStore, rid: str, event: threading.Event, interval: float = 0.1):
        self.store, self.rid, self.event, self.interval = store, rid, event, interval
        self._last = 0.0
        self._checked = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        t = time.monotonic()
        if self.event.is_set():
            raise Cancelled()
        if t - self._checked > self.interval:  # another kernel may have asked to cancel
            self._checked = t
            if self.store.conn.execute("SELECT cancel FROM requests WHERE id = ?", (self.rid,)).fetchone()[0]:
                self.event.set()
                raise Cancelled()
        if fraction in (0.0, 1.0) or t - self._last > self.interval:
            self._last = t
            self.store.update(self.rid, progress=float(min(max(fraction, 0.0), 1.0)), message=message)

    def part(self, lo: float, hi: float) -> Callable[[float, str], None]:
        """A callback mapping 0..1 onto ``lo..hi`` of this one (for the stages of an operation)."""
        return lambda f, m="": self(lo + (hi - lo) * min(max(f, 0.0), 1.0), m)


class Worker:
    """Runs operations in background threads and records their outcome."""

    def __init__(self, store: RequestStore, ttl: _dt.timedelta = DEFAULT_TTL, threads: int = 2):
        self.store = store
        self.ttl = ttl
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="annowidgets-request")
        self._events: dict[str, threading.Event] = {}
        self.futures: dict[str, Future] = {}

    def submit(self, rid: str, fn: Callable[[Progress], tuple[str | None, int | None, str]]) -> Future:
        """Queue ``fn(progress) -> (result, result_id, message)`` as request ``rid``."""
        event = self._events.setdefault(rid, threading.Event())
        fut = self._pool.submit(self._run, rid, fn, event)
        self.futures[rid] = fut
        return fut

    def _run(self, rid: str, fn, event: threading.Event):
        store = self.store
        if event.is_set() or store.get(rid)["status"] == "cancelled":
            return None
        store.update(rid, status="started", started=iso(now()), message="started")
        progress = Progress(store, rid, event)
        try:
            result, result_id, message = fn(progress)
        except Cancelled:
            t = now()
            store.update(rid, status="cancelled", finished=iso(t), expiry=iso(t + self.ttl),
                         message="cancelled; nothing was changed")
            return None
        except BaseException as exc:  # noqa: BLE001 - the failure is the request's outcome, shown to the user
            t = now()
            store.update(rid, status="failed", finished=iso(t), expiry=iso(t + self.ttl),
                         message=f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, Exception):
                raise
            return None
        t = now()
        store.update(rid, status="finished", progress=1.0, finished=iso(t), expiry=iso(t + self.ttl),
                     result=result, result_id=result_id, message=message or "finished")
        return result

    def cancel(self, rid: str) -> None:
        self._events.setdefault(rid, threading.Event()).set()
        self.store.update(rid, cancel=1)
        # a request still in the queue is cancelled at once; a running one at its next step
        t = now()
        self.store.conn.execute("UPDATE requests SET status = 'cancelled', finished = ?, expiry = ?, message = ? "
                                "WHERE id = ? AND status = 'queued'",
                                (iso(t), iso(t + self.ttl), "cancelled before it started", rid))

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class Request:
    """A handle on one export or import; every property reads the database afresh.

    ``wait()`` blocks until the request ends and returns its result (the archive path/URL
    of an export, the imported scope of an import), raising :class:`RequestFailed` or
    :class:`RequestCancelled` otherwise.
    """

    def __init__(self, workspace, rid: str):
        self._ws = workspace
        self.id = rid

    def _row(self) -> dict:
        return self._ws._requests.get(self.id)

    def __getattr__(self, name: str):
        if name in _COLUMNS:
            return self._row()[name]
        raise AttributeError(name)

    @property
    def operation(self) -> str:
        return self._row()["operation"]

    @property
    def target(self) -> str:
        """What the request works on, as ``"<level> <id>"`` (e.g. ``"task 7"``)."""
        r = self._row()
        return f"{r['level']} {r['target_id']}"

    @property
    def status(self) -> str:
        return self._row()["status"]

    @property
    def progress(self) -> float:
        return self._row()["progress"]

    @property
    def message(self) -> str:
        return self._row()["message"]

    @property
    def result(self) -> str | None:
        return self._row()["result"]

    @property
    def done(self) -> bool:
        return self.status in DONE

    def cancel(self) -> None:
        """Ask the request to stop; an import rolls back, an export leaves no archive."""
        self._ws._worker.cancel(self.id)

    def wait(self, timeout: float | None = None, poll: float = 0.05) -> str | None:
        fut = self._ws._worker.futures.get(self.id)
        deadline = None if timeout is None else time.monotonic() + timeout
        if fut is not None:
            try:
                fut.result(timeout=timeout)
            except TimeoutError:
                raise TimeoutError(f"request {self.id} still {self.status} after {timeout} s") from None
        else:  # started by another kernel: poll the database
            while not self.done:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"request {self.id} still {self.status} after {timeout} s")
                time.sleep(poll)
        row = self._row()
        if row["status"] == "failed":
            raise RequestFailed(f"{row['operation']} of {row['level']} {row['target_id']} failed: {row['message']}")
        if row["status"] == "cancelled":
            raise RequestCancelled(f"{row['operation']} of {row['level']} {row['target_id']} was cancelled")
        return row["result"]

    def __repr__(self) -> str:
        r = self._row()
        return (f"<Request {r['operation']} {r['level']} {r['target_id']} {r['format'] or ''}: {r['status']} "
                f"{r['progress']:.0%} {r['message']!r}>")
