"""The format registry: names users know, detection, and the read/write entry points.

Each format module calls :func:`register` with a :class:`FormatSpec` at import time; every
module of this package is imported on first use, so adding a format means adding a module.
Names resolve case-, space-, dash- and underscore-insensitively, so CVAT's display names
("CVAT for images 1.1") and Label Studio's enum names ("JSON_MIN") both work.
"""
from __future__ import annotations

import datetime as _dt
import importlib
import inspect
import pkgutil
import posixpath
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import UnknownFormatError
from ..core.gcpause import gc_paused
from ..core.io import Sink, Source
from ..core.loss import ExportResult, LossReport
from ..core.mask_polygons import masks_to_polygons


@dataclass
class WriteContext:
    """What a writer gets besides the dataset and the sink."""

    format: str
    save_images: bool = False
    report: LossReport = field(default_factory=LossReport)
    options: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[float, str], None] | None = None

    def step(self, fraction: float, message: str = "") -> None:
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), message)


@dataclass(frozen=True)
class FormatSpec:
    """One format: how users name it, what it carries, and its reader, writer and detector.

    ``read(source, **options) -> Dataset``; ``write(dataset, sink, ctx) -> None`` (records
    losses in ``ctx.report``); ``detect(source) -> float`` in 0..1, how sure it is that the
    input is in this format (0 = not this format).
    """

    name: str
    aliases: tuple[str, ...] = ()
    read: Callable[..., Dataset] | None = None
    write: Callable[[Dataset, Sink, WriteContext], None] | None = None
    detect: Callable[[Source], float] | None = None
    shapes: tuple[str, ...] = ()
    media: tuple[str, ...] = ("image",)
    family: str = "cvat"
    description: str = ""

    @property
    def can_import(self) -> bool:
        return self.read is not None

    @property
    def can_export(self) -> bool:
        return self.write is not None


_FORMATS: dict[str, FormatSpec] = {}
_BY_KEY: dict[str, FormatSpec] = {}
_loaded = False
_ORIGIN: dict[str, tuple[str, int]] = {}  # format name -> (registering module, registration number)


def normalize(name: str) -> str:
    """The lookup key of a format name: lower case without spaces, dashes or underscores."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def register(spec: FormatSpec) -> FormatSpec:
    """Add a format; its name and aliases must not clash with another format's."""
    for n in (spec.name, *spec.aliases):
        key = normalize(n)
        other = _BY_KEY.get(key)
        if other is not None and other.name != spec.name:
            raise ValueError(f"format name {n!r} is taken by {other.name!r}")
        _BY_KEY[key] = spec
    _FORMATS[spec.name] = spec
    _ORIGIN.setdefault(spec.name, (sys._getframe(1).f_globals.get("__name__", ""), len(_ORIGIN)))
    return spec


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    pkg = importlib.import_module(__package__)
    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_") and mod.name != "registry":
            importlib.import_module(f"{__package__}.{mod.name}")


def all_formats() -> list[FormatSpec]:
    """Every format, in module-name order (then as each module registers them), whatever was imported first."""
    _load_all()
    return sorted(_FORMATS.values(), key=lambda s: _ORIGIN.get(s.name, ("~", 0)))


def get(name: str | FormatSpec) -> FormatSpec:
    """Resolve a format name or alias; raise :class:`UnknownFormatError` listing close names."""
    if isinstance(name, FormatSpec):
        return name
    _load_all()
    spec = _BY_KEY.get(normalize(name))
    if spec is None:
        key = normalize(name)
        close = sorted({s.name for k, s in _BY_KEY.items() if key[:4] and key[:4] in k})
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownFormatError(f"unknown format {name!r}{hint} (annowidgets.formats() lists them)")
    return spec


def table() -> pd.DataFrame:
    """All formats as a DataFrame: name, aliases, import, export, shapes, media, family."""
    rows = [
        {"name": s.name, "aliases": list(s.aliases), "import": s.can_import, "export": s.can_export,
         "shapes": list(s.shapes), "media": list(s.media), "family": s.family, "description": s.description}
        for s in all_formats()
    ]
    return pd.DataFrame(rows, columns=["name", "aliases", "import", "export", "shapes", "media", "family",
                                       "description"])


def markdown() -> str:
    """The README's formats table, made from the registry so the two cannot drift apart."""
    tool = {"cvat": "CVAT", "label_studio": "Label Studio"}
    lines = ["| format | as in | import | export | carries | what it is |", "|---|---|---|---|---|---|"]
    for s in all_formats():
        if not _ORIGIN.get(s.name, ("",))[0].startswith(f"{__package__}."):
            continue  # registered by a user (or a test), not shipped
        lines.append(f"| {s.name} | {tool.get(s.family, s.family)} | {'✔' if s.can_import else '–'} | "
                     f"{'✔' if s.can_export else '–'} | {', '.join(s.shapes)} | {s.description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


# -- CVAT's default archive name ---------------------------------------------------------
CVAT_NAME = re.compile(
    r"^(project|task|job)_(.+?)_(annotations|dataset)_(\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2})_(.+)\.(zip|json|xml)$"
)


def format_from_filename(filename: str) -> FormatSpec | None:
    """The format named at the end of a CVAT default archive name, if ``filename`` is one."""
    m = CVAT_NAME.match(posixpath.basename(filename).lower())
    if not m:
        return None
    _load_all()
    return _BY_KEY.get(normalize(m.group(5)))


def default_name(dataset: Dataset, fmt: FormatSpec, save_images: bool, level: str | None = None,
                 ident: Any = None, timestamp: _dt.datetime | None = None) -> str:
    """CVAT's default archive name, so that :func:`detect` recognises the format later."""
    info = dataset.info
    level = level or info.get("level") or "task"
    if ident is None:
        ident = info.get("id")
        if ident is None and len(dataset.tasks) == 1:
            ident = dataset.tasks["task_id"].iloc[0]
        if ident is None or ident is pd.NA:
            ident = 0
    ts = timestamp or _dt.datetime.now()
    kind = "dataset" if save_images else "annotations"
    return f"{level}_{ident}_{kind}_{ts:%Y_%m_%d_%H_%M_%S}_{fmt.name}.zip".lower()


# -- detection, reading, writing ------------------------------------------------------------
def detect(source: Source) -> FormatSpec:
    """The format of ``source``: from CVAT's archive name, else the most confident detector."""
    spec = format_from_filename(source.name)
    if spec is not None and spec.can_import:
        return spec
    best, best_score = None, 0.0
    for s in all_formats():
        if s.detect is None or s.read is None:
            continue
        score = s.detect(source)
        if score > best_score:
            best, best_score = s, score
    if best is None:
        shown = ", ".join(source.files[:8]) + (" …" if len(source.files) > 8 else "")
        raise UnknownFormatError(f"{source.url}: no reader recognises this input (files: {shown}); "
                                 f"pass format=... (annowidgets.formats() lists them)")
    return best


def read(url: str, format: str | None = None, storage_options: dict | None = None, **options) -> Dataset:
    """Load ``url`` (file, folder or zip on any fsspec URL) in ``format`` or the detected one."""
    with Source(url, storage_options) as source:
        spec = get(format) if format else detect(source)
        if spec.read is None:
            raise UnknownFormatError(f"format {spec.name!r} cannot be imported")
        # CVAT's "Convert masks to polygons" for formats whose reader has no such option itself
        generic_polygons = bool(options.pop("to_polygons", False)) if (
            "to_polygons" in options and "to_polygons" not in inspect.signature(spec.read).parameters) else False
        with gc_paused():
            ds = spec.read(source, **options)
    if generic_polygons:
        ds = masks_to_polygons(ds)
    ds.info.setdefault("format", spec.name)
    ds.info.setdefault("source_url", str(url))
    return ds


def export(dataset: Dataset, target: str, format: str, save_images: bool = False, name: str | None = None,
           archive: bool = True, storage_options: dict | None = None,
           progress: Callable[[float, str], None] | None = None, warn: bool = True, **options) -> ExportResult:
    """Write ``dataset`` as ``format`` into ``target``; see :meth:`Dataset.export`.

    ``warn=False``: no :class:`LossWarning`; the caller reports ``result.loss`` itself (the
    workspace puts it in the request's message, since a background thread's warning is lost).
    """
    spec = get(format)
    if spec.write is None:
        raise UnknownFormatError(f"format {spec.name!r} cannot be exported")
    target = str(target)
    single = name is None and is_file_target(target)
    if single and save_images:
        raise ValueError(f"{target}: save_images needs a folder or a .zip target, not a single file")
    if (target.lower().endswith(".zip") and name is None) or single:
        path = target
    else:
        fname = name or default_name(dataset, spec, save_images)
        if archive and not fname.lower().endswith(".zip"):
            fname += ".zip"
        if not archive and fname.lower().endswith(".zip"):
            fname = fname[:-4]
        path = posixpath.join(target, fname) if "://" in target else _join_local(target, fname)
    ctx = WriteContext(format=spec.name, save_images=save_images, report=LossReport(spec.name),
                       options=options, progress=progress)
    with Sink(path, archive=archive, storage_options=storage_options, single_file=single) as sink, gc_paused():
        spec.write(dataset, sink, ctx)
    ctx.step(1.0, "done")
    if warn:
        ctx.report.warn(stacklevel=4)
    return ExportResult(path, ctx.report)


# A target ending in one of these names the file itself (``ds.export("out/tasks.json", "JSON")``),
# for formats that write one file; anything else is a folder that gets the default name.
FILE_SUFFIXES = (".json", ".xml", ".csv", ".tsv", ".txt", ".conll", ".jsonl")


def is_file_target(target: str) -> bool:
    base = posixpath.basename(target.split("?")[0].rstrip("/"))
    return base.lower().endswith(FILE_SUFFIXES) and not _is_dir(target)


def _is_dir(target: str) -> bool:
    import os

    return "://" not in target and os.path.isdir(target)


def _join_local(folder: str, fname: str) -> str:
    import os

    return os.path.join(folder, fname)
