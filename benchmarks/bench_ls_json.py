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
import resource
import subprocess
import sys
import tempfile
import time
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


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(step: str, path: str, out: str, repeat: int) -> None:
    """One step in this (fresh) process: print best time and peak RSS above the import baseline."""
    base = _rss_mb()
    ds = aw.load(path) if step.startswith("export") else None
    before = _rss_mb()

    def floor():  # with the GC paused, as annowidgets.load does: the honest floor
        from annowidgets.core.gcpause import gc_paused

        with open(path, "rb") as f, gc_paused():
            orjson.loads(f.read())

    def load():
        aw.load(path)

    fmt = step.split(":", 1)[-1]

    def export():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.export(out, format=fmt, archive=False, name=f"out_{fmt.replace(' ', '_')}")

    fn = {"floor": floor, "load": load}.get(step, export)
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    print(orjson.dumps({"time": best, "peak_mb": _rss_mb(), "before_mb": before, "base_mb": base}).decode())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--step")
    ap.add_argument("--path")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.step:
        run_step(args.step, args.path, args.out, args.repeat)
        return
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "tasks.json")
    with open(path, "wb") as f:
        f.write(orjson.dumps(make_tasks(args.tasks)))
    size = os.path.getsize(path) / 2**20
    ds = aw.load(path)
    print(f"{args.tasks} tasks x 4 rectangles + 1 prediction each: {size:.1f} MB JSON -> "
          f"{len(ds.annotations)} annotation rows, {len(ds.sets)} sets, {len(ds.items)} items")
    del ds
    print(f"  {f'step (best of {args.repeat}, own process)':40s} {'seconds':>8s} {'peak RSS MB':>12s} "
          f"{'RSS before':>11s}")
    steps = [("floor", "orjson.loads of the file (floor)"), ("load", "annowidgets.load -> Dataset"),
             ("export:JSON_MIN", "export JSON_MIN"), ("export:CSV", "export CSV"),
             ("export:Label Studio JSON", "export Label Studio JSON")]
    for step, title in steps:
        res = subprocess.run([sys.executable, __file__, "--step", step, "--path", path, "--out", tmp,
                              "--repeat", str(args.repeat)], capture_output=True, text=True, check=True)
        r = orjson.loads(res.stdout.strip().splitlines()[-1])
        print(f"  {title:40s} {r['time']:8.2f} {r['peak_mb']:12.0f} {r['before_mb']:11.0f}")
    print(f"  (peak RSS: the step's process at its largest, imports included (about {r['base_mb']:.0f} MB); "
          "exports start from a loaded Dataset, 'RSS before' is the size before the step)")


if __name__ == "__main__":
    main()
