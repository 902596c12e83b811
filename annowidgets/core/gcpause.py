"""One switch for pausing Python's cyclic garbage collector around bulk work.

Parsing or writing a large file makes millions of small dicts, lists and strings without a
single reference cycle; the collector would rescan them all over and over (measured: about half
of a large JSON parse). Readers, writers and the format registry share this one context manager.
It counts nested and concurrent users (workspace requests run in threads), so the collector is
switched back on only when the last one leaves, and only if it was on before the first came.
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic GC off (reference counting still frees memory)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
