"""COCO load/export speed and peak memory, beside pycocotools in the same run.

    python3 benchmarks/bench_coco.py [--images 20000] [--boxes 200000] [--repeat 3]

Generates a COCO instances file (``annotations/instances_default.json``), then times, each
in its own subprocess so that peak memory (VmHWM) belongs to that one operation:
- ``annowidgets load``: ``aw.load(folder)`` to a Dataset, then ``ds.to_dataframe()``;
- ``annowidgets export``: the loaded dataset written back as COCO 1.0 (folder, no zip);
- ``pycocotools COCO()``: the peer, loading the same file and building its index.
Times are the best of ``--repeat`` runs in seconds; memory is the process peak and the
peak above the process's size after imports.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate(folder: str, n_images: int, n_boxes: int, seed: int = 0) -> str:
    """A COCO instances file with ``n_boxes`` boxes spread over ``n_images`` 640x480 images."""
    rng = np.random.default_rng(seed)
    img = rng.integers(1, n_images + 1, n_boxes)
    img.sort()
    cat = rng.integers(1, 81, n_boxes)
    xy = rng.random((n_boxes, 2)) * [600, 440]
    wh = rng.random((n_boxes, 2)) * 40 + 1
    doc = {
        "info": {}, "licenses": [],
        "categories": [{"id": i, "name": f"class_{i}", "supercategory": ""} for i in range(1, 81)],
        "images": [{"id": i, "file_name": f"img_{i:06d}.jpg", "width": 640, "height": 480}
                   for i in range(1, n_images + 1)],
        "annotations": [{"id": k + 1, "image_id": int(i), "category_id": int(c), "segmentation": [],
                         "area": float(w * h), "bbox": [round(float(x), 2), round(float(y), 2), round(float(w), 2),
                                                        round(float(h), 2)], "iscrowd": 0}
                        for k, (i, c, (x, y), (w, h)) in enumerate(zip(img, cat, xy, wh, strict=False))],
    }
    os.makedirs(os.path.join(folder, "annotations"), exist_ok=True)
    path = os.path.join(folder, "annotations", "instances_default.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def _rss(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(op: str, folder: str, repeat: int) -> None:
    """Run one operation ``repeat`` times in this process; print JSON with time and memory."""
    sys.path.insert(0, ROOT)
    import warnings

    from pycocotools.coco import COCO

    import annowidgets as aw

    path = os.path.join(folder, "annotations", "instances_default.json")
    ds = aw.load(folder, format="COCO 1.0") if op == "export" else None
    base = _rss("VmRSS")
    best = float("inf")
    rows = 0
    for r in range(repeat):
        t0 = time.perf_counter()
        if op == "load":
            df = aw.load(folder, format="COCO 1.0").to_dataframe()
            rows = len(df)
        elif op == "export":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.export(os.path.join(folder, "out"), format="COCO 1.0", archive=False, name=f"run{r}")
            rows = len(ds.annotations)
        elif op == "pycocotools":
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                coco = COCO(path)
            rows = len(coco.anns)
        best = min(best, time.perf_counter() - t0)
        df = coco = None  # noqa: F841 - let the next run start from the same state
    print(json.dumps({"op": op, "best_s": round(best, 3), "rows": rows, "peak_mb": round(_rss("VmHWM"), 1),
                      "after_imports_mb": round(base, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--boxes", type=int, default=200000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("OP", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = generate(tmp, args.images, args.boxes)
        print(f"generated {args.images} images / {args.boxes} boxes, {os.path.getsize(path) / 1e6:.1f} MB JSON "
              f"in {time.perf_counter() - t0:.1f} s")
        print(f"{'operation':<22}{'best of ' + str(args.repeat) + ' (s)':>16}{'peak RSS (MB)':>16}"
              f"{'above imports (MB)':>20}{'rows':>10}")
        for op, label in (("load", "annowidgets load"), ("export", "annowidgets export"),
                          ("pycocotools", "pycocotools COCO()")):
            res = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat), "--child", op, tmp],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{label:<22}{r['best_s']:>16.3f}{r['peak_mb']:>16.1f}{r['peak_mb'] - r['after_imports_mb']:>20.1f}"
                  f"{r['rows']:>10}")


if __name__ == "__main__":
    main()
