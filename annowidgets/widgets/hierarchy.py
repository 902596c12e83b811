"""``HierarchyBrowser(ws)``: the project → task → job tree of a workspace with counts.

The tree comes from ``ws.tree()`` (one query per level, counts included), so opening the
browser never loads annotations. Selecting a node shows the actions CVAT offers at that level;
an action click calls the ``on_action`` callbacks with the action name and the node
(``Project``/``Task``/``Job``), which is how :class:`~annowidgets.widgets.Studio` opens the
export and import forms; without callbacks the browser builds the form itself as ``browser.form``.
"""
from __future__ import annotations

from collections.abc import Callable

import traitlets as t

from ._base import BaseWidget, log, static_asset

#: CVAT's actions per level (Actions menu), in menu order.
ACTIONS = {
    "project": ["export_dataset", "import_dataset", "preview"],
    "task": ["export_annotations", "export_dataset", "import_annotations", "preview"],
    "job": ["export_annotations", "export_dataset", "import_annotations", "preview"],
}


class HierarchyBrowser(BaseWidget):
    """Projects, tasks and jobs with items/annotations/labels counts; select one and act on it.

    >>> browser = aw.HierarchyBrowser(ws)                                  # doctest: +SKIP
    >>> browser.on_action(lambda action, node: print(action, node))       # doctest: +SKIP
    """

    _esm = static_asset("hierarchy.js")
    _css = static_asset("hierarchy.css")

    tree = t.List().tag(sync=True)
    """list[dict]: ``ws.tree()`` as last read (filled by Python)."""
    selected = t.Dict().tag(sync=True)
    """dict: ``{"level": "project"|"task"|"job", "id": int}`` of the selected node, or ``{}``. Default {}."""
    expanded = t.List(t.Unicode()).tag(sync=True)
    """list[str]: open nodes as ``"project:1"``, ``"task:3"``. Default: every project open."""
    actions = t.Dict(ACTIONS).tag(sync=True)
    """dict: level -> action names shown for a selected node of that level."""
    status = t.Unicode("").tag(sync=True)
    """str: one line of feedback under the tree (e.g. which action ran)."""

    def __init__(self, ws, **kwargs) -> None:
        if not callable(getattr(ws, "tree", None)):
            raise TypeError(f"HierarchyBrowser() needs a Workspace, got {type(ws).__name__}")
        self._ws = ws
        self._callbacks: list[Callable[[str, object], None]] = []
        self.form = None  # the form the last action opened when no on_action callback is connected
        super().__init__(**kwargs)
        self.refresh()
        if "expanded" not in kwargs:
            self.expanded = [f"project:{p['id']}" for p in self.tree]

    def refresh(self) -> None:
        """Re-read the tree (after imports, new tasks…); drop a selection that no longer exists."""
        self.tree = self._ws.tree()
        if self.selected and self._find(self.selected) is None:
            self.selected = {}

    def on_action(self, callback: Callable[[str, object], None]) -> Callable[[str, object], None]:
        """Call ``callback(action, node)`` when an action button is clicked; usable as a decorator."""
        self._callbacks.append(callback)
        return callback

    def _default_action(self, action: str, node) -> None:
        """Without ``on_action`` callbacks, an export/import action builds its form as ``self.form``.

        A comm message cannot display anything in the notebook by itself, so the form is kept
        for ``display(browser.form)``; :class:`~annowidgets.widgets.Studio` shows it in place.
        """
        from .studio import form_for  # the forms import this module's siblings; import late

        try:
            form = form_for(action, node)
        except Exception as exc:  # noqa: BLE001 - show the failure where the user clicked
            log.exception("HierarchyBrowser could not open the %s form", action)
            self.status = f"{action} on {node.level if hasattr(node, 'level') else node}: cannot open the form: {exc}"
            return
        if form is None:
            self.status = f"{action} on {node.level} {node.id}: shown by aw.Studio(ws) (or connect on_action)"
            return
        if self.form is not None and not getattr(self.form, "running", False):
            self.form.close()
        self.form = form
        self.status = (f"{action} form for {node.level} {node.id} is ready: display(browser.form), "
                       "or use aw.Studio(ws), which shows it in place")

    @property
    def selected_node(self):
        """The selected ``Project``/``Task``/``Job`` of the workspace, or None."""
        sel = self.selected
        if not sel:
            return None
        getter = {"project": self._ws.project, "task": self._ws.task, "job": self._ws.job}[sel["level"]]
        return getter(int(sel["id"]))

    @t.validate("selected")
    def _valid_selected(self, proposal) -> dict:
        sel = proposal["value"]
        if not sel:
            return {}
        if sel.get("level") not in ACTIONS or not isinstance(sel.get("id"), int):
            raise t.TraitError(f"selected must be {{'level': project|task|job, 'id': int}}, got {sel!r}")
        return {"level": sel["level"], "id": sel["id"]}

    def _find(self, sel: dict) -> dict | None:
        for p in self.tree:
            if sel == {"level": "project", "id": p["id"]}:
                return p
            for tk in p.get("tasks", []):
                if sel == {"level": "task", "id": tk["id"]}:
                    return tk
                for j in tk.get("jobs", []):
                    if sel == {"level": "job", "id": j["id"]}:
                        return j
        return None

    # -- front-end requests -------------------------------------------------------------------------
    def _msg_refresh(self, _content: dict, _buffers) -> None:
        self.refresh()

    def _msg_action(self, content: dict, _buffers) -> None:
        action, level, ident = content.get("action"), content.get("level"), content.get("id")
        if action not in self.actions.get(level, []):
            self.send({"kind": "error", "message": f"{action!r} is not an action of a {level}"})
            return
        self.selected = {"level": level, "id": int(ident)}
        node = self.selected_node
        if not self._callbacks:
            self._default_action(action, node)
            return
        self.status = f"{action} on {level} {ident}"
        for cb in self._callbacks:
            try:
                cb(action, node)
            except Exception as exc:  # noqa: BLE001 - show the failure where the user clicked
                log.exception("HierarchyBrowser on_action callback failed")
                self.status = f"{action} on {level} {ident} failed: {type(exc).__name__}: {exc}"
