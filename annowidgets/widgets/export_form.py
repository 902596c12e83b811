"""``ExportForm(node)``: CVAT's export dialog for a workspace project, task or job.

The format list holds only the formats that fit the node (see :mod:`._fit`), lossless ones first;
"annotations" or "dataset" (``save_images``); a custom archive name with CVAT's default shown;
the target (the project's default storage, a local folder, a cloud URL, or an attached storage).
Export starts a workspace Request (background thread); the front end polls its progress; on
finish the form shows the result path and, on request, sends the archive's bytes to the browser.
"""
from __future__ import annotations

import uuid

import traitlets as t

from ..core.dataset import Dataset
from ..core.errors import UnknownFormatError
from ..formats import registry
from . import _files, _fit, _nodes
from ._base import static_asset
from ._tracking import Tracking

LOCATIONS = ("default", "local", "url", "storage")


class ExportForm(Tracking):
    """Export a workspace Project, Task or Job in a format that fits it.

    >>> form = aw.ExportForm(ws.task(3), save_images=True)          # doctest: +SKIP
    >>> form.format = "COCO 1.0"; form.export().wait()                # doctest: +SKIP
    """

    _esm = static_asset("export.js")
    _css = static_asset("export.css")

    node = t.Dict().tag(sync=True)
    """dict: ``{"level", "id", "name", "project_id", "project"}`` of the exported node (filled by Python)."""
    holding = t.Dict().tag(sync=True)
    """dict: what the node holds: items, item kinds, annotation types and sources, tracks (filled by Python)."""
    formats = t.List().tag(sync=True)
    """list[dict]: formats that fit, lossless first: ``{"name", "family", "lost", "note"}`` (filled by Python)."""
    format = t.Unicode("").tag(sync=True)
    """str: the chosen format. Default: CVAT for images 1.1 when it fits losslessly, else the first."""
    save_images = t.Bool(False).tag(sync=True)
    """bool: export the dataset (annotations and images) rather than annotations only. Default False."""
    name = t.Unicode("").tag(sync=True)
    """str: custom archive name (``.zip`` added); ``""`` uses :attr:`default_name`. Default ""."""
    default_name = t.Unicode("").tag(sync=True)
    """str: CVAT's default name for the current format and kind (filled by Python)."""
    location = t.Enum(LOCATIONS, "default").tag(sync=True)
    """str: ``"default"`` (the project's target storage), ``"local"`` (a folder), ``"url"`` (any fsspec
    URL, e.g. ``s3://bucket/exports``) or ``"storage"`` (an attached storage). Default "default"."""
    target = t.Unicode("").tag(sync=True)
    """str: the folder or URL (``local``/``url``), or a path inside the storage (``storage``). Default ""."""
    storage = t.Unicode("").tag(sync=True)
    """str: name of the attached storage for ``location="storage"``. Default ""."""
    storages = t.List().tag(sync=True)
    """list[dict]: attached storages ``{"name", "url"}`` (filled by Python)."""
    default_target = t.Unicode("").tag(sync=True)
    """str: where ``location="default"`` exports go (filled by Python)."""
    max_download_bytes = t.Int(256 * 2**20, min=1)
    """int: larger results are not sent to the browser (their path is shown). Default 256 MiB."""
    chunk_size = t.Int(_files.CHUNK, min=256)
    """int: bytes per message when the result is sent to the browser. Default 4 MiB."""

    def __init__(self, node, **kwargs) -> None:
        self._node = _nodes.check_node(node, "ExportForm")
        self._ws = node._ws
        self._init_tracking()
        self._exported_format = ""
        super().__init__(**kwargs)
        self.node = _nodes.describe(node)
        self.storages = _nodes.storages(self._ws)
        self.default_target = _nodes.default_export_target(node)
        self.refresh_formats()
        if kwargs.get("format") and registry.get(kwargs["format"]).name != self.format:
            fits = ", ".join(f["name"] for f in self.formats)
            raise ValueError(f"{kwargs['format']!r} does not fit {self.node['level']} {self.node['id']}; "
                             f"formats that fit: {fits}")
        self.observe(lambda _: self._update_default_name(), names=["format", "save_images"])
        self._update_default_name()

    def refresh_formats(self) -> None:
        """Re-read what the node holds and which formats fit it (after an import, say)."""
        h = _fit.holding(self._node)
        self.holding = h.as_dict()
        self.formats = _fit.export_formats(h)
        names = [f["name"] for f in self.formats]
        if self.format not in names:
            self.format = _fit.default_export(self.formats)

    @t.validate("format")
    def _valid_format(self, proposal) -> str:
        value = proposal["value"]
        if not value:
            return value
        try:
            spec = registry.get(value)
        except UnknownFormatError as exc:  # a TraitError is what a comm update may raise
            raise t.TraitError(str(exc)) from None
        if not spec.can_export:
            raise t.TraitError(f"format {spec.name!r} cannot be exported")
        return spec.name

    def _update_default_name(self) -> None:
        if not self.format:
            self.default_name = ""
            return
        ws, n = self._ws, self._node
        self.default_name = registry.default_name(Dataset(), registry.get(self.format), self.save_images,
                                                  level=n.level, ident=n.id, timestamp=ws._updated(n.level, n.id))

    def _target_args(self) -> tuple[str | None, str | None]:
        loc, target = self.location, self.target.strip()
        if loc == "default":
            return None, None
        if loc == "local":
            if not target:
                raise ValueError("give the local folder to export into")
            if "://" in target:
                raise ValueError(f"{target!r} is a URL; choose 'Cloud URL' for it")
            return target, None
        if loc == "url":
            if "://" not in target:
                raise ValueError(f"a cloud URL looks like s3://bucket/folder, got {target!r}")
            return target, None
        names = [s["name"] for s in self.storages]
        if self.storage not in names:
            raise ValueError(f"choose an attached storage ({', '.join(names) or 'none attached: ws.attach_storage'})")
        return (target or None), self.storage

    def export(self):
        """Start the export with the form's settings; returns the workspace Request (raises on bad input)."""
        if self.running:
            raise RuntimeError("an export of this form is still running")
        if not self.format:
            raise ValueError("no format fits this node")
        name = self.name.strip() or None
        if name is not None and ("/" in name or "\\" in name):
            raise ValueError(f"the name must not contain a path separator: {name!r}")
        target, storage = self._target_args()
        req = self._node.export(self.format, save_images=self.save_images, name=name, target=target,
                                storage=storage)
        self._exported_format = self.format
        self._track(req)
        return req

    def _on_request_end(self, snap: dict) -> dict | None:
        if snap["status"] == "finished" and snap["result"]:
            # what the format could not carry (the worker's LossWarning is not seen in the notebook)
            fmt = next((f for f in self.formats if f["name"] == self._exported_format), None)
            lost = f"{self._exported_format} {fmt['note']}" if fmt and fmt["lost"] else ""
            return {"file_name": _files.result_name(snap["result"]), "lost": lost}
        return None

    # -- front-end requests -------------------------------------------------------------------------
    def _msg_export(self, _content: dict, _buffers) -> None:
        try:
            self.export()
        except Exception as exc:  # noqa: BLE001 - shown in the form where the user clicked
            self.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)

    def _msg_download(self, content: dict, _buffers) -> None:
        result = self.request.get("result") if self.request.get("status") == "finished" else None
        if not result:
            self.error = "there is no finished export to download"
            return
        try:
            data = _files.read_result(result, self._ws.open_options(result), self.max_download_bytes)
        except Exception as exc:  # noqa: BLE001 - the result may have expired or be too large
            self.error = f"cannot download {result}: {exc}"
            return
        _files.send_file(self, str(content.get("token") or uuid.uuid4().hex), _files.result_name(result), data,
                         self.chunk_size)
