"""Helpers for driving widgets through their comm without a kernel (anywidget-notes §1.8)."""
from __future__ import annotations

import logging

import numpy as np
import pytest


class CommRecorder:
    """Records what a widget sends to the front end and feeds it messages as the front end would."""

    def __init__(self, widget, monkeypatch):
        self.widget = widget
        self.sent: list[tuple[dict, list]] = []
        monkeypatch.setattr(widget.comm, "send", self._record)

    def _record(self, data=None, metadata=None, buffers=None, **_):
        self.sent.append((data, list(buffers or [])))

    # front end -> Python
    def update(self, **state) -> None:
        """An ``update`` from JS, e.g. after ``model.set(k, v); model.save_changes()``."""
        self.widget._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
                                 "buffers": []})

    def custom(self, content: dict, buffers=()) -> None:
        """A ``model.send(content)`` from JS."""
        self.widget._handle_msg({"content": {"data": {"method": "custom", "content": content}},
                                 "buffers": list(buffers)})

    # Python -> front end
    def updates(self) -> list[dict]:
        """The ``state`` of every ``update`` sent, with binary buffers put back at their paths."""
        out = []
        for data, buffers in self.sent:
            if data.get("method") != "update":
                continue
            state = data["state"]
            for path, buf in zip(data.get("buffer_paths", []), buffers, strict=True):
                obj = state
                for key in path[:-1]:
                    obj = obj[key]
                obj[path[-1]] = buf
            out.append(state)
        return out

    def last(self, key: str):
        """The last value of ``key`` sent in an update (raises if never sent)."""
        for state in reversed(self.updates()):
            if key in state:
                return state[key]
        raise AssertionError(f"{key!r} was never sent; sent keys: {[sorted(s) for s in self.updates()]}")

    def customs(self) -> list[dict]:
        return [d["content"] for d, _ in self.sent if d.get("method") == "custom"]


@pytest.fixture
def comm(monkeypatch):
    return lambda widget: CommRecorder(widget, monkeypatch)


@pytest.fixture(autouse=True)
def no_swallowed_errors(caplog):
    """ipywidgets logs (and swallows) exceptions raised while handling a comm message: fail on them."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if "Exception in widget method" in r.getMessage()]
    assert not bad, bad[0].getMessage()


def column(shapes: dict, key: str, dtype) -> np.ndarray:
    """A column of the compact shape dict as numpy (buffers arrive as memoryview/bytes)."""
    return np.frombuffer(bytes(shapes[key]), dtype=np.dtype(dtype).newbyteorder("<"))
