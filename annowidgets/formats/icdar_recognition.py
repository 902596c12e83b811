"""CVAT's "ICDAR Recognition 1.0" (Datumaro ``icdar_word_recognition``): one word per image.

Layout: ``<subset>/gt.txt`` with lines ``<image file>, "<word>"`` (``\\"`` is a quote inside the
word) and the images in ``<subset>/images/``, at the archive root as CVAT's export (Datumaro's
exporter) writes it; the ``word_recognition/<subset>/`` nesting CVAT's docs show is read too.

Import gives a tag labelled ``icdar`` with ``attributes['text']`` per word, as CVAT does. Export
writes the ``text`` attribute of an item's first row that has one (CVAT turns any region with
a ``text`` attribute into the caption); items without one get a line with no word, so they
come back. What does not fit is reported.
"""
from __future__ import annotations

import posixpath
import re

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ..core.media_types import IMAGE_EXTS
from . import _icdar
from . import _voc_common as vc
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

_LINE = re.compile(r'^(?P<image>[^,]+?)\s*,\s*(?P<rest>.*)$')


def _gt_files(files: list[str]) -> list[str]:
    return [f for f in files if posixpath.basename(f) == "gt.txt" and "/" in f]


def _parse_line(line: str):
    """``(image, word or None)`` for a line, or None if it is not ``<image>, "<word>"``."""
    m = _LINE.match(line)
    if not m or posixpath.splitext(m.group("image"))[1].lower() not in IMAGE_EXTS:
        return None
    rest = m.group("rest").strip()
    if not rest:
        return m.group("image"), None
    if len(rest) < 2 or rest[0] != '"' or rest[-1] != '"':
        return None
    return m.group("image"), re.sub(r"\\(.)", r"\1", rest[1:-1])


def detect_icdar_recognition(source: Source) -> float:
    gts = _gt_files(source.files)
    if not gts or _icdar.tasks_present(source.files) != {"recognition"}:
        return 0.0
    for rel in gts:
        try:
            with source.open(rel) as f:
                first = next((ln for ln in (f.readline(4096).decode("utf-8", "replace") for _ in range(5))
                              if ln.strip()), "")
        except OSError:
            return 0.0
        if first and _parse_line(first.strip()) is None:
            return 0.0
    return 0.85


def read_icdar_recognition(source: Source, **options) -> Dataset:
    gts = _gt_files(source.files)
    if not gts:
        raise FormatError(source.display(), "no ICDAR word recognition here: expected <subset>/gt.txt "
                                            "(word_recognition/<subset>/gt.txt in CVAT's export)")
    items, rows = [], []
    for rel in sorted(gts):
        sdir = posixpath.dirname(rel) + "/"
        subset = posixpath.basename(sdir.rstrip("/"))
        images = _icdar.images_of(source, sdir)
        by_name: dict[str, int] = {}
        for n, raw in enumerate(source.read_text(rel).splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            parsed = _parse_line(line)
            if parsed is None:
                raise FormatError(source.display(rel), f'expected \'<image file>, "<word>"\', got {line!r}', line=n)
            image, word = parsed
            if image not in by_name:
                by_name[image] = len(items)
                items.append(_icdar.item_row(source, len(items), image, subset, images.get(image)))
            if word is not None:
                rows.append({"item_id": by_name[image], "type": "tag", "label": _icdar.LABEL,
                             "attributes": {"text": word}})
    return _icdar.dataset(items, rows)


def write_icdar_recognition(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items, ids, files, subsets, a = vc.prepared(ds, report)
    text = a["attributes"].map(_icdar.text_of)
    has = text.notna().to_numpy()
    report.add_mask("annotations", a, ~has, "ICDAR Recognition carries only words (a 'text' attribute)",
                    key="ann_id")
    first = has & ~a["_pos"].where(has).duplicated().to_numpy()
    report.add_mask("annotations", a, has & ~first, "ICDAR Recognition holds one word per image: not written",
                    key="ann_id")
    _icdar.report_other_labels(report, a[first], "ICDAR Recognition")
    odd = text.fillna("").str.contains(r"\\|, ", regex=True).to_numpy() & first
    report.add_mask("annotations", a, odd, "word with a backslash or ', ': written escaped, but CVAT/Datumaro "
                    "read it differently", key="ann_id")
    word_of = dict(zip(a["_pos"][first].tolist(), text[first].tolist(), strict=True))
    lines: dict[str, list[str]] = {}
    for p in range(len(items)):
        w = word_of.get(p)
        q = "" if w is None else '"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.setdefault(subsets[p], []).append(f"{files.iloc[p]}, {q}\n")
    for s, ls in lines.items():
        sink.write_text(f"{s}/gt.txt", "".join(ls))
    if ctx.save_images:
        copy_media(ds, sink, [(i, m, f"{s}/images/{f}") for i, m, s, f in
                              zip(items["item_id"], items["media"], subsets, files, strict=True)], report)


register(FormatSpec(
    name="ICDAR Recognition 1.0", aliases=("icdar_word_recognition", "icdar recognition"),
    read=read_icdar_recognition, write=write_icdar_recognition, detect=detect_icdar_recognition,
    shapes=("tag",), family="cvat",
    description='<subset>/gt.txt: <image>, "<word>" per line',
))
