"""``Studio(ws)``: the workspace widgets composed for the notebook.

Left: the :class:`HierarchyBrowser`; right: the form of the last action (export or import of the
selected node) above a :class:`Preview` of the selected node; below: the :class:`RequestsPanel`.
The wiring is plain Python: an action click opens the matching form, a form's request makes the
panel refresh (so it starts polling and notifies when the request ends), a finished import
refreshes the tree's counts and the preview.
"""
from __future__ import annotations

import ipywidgets as ipw

from ._base import log
from .export_form import ExportForm
from .hierarchy import HierarchyBrowser
from .import_form import ImportForm
from .preview import Preview
from .requests_panel import RequestsPanel


def form_for(action: str, node):
    """The form a HierarchyBrowser action opens for ``node``, or None for non-form actions."""
    if action == "export_dataset":
        return ExportForm(node, save_images=True)
    if action == "export_annotations":
        return ExportForm(node, save_images=False)
    if action == "import_dataset":
        return ImportForm(node, mode="dataset")
    if action == "import_annotations":
        return ImportForm(node, mode="annotations")
    return None


class Studio(ipw.VBox):
    """Browse a workspace, export and import its nodes, watch the requests, preview the data.

    >>> studio = aw.Studio(ws)   # doctest: +SKIP
    >>> studio                   # doctest: +SKIP
    """

    def __init__(self, ws, preview: bool = True, **kwargs) -> None:
        if not callable(getattr(ws, "tree", None)):
            raise TypeError(f"Studio() needs a Workspace, got {type(ws).__name__}")
        self.ws = ws
        self.browser = HierarchyBrowser(ws)
        self.requests = RequestsPanel(ws)
        self.form: ExportForm | ImportForm | None = None
        self.preview: Preview | None = None
        self._show_preview = preview
        self._form_box = ipw.VBox([ipw.HTML("<i>Select a node and an action (export, import).</i>")])
        self._preview_box = ipw.VBox([])
        right = ipw.VBox([self._form_box, self._preview_box], layout=ipw.Layout(flex="1 1 60%", min_width="0"))
        left = ipw.VBox([self.browser], layout=ipw.Layout(flex="1 1 40%", min_width="0"))
        super().__init__([ipw.HBox([left, right], layout=ipw.Layout(width="100%")), self.requests], **kwargs)
        self.browser.on_action(self._on_action)
        self.browser.observe(self._on_select, names=["selected"])

    # -- wiring -------------------------------------------------------------------------------------
    def _on_action(self, action: str, node) -> None:
        if action == "preview":
            self.show_preview(node)
            return
        form = form_for(action, node)
        if form is not None:
            self.open_form(form)

    def open_form(self, form: ExportForm | ImportForm) -> ExportForm | ImportForm:
        """Show ``form`` (replacing the previous one) and wire it to the panel and the tree."""
        if self.form is not None and not self.form.running:
            self.form.close()
        self.form = form
        form.observe(self._on_request, names=["request"])
        form.on_finish(self._on_finish)
        self._form_box.children = [form]
        return form

    def _on_request(self, change) -> None:
        old, new = change["old"] or {}, change["new"] or {}
        if new.get("id") and new.get("id") != old.get("id"):
            self.requests.refresh()  # the panel sees the new request and polls until it ends

    def _on_finish(self, form, row: dict) -> None:
        self.requests.refresh()
        if isinstance(form, ImportForm) and row.get("status") == "finished":
            self.browser.refresh()
            sel = self.browser.selected_node
            if sel is not None and self.preview is not None:
                self.show_preview(sel)

    def _on_select(self, change) -> None:
        if self._show_preview and change["new"]:
            node = self.browser.selected_node
            if node is not None:
                self.show_preview(node)

    def show_preview(self, node) -> Preview | None:
        """Preview ``node`` (its items with annotations and predictions) under the form."""
        try:
            preview = Preview(node)
        except Exception as exc:  # noqa: BLE001 - say why instead of breaking the studio
            log.exception("Studio preview failed")
            self._preview_box.children = [ipw.HTML(f"<b>Preview failed:</b> {type(exc).__name__}: {exc}")]
            return None
        if self.preview is not None:
            self.preview.close()
        self.preview = preview
        self._preview_box.children = [self.preview]
        return self.preview
