"""Export to Pascal VOC and load it back: time (best of N) and peak memory.

    python3 benchmarks/bench_voc.py --images 20000 --boxes 200000 --repeat 3

Peak memory is measured in a separate run under ``tracemalloc`` (Python and numpy
allocations), so the timed runs are not slowed down; ``ru_maxrss`` is the process peak.
"""
from __future__ import annotations

import argparse
import gc
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import annowidgets as aw  # noqa: E402
from annowidgets.core.loss import LossWarning  # noqa: E402


def make_dataset(n_images: int, n_boxes: int, seed: int = 0) -> aw.Dataset:
    rng = np.random.default_rng(seed)
    labels = [f"class_{i}" for i in range(20)]
    item = np.sort(rng.integers(0, n_images, n_boxes))
    x = rng.uniform(0, 600, n_boxes).round(2)
    y = rng.uniform(0, 440, n_boxes).round(2)
    return aw.Dataset(
        items={"item_id": np.arange(n_images), "name": [f"img_{i:06d}.jpg" for i in range(n_images)],
               "subset": np.where(np.arange(n_images) % 5 == 0, "val", "train"), "width": 640, "height": 480},
        annotations={"ann_id": np.arange(n_boxes), "item_id": item, "label": rng.choice(labels, n_boxes),
                     "type": "bbox", "x": x, "y": y, "w": rng.uniform(4, 40, n_boxes).round(2),
                     "h": rng.uniform(4, 40, n_boxes).round(2), "occluded": rng.random(n_boxes) < 0.1},
        labels={"name": labels},
    )


def run_once(ds: aw.Dataset, folder: Path, archive: bool) -> tuple[float, float, int]:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    gc.collect()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(folder), format="PASCAL VOC 1.1", archive=archive, name="voc")
    t1 = time.perf_counter()
    back = aw.load(out, format="PASCAL VOC 1.1")
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(back.annotations)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--boxes", type=int, default=200000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--folder", action="store_true", help="write a folder instead of a zip archive")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run")
    args = ap.parse_args()
    ds = make_dataset(args.images, args.boxes)
    tmp = Path(tempfile.mkdtemp(prefix="bench_voc_"))
    try:
        exports, loads = [], []
        for _ in range(args.repeat):
            e, lo, n = run_once(ds, tmp / "run", archive=not args.folder)
            assert n == args.boxes, (n, args.boxes)
            exports.append(e)
            loads.append(lo)
        print(f"VOC {'folder' if args.folder else 'zip'}: {args.images} images, {args.boxes} boxes")
        print(f"  export: best {min(exports):.2f} s  (runs: {', '.join(f'{v:.2f}' for v in exports)})")
        print(f"  load:   best {min(loads):.2f} s  (runs: {', '.join(f'{v:.2f}' for v in loads)})")
        if not args.no_memory:
            tracemalloc.start()
            shutil.rmtree(tmp / "run", ignore_errors=True)
            (tmp / "run").mkdir()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LossWarning)
                out = ds.export(str(tmp / "run"), format="PASCAL VOC 1.1", archive=not args.folder, name="voc")
            _, peak_export = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            aw.load(out, format="PASCAL VOC 1.1")
            _, peak_load = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"  peak traced memory: export {peak_export / 2**20:.0f} MB, load {peak_load / 2**20:.0f} MB")
        print(f"  process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
