"""The embedded workspace: projects → tasks → jobs in a SQLite database, with CVAT's
export/import operations at each level run as background requests (DESIGN §5)."""
from __future__ import annotations

from .model import Job, Project, Storage, Task, Workspace
from .requests import Request, RequestCancelled, RequestFailed
from .segments import segments
from .transfer import ImportMismatchError

__all__ = ["ImportMismatchError", "Job", "Project", "Request", "RequestCancelled", "RequestFailed", "Storage",
           "Task", "Workspace", "segments"]
