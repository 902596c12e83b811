"""How CVAT splits a task into jobs (``cvat/apps/engine/task.py::_generate_segment_params``).

Kept apart so the maths is tested on its own: a task of ``size`` frames is cut into segments
of ``segment_size`` frames that share ``overlap`` frames with their neighbour.
"""
from __future__ import annotations

#: CVAT's default overlap per task mode (frames shared by neighbouring jobs).
DEFAULT_OVERLAP = {"interpolation": 5, "annotation": 0}


def effective(size: int, segment_size: int | None, overlap: int | None, mode: str = "annotation") -> tuple[int, int]:
    """The ``(segment_size, overlap)`` CVAT really uses for a task of ``size`` frames.

    A missing or zero segment size, or one larger than the task, means one segment for the
    whole task. A missing overlap takes the mode's default (5 for interpolation, 0 for
    annotation); any overlap is capped at ``segment_size // 2``.
    """
    if size < 0:
        raise ValueError(f"task size must be >= 0, got {size}")
    if segment_size is not None and segment_size < 0:
        raise ValueError(f"segment_size must be >= 0, got {segment_size}")
    if overlap is not None and overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    seg = segment_size if segment_size and segment_size <= size else size
    ov = DEFAULT_OVERLAP.get(mode, 0) if overlap is None else overlap
    return seg, min(ov, seg // 2)


def segments(size: int, segment_size: int | None = None, overlap: int | None = None,
             mode: str = "annotation") -> list[tuple[int, int]]:
    """``[(start, stop), …]`` with ``stop`` inclusive, relative frame indices.

    >>> segments(10, 5, 2)
    [(0, 4), (3, 7), (6, 9)]
    """
    seg, ov = effective(size, segment_size, overlap, mode)
    if size == 0:
        return []
    step = seg - ov  # >= 1 because ov <= seg // 2 and seg >= 1
    return [(start, min(start + seg - 1, size - 1)) for start in range(0, size - ov, step)]
