"""What every annowidgets widget shares: the bundle files, strict kwargs, one message dispatcher.

- ``_esm``/``_css`` are ``pathlib.Path`` objects into ``annowidgets/static/`` (a relative string
  would be resolved against the notebook's working directory). If the bundle has not been built,
  a small inline module says so in the output instead of failing at import.
- Unknown keyword arguments raise ``TypeError``, so ``Preview(ds, score_treshold=0.5)`` fails loudly.
- Messages from the front end are ``{"kind": ..., ...}``; one ``on_msg`` handler dispatches them
  to ``_msg_<kind>(content, buffers)`` methods (never override ipywidgets' ``_handle_custom_msg``).
"""
from __future__ import annotations

import logging
import pathlib
from typing import Any

import anywidget

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"

log = logging.getLogger("annowidgets.widgets")

_MISSING_ESM = """\
// annowidgets: the front-end bundle {name} is missing. Build it with `npm install && npm run build`
// in the annowidgets checkout (or install a wheel, which ships it).
export default {{
  render({{ el }}) {{
    el.textContent = "annowidgets: front-end bundle {name} not built (run `npm run build`).";
  }},
}};
"""


def static_asset(name: str) -> pathlib.Path | str:
    """``STATIC / name`` if the bundle is built, else inline source that explains what is missing."""
    path = STATIC / name
    if path.is_file():
        return path
    if name.endswith(".css"):
        return "/* annowidgets: bundle not built */\n.aw-missing {}\n"
    return _MISSING_ESM.format(name=name)


class BaseWidget(anywidget.AnyWidget):
    """Base of every annowidgets widget: strict kwargs and a ``kind``-dispatched message handler."""

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(k for k in kwargs if not self.has_trait(k))
        if unknown:
            allowed = sorted(n for n in self.trait_names(sync=True) if not n.startswith("_"))
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {unknown}; "
                            f"known options: {allowed}")
        super().__init__(**kwargs)
        self.on_msg(self._on_frontend_msg)

    def _on_frontend_msg(self, _widget: Any, content: Any, buffers: list) -> None:
        """Route ``{"kind": k, ...}`` to ``self._msg_<k>(content, buffers)``; report unknown kinds back."""
        kind = content.get("kind") if isinstance(content, dict) else None
        handler = getattr(self, f"_msg_{kind}", None) if isinstance(kind, str) and kind.isidentifier() else None
        if handler is None:
            log.warning("%s: ignoring front-end message of unknown kind %r", type(self).__name__, kind)
            self.send({"kind": "error", "message": f"unknown message kind {kind!r}"})
            return
        handler(content, buffers)
