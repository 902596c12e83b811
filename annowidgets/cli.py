"""Command line: ``annowidgets convert | info | formats``.

Bad input ends with a one-line reason on stderr and exit code 1 (2 for usage errors), so
the command composes in shell pipelines and CI jobs.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

from . import api
from .core.errors import AnnowidgetsError
from .core.loss import LossWarning


class ProgressBar:
    """A one-line progress bar on stderr, shown only on a terminal (or when forced)."""

    def __init__(self, label: str, stream=None, force: bool = False, width: int = 30):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.width = width
        self.start = time.monotonic()
        self._last = -1.0

    def __call__(self, fraction: float, message: str = "") -> None:
        if not self.enabled or (fraction - self._last < 0.01 and fraction < 1.0):
            return
        self._last = fraction
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.monotonic() - self.start
        self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {elapsed:6.1f}s {message[:30]:<30}")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="annowidgets", description="Convert and inspect annotation exports.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="convert SRC into DST (a folder, or an archive path ending in .zip)")
    c.add_argument("src", help="file, folder or zip (any fsspec URL)")
    c.add_argument("dst", help="output folder or .zip path (any fsspec URL)")
    c.add_argument("--to", required=True, help="target format (see 'annowidgets formats')")
    c.add_argument("--from", dest="from_", default=None, help="source format (default: detected)")
    c.add_argument("--save-images", action="store_true", help="copy the media into the output")
    c.add_argument("--name", default=None, help="archive name (default: CVAT's pattern)")
    c.add_argument("--no-archive", action="store_true", help="write a folder instead of a zip")
    c.add_argument("--progress", action="store_true", help="show progress even when stderr is not a terminal")
    c.add_argument("--to-polygons", action="store_true", help="read masks as polygons (CVAT's 'Convert masks to "
                                                                "polygons')")

    i = sub.add_parser("info", help="counts per label, type and source; subsets; tasks")
    i.add_argument("src")
    i.add_argument("--format", default=None)
    i.add_argument("--to-polygons", action="store_true", help="read masks as polygons")

    sub.add_parser("formats", help="list the formats and what they carry")
    return p


def _read_options(args) -> dict:
    return {"to_polygons": True} if args.to_polygons else {}


def _info(args) -> int:
    ds = api.load(args.src, format=args.format, **_read_options(args))
    s = ds.summary()
    print(f"{args.src}: {ds.info.get('format', '?')}")
    print(f"  items: {s['items']}  annotations: {s['annotations']}  sets: {s['sets']}  "
          f"tasks: {s['tasks']}  jobs: {s['jobs']}")
    for title, key in (("subsets", "subsets"), ("by source", "by_source"), ("by type", "by_type"),
                       ("by label", "by_label")):
        if s[key]:
            print(f"  {title}: " + ", ".join(f"{k}={v}" for k, v in s[key].items()))
    if ds.loss:
        print(f"  read losses: {ds.loss.summary()}")
    return 0


def _convert(args) -> int:
    bar = ProgressBar(f"-> {args.to}", force=args.progress)
    bar(0.0, "reading")
    ds = api.load(args.src, format=args.from_, **_read_options(args))
    bar(0.3, f"{len(ds.annotations)} annotations")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LossWarning)
        from .formats import registry

        def step(f: float, msg: str = "") -> None:
            bar(0.3 + 0.7 * f, msg)

        result = registry.export(ds, args.dst, args.to, save_images=args.save_images, name=args.name,
                                 archive=not args.no_archive, progress=step)
    bar(1.0, "done")
    print(result)
    for w in caught:
        if issubclass(w.category, LossWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    return 0


def _formats(_args) -> int:
    t = api.formats()
    for row in t.to_dict("records"):
        io = "/".join(k for k in ("import", "export") if row[k])
        print(f"{row['name']:<48} {io:<14} {', '.join(row['shapes'])}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"convert": _convert, "info": _info, "formats": _formats}[args.command]
    try:
        return handler(args)
    except BrokenPipeError:  # `annowidgets formats | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except (AnnowidgetsError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"annowidgets: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("annowidgets: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
