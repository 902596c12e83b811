"""Benchmark: YOLO 1.1 and Ultralytics detection export + load back on a generated dataset.

Default: 20,000 images, 200,000 boxes (10 per image), 3 subsets. Reports the best of
``--repeat`` wall times in seconds and the peak Python memory (tracemalloc, one extra run).

    python3 benchmarks/bench_yolo.py [--images 20000] [--boxes 200000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import annowidgets as aw  # noqa: E402
from annowidgets.core.dataset import Dataset  # noqa: E402


def make(n_images: int, n_boxes: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    W = rng.integers(320, 1920, n_images)
    H = rng.integers(240, 1080, n_images)
    items = pd.DataFrame({"item_id": np.arange(n_images), "name": [f"d{i % 50}/img_{i:06d}.jpg" for i in range(n_images)],
                          "subset": rng.choice(["train", "val", "test"], n_images), "width": W, "height": H})
    item = np.sort(rng.integers(0, n_images, n_boxes))
    w = rng.uniform(2, W[item] / 3)
    h = rng.uniform(2, H[item] / 3)
    ann = pd.DataFrame({"ann_id": np.arange(n_boxes), "item_id": item,
                        "label": rng.choice([f"class_{k}" for k in range(20)], n_boxes),
                        "x": rng.uniform(0, W[item] - w), "y": rng.uniform(0, H[item] - h), "w": w, "h": h})
    return Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": [f"class_{k}" for k in range(20)]}))


def timed(fn, repeat: int) -> tuple[float, float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--boxes", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ds = make(args.images, args.boxes)
    tmp = Path(tempfile.mkdtemp(prefix="bench_yolo_"))
    rows = []
    try:
        for fmt in ("YOLO 1.1", "Ultralytics YOLO Detection 1.0"):
            target = str(tmp / (fmt.replace(" ", "_") + ".zip"))

            def export(fmt=fmt, target=target):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return ds.export(target, format=fmt)

            t_exp, m_exp, path = timed(export, args.repeat)
            t_load, m_load, back = timed(lambda fmt=fmt, path=path: aw.load(path, format=fmt), args.repeat)
            assert len(back.annotations) == args.boxes and len(back.items) == args.images
            rows.append({"format": fmt, "export_s": round(t_exp, 2), "export_peak_MB": round(m_exp, 1),
                         "load_s": round(t_load, 2), "load_peak_MB": round(m_load, 1),
                         "zip_MB": round(Path(path).stat().st_size / 2**20, 1)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.images} images, {args.boxes} boxes, best of {args.repeat}")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
