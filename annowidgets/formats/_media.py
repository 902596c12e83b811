"""Copying media into an export (``save_images``) and naming the copies, shared by the writers."""
from __future__ import annotations

import posixpath
from collections.abc import Iterable

import pandas as pd

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


def _media_parts(media) -> tuple[list[str], bool]:
    """Path components of a media reference and whether it is relative (to ``media_root``).

    URLs keep their path (``s3://bucket/a/x.jpg`` -> bucket, a, x.jpg); a chained URL its first
    link; a query string is dropped.
    """
    if not isinstance(media, str) or not media:
        return [], False
    m = media.split("::")[0].split("?")[0].replace("\\", "/")
    relative = "://" not in m and not m.startswith("/") and not (len(m) > 1 and m[1] == ":")
    if "://" in m:
        m = m.split("://", 1)[1]
    parts = [p for p in m.split("/") if p not in ("", ".")]
    if ".." in parts:  # a relative path that climbs out: only what follows the last '..' is ours
        parts = parts[len(parts) - parts[::-1].index(".."):]
        relative = False
    return parts, relative


def _suffixed(name: str, item_id, taken: set[str]) -> str:
    stem, ext = posixpath.splitext(name)
    cand, k = f"{stem}__{item_id}{ext}", 1
    while cand.lower() in taken:
        k += 1
        cand = f"{stem}__{item_id}_{k}{ext}"
    return cand


def unique_file_names(items: pd.DataFrame, groups: Iterable | None = None, *, given=None,
                      rename_given: bool = True, flat: bool = False,
                      fallback: str = "item_{}") -> tuple[list[str], list]:
    """A file name per item, unique (case-insensitively) within each group (e.g. subset).

    ``given`` (default: ``items.name``) is the name an item already has; items without one are
    named after their media. Media that share a base name in different folders keep the
    folder part: a relative media path its whole relative path (``a/x.jpg``), an absolute
    path or URL as many trailing folders as tell them apart (``/d/a/x.jpg`` -> ``a/x.jpg``).
    ``flat`` keeps base names only. What still collides gets ``<stem>__<item_id><ext>``:
    names derived from media always, given names only if ``rename_given`` (when the files are
    copied and would overwrite each other). Returns the names and the ``item_id``s whose
    given name was changed (for the loss report).
    """
    n = len(items)
    ids = items["item_id"].tolist()
    given = items["name"] if given is None else given
    given = [g if isinstance(g, str) and g else None for g in (given.tolist() if hasattr(given, "tolist") else given)]
    media = items["media"].tolist() if "media" in items else [None] * n
    groups = [None] * n if groups is None else list(groups)
    out: list[str | None] = [None] * n
    renamed = []
    by_group: dict = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    for members in by_group.values():
        taken: set[str] = set()
        dups = []
        for i in members:  # given names first: they win over names made up from media
            name = given[i]
            if name is None:
                continue
            if name.lower() in taken:
                dups.append(i)
            else:
                out[i] = name
                taken.add(name.lower())
        for i in dups:  # after every first holder of a name, so a suffix never takes a given name
            out[i] = _suffixed(given[i], ids[i], taken) if rename_given else given[i]
            if rename_given:
                renamed.append(ids[i])
            taken.add(out[i].lower())
        derived = [i for i in members if given[i] is None]
        parts = {i: _media_parts(media[i]) for i in derived}
        base = {i: parts[i][0][-1] if parts[i][0] else fallback.format(ids[i]) for i in derived}
        count: dict[str, int] = {}
        for i in derived:
            count[base[i].lower()] = count.get(base[i].lower(), 0) + 1
        pending = []
        for i in derived:
            key = base[i].lower()
            if count[key] == 1 and key not in taken:
                out[i] = base[i]
                taken.add(key)
            else:
                pending.append(i)
        if flat:
            for i in pending:
                out[i] = base[i] if base[i].lower() not in taken else _suffixed(base[i], ids[i], taken)
                taken.add(out[i].lower())
            continue
        leftover = []
        depth = 1
        while pending:
            depth += 1
            cand = {}
            for i in pending:
                p, rel = parts[i]
                cand[i] = "/".join(p if rel else p[-depth:]) if p else base[i]
            seen: dict[str, int] = {}
            for c in cand.values():
                seen[c.lower()] = seen.get(c.lower(), 0) + 1
            nxt = []
            for i in pending:
                key = cand[i].lower()
                p, rel = parts[i]
                if seen[key] == 1 and key not in taken:
                    out[i] = cand[i]
                    taken.add(key)
                elif rel or depth >= len(p):
                    leftover.append((i, cand[i]))
                else:
                    nxt.append(i)
            pending = nxt
        for i, c in leftover:  # the same media twice, or a path a given name already holds
            out[i] = c if c.lower() not in taken else _suffixed(c, ids[i], taken)
            taken.add(out[i].lower())
    return out, renamed
