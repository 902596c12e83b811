"""Label Studio JSON at scale: 20,000 tasks x 4 rectangles (+ a prediction each).

Times (best of N, seconds) and peak traced memory of: plain ``orjson.loads`` of the file
(the floor), ``annowidgets.load`` to the Dataset, and the JSON_MIN and CSV exports.
Run: ``python3 benchmarks/bench_ls_json.py [--tasks 20000] [--repeat 3]``.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
import tracemalloc
import warnings

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import annowidgets as aw  # noqa: E402


def make_tasks(n: int, regions: int = 4, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)

    def box(i, j, pred=False):
        r = {"id": f"r{i}_{j}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
             "original_width": 1280, "original_height": 720, "image_rotation": 0,
             "value": {"x": rnd.uniform(0, 80), "y": rnd.uniform(0, 80), "width": rnd.uniform(1, 20),
                       "height": rnd.uniform(1, 20), "rotation": 0, "rectanglelabels": [rnd.choice("ABCD")]}}
        if pred:
            r["score"] = rnd.random()
        return r

    return [{"id": i, "data": {"image": f"/data/upload/1/img_{i:06d}.jpg"},
             "annotations": [{"id": i, "completed_by": 1, "result": [box(i, j) for j in range(regions)],
                              "was_cancelled": False, "ground_truth": False,
                              "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:00Z",
                              "lead_time": 3.5}],
             "predictions": [{"id": 10**7 + i, "model_version": "m1", "score": 0.5,
                              "result": [box(i, j, True) for j in range(regions)]}]}
            for i in range(n)]


def measure(fn, repeat: int) -> tuple[float, float]:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "tasks.json")
    with open(path, "wb") as f:
        f.write(orjson.dumps(make_tasks(args.tasks)))
    size = os.path.getsize(path) / 2**20
    print(f"{args.tasks} tasks x 4 rectangles + 1 prediction each: {size:.1f} MB")
    holder = {}

    def floor():
        with open(path, "rb") as f:
            orjson.loads(f.read())

    def load():
        holder["ds"] = aw.load(path)

    rows = [("orjson.loads (floor)", *measure(floor, args.repeat)),
            ("annowidgets.load -> Dataset", *measure(load, args.repeat))]
    ds = holder["ds"]
    print(f"  annotations rows: {len(ds.annotations)}, sets: {len(ds.sets)}, items: {len(ds.items)}")
    for fmt in ("JSON_MIN", "CSV", "Label Studio JSON"):
        def export(fmt=fmt):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.export(tmp, format=fmt, archive=False, name=f"out_{fmt.replace(' ', '_')}")
        rows.append((f"export {fmt}", *measure(export, args.repeat)))
    print(f"  {'step':32s} {'best s':>8s} {'peak MB':>9s}")
    for name, t, m in rows:
        print(f"  {name:32s} {t:8.2f} {m:9.0f}")


if __name__ == "__main__":
    main()
