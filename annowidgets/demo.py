"""``python -m annowidgets.demo``: the sample project, loaded, summarised and exported.

The script form of the tour (``./dev demo``): it needs no browser, so it also shows on a
plain terminal what the library does with the bundled sample project.
"""
from __future__ import annotations

import argparse
import tempfile
import warnings

from . import api
from .core.loss import LossWarning
from .sample import sample_dataset

DEMO_FORMATS = ("CVAT for images 1.1", "COCO 1.0", "Label Studio JSON", "YOLO 1.1")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=None, help="folder for the exports (default: a temporary folder)")
    args = p.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="annowidgets-demo-")
    ds = sample_dataset()
    print(ds)
    s = ds.summary()
    print(f"subsets: {s['subsets']}  by source: {s['by_source']}  by type: {s['by_type']}")
    print(ds.to_dataframe()[["item_name", "label", "type", "source", "x", "y", "w", "h", "score"]].head(8)
          .to_string(index=False))
    known = set(api.formats()["name"])
    for fmt in DEMO_FORMATS:
        if fmt not in known:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LossWarning)
            path = ds.export(out, format=fmt)
        back = api.load(path)
        print(f"{fmt:<22} -> {path}\n{'':<25}read back: {len(back.items)} items, {len(back.annotations)} annotations")
        for w in caught:
            print(f"{'':<25}note: {w.message}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
