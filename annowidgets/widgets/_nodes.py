"""What the forms need to know about a workspace node and its workspace, as JSON-safe dicts."""
from __future__ import annotations

import os

LEVELS = ("project", "task", "job")


def check_node(node, widget: str):
    """``node`` if it is a workspace Project, Task or Job, else a TypeError naming ``widget``."""
    if getattr(node, "level", None) not in LEVELS or not hasattr(node, "_ws"):
        raise TypeError(f"{widget}() needs a workspace Project, Task or Job, got {type(node).__name__}")
    return node


def describe(node) -> dict:
    """``{"level", "id", "name", "project_id", "project"}`` of a node."""
    ws = node._ws
    pid = ws._project_of(node.level, node.id)
    project = ws.project(pid)
    if node.level == "job":
        name = f"Job #{node.id} of task {node.task.name!r} (frames {node.start}–{node.stop})"
    else:
        name = node.name
    return {"level": node.level, "id": int(node.id), "name": str(name), "project_id": int(pid),
            "project": str(project.name)}


def storages(ws) -> list[dict]:
    """The attached storages as ``{"name", "url"}`` (no options: they may hold credentials)."""
    return [{"name": s.name, "url": s.url} for s in ws.storages]


def default_export_target(node) -> str:
    """Where an export with no target goes: the project's target storage, else ``<ws>/exports``."""
    ws = node._ws
    st = ws.project(ws._project_of(node.level, node.id)).target_storage
    if st is not None:
        return f"{st.url} (storage {st.name!r}, the project's default)"
    return f"{os.path.join(ws.path, 'exports')} (local; results expire with the request)"


def default_import_source(node) -> str:
    ws = node._ws
    st = ws.project(ws._project_of(node.level, node.id)).source_storage
    return "" if st is None else st.name
