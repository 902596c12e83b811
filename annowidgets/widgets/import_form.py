"""``ImportForm(node)``: CVAT's "Upload annotations" / "Import dataset" dialog for a workspace node.

The input is a file the browser uploads (drag-and-drop or the file picker; sent in binary chunks,
each acknowledged, into a temporary file, so large archives never pass through base64 or memory),
or a URL (any fsspec URL, optionally inside an attached storage). The format is detected unless
chosen. A job, task or project takes *annotations* (they replace the scope's, as in CVAT); a
project also takes a *dataset* (new tasks, one per subset). The import runs as a workspace
Request; when it ends the form summarises what was imported (counts before → after) and what
was rejected, with the reasons (an import is all or nothing: a rejected input changes nothing).
"""
from __future__ import annotations

import uuid

import traitlets as t

from ..core.errors import UnknownFormatError
from ..core.io import Source
from ..formats import registry
from . import _files, _fit, _nodes
from ._base import static_asset
from ._tracking import Tracking

SOURCES = ("upload", "url")


class ImportForm(Tracking):
    """Import annotations (any level) or a dataset (project) into a workspace node.

    >>> form = aw.ImportForm(ws.task(3))                                  # doctest: +SKIP
    >>> form.source, form.url = "url", "s3://bucket/task_3_annotations.zip"  # doctest: +SKIP
    >>> form.start().wait(); form.summary                                 # doctest: +SKIP
    """

    _esm = static_asset("import.js")
    _css = static_asset("import.css")

    node = t.Dict().tag(sync=True)
    """dict: ``{"level", "id", "name", "project_id", "project"}`` of the target node (filled by Python)."""
    modes = t.List(t.Unicode()).tag(sync=True)
    """list[str]: what this level takes: ``["annotations"]``, or ``["dataset", "annotations"]`` for a project."""
    mode = t.Unicode("").tag(sync=True)
    """str: ``"annotations"`` or ``"dataset"`` (projects). Default: the level's first mode."""
    formats = t.List().tag(sync=True)
    """list[dict]: formats that can be read for the mode: ``{"name", "family", "note"}`` (filled by Python)."""
    format = t.Unicode("").tag(sync=True)
    """str: the input's format; ``""`` detects it (CVAT archive name, then the readers' detectors). Default ""."""
    to_polygons = t.Bool(False).tag(sync=True)
    """bool: read masks as polygons (CVAT's "Convert masks to polygons"). Default False."""
    source = t.Enum(SOURCES, "upload").tag(sync=True)
    """str: ``"upload"`` (a file sent from the browser) or ``"url"``. Default "upload"."""
    url = t.Unicode("").tag(sync=True)
    """str: the input's path or URL (``source="url"``), or a path inside :attr:`storage`. Default ""."""
    storage = t.Unicode("").tag(sync=True)
    """str: attached storage :attr:`url` lies in; ``""`` for none. Default: the project's source storage."""
    storages = t.List().tag(sync=True)
    """list[dict]: attached storages ``{"name", "url"}`` (filled by Python)."""
    upload = t.Dict().tag(sync=True)
    """dict: the uploaded file ``{"id", "name", "size", "received", "status"}``; status is
    ``receiving``, ``complete`` or ``aborted``. Default {}."""
    chunk_size = t.Int(_files.CHUNK, min=256).tag(sync=True)
    """int: bytes per upload message. Default 4 MiB."""
    detected = t.Unicode("").tag(sync=True)
    """str: the format auto-detection finds in the completed upload, or why it finds none (filled by Python)."""
    summary = t.Dict().tag(sync=True)
    """dict: after the import: ``{"status", "imported": [str], "rejected": [{"what", "reason"}]}``."""
    max_upload_bytes = t.Int(64 * 2**30, min=0)
    """int: larger uploads are refused before any byte is sent. Default 64 GiB."""

    def __init__(self, node, **kwargs) -> None:
        self._node = _nodes.check_node(node, "ImportForm")
        self._ws = node._ws
        self._init_tracking()
        self._upload: _files.Upload | None = None
        self._kept: list[_files.Upload] = []  # uploads an import may still be reading
        self._before: _fit.Holding | None = None
        super().__init__(**kwargs)
        self.node = _nodes.describe(node)
        self.modes = ["dataset", "annotations"] if node.level == "project" else ["annotations"]
        if self.mode not in self.modes:
            if "mode" in kwargs:
                raise ValueError(f"a {node.level} takes {' or '.join(self.modes)}, not {self.mode!r}")
            self.mode = self.modes[0]
        self.storages = _nodes.storages(self._ws)
        if "storage" not in kwargs:
            self.storage = _nodes.default_import_source(node)
        self._refresh_formats()
        self.observe(lambda _: self._refresh_formats(), names=["mode"])

    def _refresh_formats(self) -> None:
        self.formats = _fit.import_formats(_fit.holding(self._node), self.mode)
        if self.format and self.format not in {f["name"] for f in self.formats}:
            self.format = ""

    @t.validate("format")
    def _valid_format(self, proposal) -> str:
        value = proposal["value"]
        if not value:
            return ""
        try:
            spec = registry.get(value)
        except UnknownFormatError as exc:
            raise t.TraitError(str(exc)) from None
        if not spec.can_import:
            raise t.TraitError(f"format {spec.name!r} cannot be imported")
        return spec.name

    # -- the input -----------------------------------------------------------------------------------
    def _input(self) -> tuple[str, str | None]:
        if self.source == "upload":
            up = self._upload
            if up is None or not up.done:
                raise ValueError("upload a file first (drop it on the form or choose it)")
            return up.path, None
        url = self.url.strip()
        if not url:
            raise ValueError("give the URL or path of the input")
        if self.storage and self.storage not in {s["name"] for s in self.storages}:
            raise ValueError(f"no attached storage {self.storage!r}")
        return url, (self.storage or None)

    def start(self):
        """Start the import with the form's settings; returns the workspace Request (raises on bad input)."""
        if self.running:
            raise RuntimeError("an import of this form is still running")
        if self.mode not in self.modes:
            raise ValueError(f"a {self._node.level} takes {' or '.join(self.modes)}")
        source, storage = self._input()
        fmt = self.format or None
        self._before = _fit.holding(self._node)
        self.summary = {}
        options = {"to_polygons": True} if self.to_polygons else {}
        if self.mode == "dataset":
            req = self._node.import_dataset(source, format=fmt, storage=storage, **options)
        else:
            req = self._node.import_annotations(source, format=fmt, storage=storage, **options)
        self._track(req)
        return req

    def _on_request_end(self, snap: dict) -> dict | None:
        self.summary = self._summarise(snap)
        for up in self._kept:
            up.discard()
        self._kept = []
        return None

    def _summarise(self, snap: dict) -> dict:
        status = snap["status"]
        if status != "finished":
            what = "the input" if status == "failed" else "the import"
            reason = snap["message"] or status
            return {"status": status, "imported": ["nothing: the workspace is unchanged"],
                    "rejected": [{"what": what, "reason": reason}]}
        before, after = self._before or _fit.Holding(), _fit.holding(self._node)
        lines = [snap["message"]] if snap["message"] else []
        if after.items != before.items:
            lines.append(f"items: {before.items} → {after.items}")
        for src in sorted(set(before.sources) | set(after.sources)):
            a, b = before.sources.get(src, 0), after.sources.get(src, 0)
            lines.append(f"{src}s: {a} → {b}" + (" (replaced)" if self.mode == "annotations" and a else ""))
        added = {k: v for k, v in after.types.items() if v}
        if added:
            lines.append("types now: " + ", ".join(f"{k} {v}" for k, v in sorted(added.items())))
        if self.mode == "dataset":
            ws, pid = self._ws, self._node.id
            tasks = ws.project(pid).tasks
            lines.append(f"tasks now: {', '.join(f'{tk.name} ({tk.size} frames)' for tk in tasks)}")
        return {"status": status, "imported": lines, "rejected": []}

    # -- front-end requests -------------------------------------------------------------------------
    def _msg_start(self, _content: dict, _buffers) -> None:
        try:
            self.start()
        except Exception as exc:  # noqa: BLE001 - shown in the form where the user clicked
            self.error = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"

    def _msg_upload_start(self, content: dict, _buffers) -> None:
        self._drop_upload()
        try:
            up = _files.Upload(uuid.uuid4().hex, str(content.get("name") or "upload"), content.get("size"),
                               self.max_upload_bytes)
        except _files.UploadError as exc:
            self.error = str(exc)
            self.send({"kind": "upload_ack", "id": None, "token": content.get("token"), "error": str(exc)})
            return
        self._upload = up
        self.error = ""
        self.source = "upload"
        self._ack(up, token=content.get("token"))

    def _msg_upload_chunk(self, content: dict, buffers) -> None:
        up = self._upload
        if up is None or content.get("id") != up.id:
            self.send({"kind": "upload_ack", "id": content.get("id"), "error": "no such upload (it was replaced)"})
            return
        try:
            up.write(int(content.get("offset", -1)), buffers)
        except _files.UploadError as exc:
            self.send({"kind": "upload_ack", "id": up.id, "received": up.received, "error": str(exc)})
            return
        self._ack(up)

    def _msg_upload_abort(self, content: dict, _buffers) -> None:
        if self._upload is not None and content.get("id") in (None, self._upload.id):
            self._drop_upload()
            self.upload = {**self.upload, "status": "aborted"}

    def _detect(self, path: str) -> str:
        """What "Auto-detect" would pick for the upload (shown before importing), or why nothing."""
        try:
            with Source(path) as src:
                return registry.detect(src).name
        except Exception as exc:  # noqa: BLE001 - the reason is shown; the import would fail the same way
            return f"not recognised: {str(exc).split(';')[0]}"

    def _ack(self, up: _files.Upload, token: str | None = None) -> None:
        """Tell the browser how many bytes arrived; the first ack carries the browser's ``token``
        so that acks of an upload it replaced are not taken for the new one's."""
        status = "complete" if up.done else "receiving"
        if up.done:
            self.detected = self._detect(up.path)
        elif up.received == 0:
            self.detected = ""
        self.upload = {"id": up.id, "name": up.name, "size": up.size, "received": up.received, "status": status}
        msg = {"kind": "upload_ack", "id": up.id, "received": up.received, "done": up.done}
        if token is not None:
            msg["token"] = token
        self.send(msg)

    def _drop_upload(self) -> None:
        """Forget the current upload; its file goes now, or when the running import (which may be
        reading it) ends. A finished import keeps it, so a retry with another format needs no re-upload."""
        if self._upload is not None:
            if self.running:
                self._kept.append(self._upload)
            else:
                self._upload.discard()
            self._upload = None

    @property
    def uploaded_path(self) -> str | None:
        """Where the completed upload lies in the kernel's file system, or None."""
        return self._upload.path if self._upload is not None and self._upload.done else None

    def close(self) -> None:
        self._drop_upload()
        if not self.running:
            for up in self._kept:
                up.discard()
            self._kept = []
        super().close()
