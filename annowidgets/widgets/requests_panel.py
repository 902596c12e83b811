"""``RequestsPanel(ws)``: every export/import request of a workspace, as on CVAT's Requests page.

Rows show status, progress, age, message and result; active requests can be cancelled and
finished exports downloaded (the archive goes to the browser as a binary message, so it works
on a remote kernel too). While anything is queued or running, the front end asks for a refresh
every ``poll_interval`` seconds (every ``idle_interval`` otherwise, so requests started from
code or another kernel appear); a request that ends raises a notification in the panel and
calls the ``on_finish`` callbacks.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable

import pandas as pd
import traitlets as t

from . import _files
from ._base import BaseWidget, log, static_asset

ACTIVE = ("queued", "started")
DONE = ("finished", "failed", "cancelled")
#: Larger results are not pushed through the comm; the panel shows their path instead.
MAX_DOWNLOAD_BYTES = 256 * 2**20


class RequestsPanel(BaseWidget):
    """The requests of a :class:`~annowidgets.Workspace`, refreshed while any is active.

    >>> panel = aw.RequestsPanel(ws)                      # doctest: +SKIP
    >>> panel.on_finish(lambda row: print(row["status"], row["result"]))  # doctest: +SKIP
    """

    _esm = static_asset("requests.js")
    _css = static_asset("requests.css")

    requests = t.List().tag(sync=True)
    """list[dict]: one row per request, newest first (filled by Python)."""
    poll_interval = t.Float(1.0, min=0.2).tag(sync=True)
    """float: seconds between refreshes while a request is queued or running. Default 1.0."""
    idle_interval = t.Float(5.0, min=0.0).tag(sync=True)
    """float: seconds between refreshes while nothing is active, so requests started from code or
    another kernel appear (and notify when they end); 0 stops polling when idle. Default 5.0."""
    max_rows = t.Int(200, min=1).tag(sync=True)
    """int: how many of the newest requests to show. Default 200."""

    def __init__(self, ws, **kwargs) -> None:
        if not callable(getattr(ws, "requests", None)):
            raise TypeError(f"RequestsPanel() needs a Workspace, got {type(ws).__name__}")
        self._ws = ws
        self._status: dict[str, str] = {}
        self._seen = False  # whether a first refresh has happened (its rows are not news)
        self._callbacks: list[Callable[[dict], None]] = []
        super().__init__(**kwargs)
        self.refresh(notify=False)

    def on_finish(self, callback: Callable[[dict], None]) -> Callable[[dict], None]:
        """Call ``callback(row)`` when a request finishes, fails or is cancelled; usable as a decorator."""
        self._callbacks.append(callback)
        return callback

    def refresh(self, notify: bool = True) -> list[dict]:
        """Re-read the requests; notify about those that ended since the last refresh. Returns the ended rows."""
        df = self._ws.requests()
        rows = _rows(df.head(self.max_rows))
        ended = []
        for row in rows:
            before = self._status.get(row["id"])
            if notify and row["status"] in DONE and before is not None and before not in DONE:
                ended.append(row)
        # a request created and finished between two refreshes also counts once it is new to us
        if notify and self._seen:
            ended += [r for r in rows if r["id"] not in self._status and r["status"] in DONE]
        self._status = {r["id"]: r["status"] for r in rows}
        self._seen = True
        self.requests = rows
        for row in ended:
            self.send({"kind": "notify", "id": row["id"], "status": row["status"],
                       "text": f"{row['operation']} of {row['level']} {row['target_id']}: {row['status']}"
                               + (f" — {row['message']}" if row["message"] else "")})
            for cb in self._callbacks:
                try:
                    cb(row)
                except Exception:  # noqa: BLE001 - a user callback must not break the panel
                    log.exception("RequestsPanel on_finish callback failed")
        return ended

    # -- front-end requests -------------------------------------------------------------------------
    def _msg_refresh(self, _content: dict, _buffers) -> None:
        self.refresh()

    def _msg_cancel(self, content: dict, _buffers) -> None:
        try:
            self._ws.request(content["id"]).cancel()
        except KeyError as exc:
            self.send({"kind": "error", "message": str(exc)})
        self.refresh()

    def _msg_download(self, content: dict, _buffers) -> None:
        row = next((r for r in self.requests if r["id"] == content.get("id")), None)
        if row is None or row["status"] != "finished" or not row["result"]:
            self.send({"kind": "error", "message": f"request {content.get('id')!r} has no result to download"})
            return
        result = row["result"]
        opts = self._ws.open_options(result) if hasattr(self._ws, "open_options") else {}
        try:
            data = _files.read_result(result, opts, MAX_DOWNLOAD_BYTES)
        except Exception as exc:  # noqa: BLE001 - the result may have expired, moved or be too large
            self.send({"kind": "error", "message": f"cannot download {result}: {exc}"})
            return
        # the same chunked file_chunk messages as the export form (one path, no single huge message)
        _files.send_file(self, str(row["id"]), _files.result_name(result), data)


def _rows(df: pd.DataFrame) -> list[dict]:
    """JSON-safe rows with an age in seconds (ages are computed here, where the timestamps live)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    out = []
    for r in df.to_dict("records"):
        created = r.get("created")
        age = (now - created).total_seconds() if isinstance(created, _dt.datetime) and not pd.isna(created) else None
        out.append({
            "id": str(r["id"]),
            "operation": str(r.get("operation") or ""),
            "level": str(r.get("level") or ""),
            "target_id": _json(r.get("target_id")),
            "format": _json(r.get("format")) or "",
            "location": _json(r.get("location")) or "",
            "status": str(r.get("status") or ""),
            "progress": float(r.get("progress") or 0.0),
            "message": _json(r.get("message")) or "",
            "result": _json(r.get("result")),
            "created": created.isoformat() if isinstance(created, _dt.datetime) and not pd.isna(created) else None,
            "age_s": age,
        })
    return out


def _json(v):
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v
