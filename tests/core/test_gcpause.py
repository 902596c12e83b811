"""The shared GC pause: nested and concurrent users leave the collector as they found it."""
from __future__ import annotations

import gc
import threading

from annowidgets.core.gcpause import gc_paused


def test_nested_pauses_restore_the_collector_once():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block is still running
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_threads_switch_it_back_on_when_the_last_leaves():
    inside, leave = threading.Event(), threading.Event()

    def worker():
        with gc_paused():
            inside.set()
            leave.wait(5)

    t = threading.Thread(target=worker)
    with gc_paused():
        t.start()
        inside.wait(5)
    assert not gc.isenabled()  # the worker is still inside
    leave.set()
    t.join(5)
    assert gc.isenabled()


def test_an_error_in_the_block_still_restores_it():
    try:
        with gc_paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
