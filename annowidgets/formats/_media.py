"""Copying media into an export (``save_images``), shared by the writers."""
from __future__ import annotations

from typing import Iterable

from ..core.dataset import Dataset
from ..core.io import Sink
from ..core.loss import LossReport


def copy_media(ds: Dataset, sink: Sink, pairs: Iterable[tuple[int, str | None, str]], report: LossReport) -> None:
    """Copy ``(item_id, media, target_rel)`` triples into ``sink``; report media that cannot be read."""
    missing = []
    for item_id, media, rel in pairs:
        url = ds.media_url(media)
        if url is None or sink.has(rel):
            if url is None:
                missing.append(item_id)
            continue
        try:
            sink.copy(rel, url)
        except (FileNotFoundError, OSError):
            missing.append(item_id)
    report.add("items", missing, "media not found, image not saved")
