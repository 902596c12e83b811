"""Following one workspace Request from a form without blocking the kernel.

The request runs in the workspace's worker thread; the form's ``request`` trait is a snapshot of
its row. While it is queued or running the front end sends ``{"kind": "poll"}`` every
``poll_interval`` seconds and the snapshot is re-read (comm traffic stays on the kernel's main
thread). :meth:`Tracking.poll` does the same from code, and ``on_finish`` callbacks run once
when the request ends.
"""
from __future__ import annotations

from collections.abc import Callable

import traitlets as t

from ._base import BaseWidget, log

ACTIVE = ("queued", "started")
DONE = ("finished", "failed", "cancelled")


class Tracking(BaseWidget):
    """Base of the forms that start a Request: the ``request`` snapshot, polling, callbacks."""

    request = t.Dict().tag(sync=True)
    """dict: the current request ``{"id", "status", "progress", "message", "result"}``, or ``{}``."""
    poll_interval = t.Float(0.5, min=0.05).tag(sync=True)
    """float: seconds between the front end's progress polls while the request runs. Default 0.5."""
    error = t.Unicode("").tag(sync=True)
    """str: the last error, shown in the form (bad input, a failed request). Default ""."""

    def _init_tracking(self) -> None:
        self._req = None
        self._finish_callbacks: list[Callable] = []
        self._reported: set[str] = set()

    @property
    def running(self) -> bool:
        return self.request.get("status") in ACTIVE

    @property
    def last_request(self):
        """The workspace :class:`~annowidgets.workspace.Request` this form started last, or None."""
        return self._req

    def on_finish(self, callback: Callable) -> Callable:
        """Call ``callback(form, request_row)`` once the request ends (finished, failed, cancelled)."""
        self._finish_callbacks.append(callback)
        return callback

    def _track(self, req) -> None:
        self._req = req
        self.error = ""
        self.poll()

    def poll(self) -> dict:
        """Re-read the request; on its end fill the result and call ``on_finish``. Returns the snapshot."""
        if self._req is None:
            return {}
        try:
            row = self._req._row()
        except KeyError:  # expired and removed
            self.request = {**self.request, "status": "expired", "message": "the request has expired"}
            return self.request
        snap = {"id": str(row["id"]), "operation": str(row["operation"]), "status": str(row["status"]),
                "progress": float(row["progress"] or 0.0), "message": str(row["message"] or ""),
                "result": row["result"]}
        if snap["status"] in DONE and snap["id"] not in self._reported:
            self._reported.add(snap["id"])
            extra = self._on_request_end(snap) or {}
            snap.update(extra)
            self.request = snap
            if snap["status"] == "failed":
                self.error = snap["message"]
            for cb in self._finish_callbacks:
                try:
                    cb(self, snap)
                except Exception:  # noqa: BLE001 - a user callback must not break the form
                    log.exception("%s on_finish callback failed", type(self).__name__)
            return snap
        if snap["id"] in self._reported:  # already ended: keep the enriched snapshot
            return self.request
        self.request = snap
        return snap

    def _on_request_end(self, snap: dict) -> dict | None:
        """Hook: extra fields for the final snapshot (a summary, a download size…)."""
        return None

    def cancel(self) -> None:
        """Cancel the running request (an import then changes nothing)."""
        if self._req is not None and self.running:
            self._req.cancel()
            self.poll()

    def _msg_poll(self, _content: dict, _buffers) -> None:
        self.poll()

    def _msg_cancel(self, _content: dict, _buffers) -> None:
        self.cancel()
