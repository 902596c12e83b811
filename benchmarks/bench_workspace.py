"""The workspace at scale: create a project from a Dataset, replace a task's annotations,
read them back, export a task and a job (CVAT for images 1.1), time each step.

    python3 benchmarks/bench_workspace.py --images 20000 --boxes 200000

Each step is one SQLite transaction or one read; ``ru_maxrss`` is the process peak.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import annowidgets as aw  # noqa: E402
from annowidgets.core.loss import LossWarning  # noqa: E402
from annowidgets.workspace import transfer  # noqa: E402


def make_dataset(n_images: int, n_boxes: int, seed: int = 0) -> aw.Dataset:
    rng = np.random.default_rng(seed)
    labels = [f"class_{i}" for i in range(20)]
    item = np.sort(rng.integers(0, n_images, n_boxes))
    return aw.Dataset(
        items={"item_id": np.arange(n_images), "name": [f"img_{i:06d}.jpg" for i in range(n_images)],
               "frame": np.arange(n_images), "subset": "train", "width": 640, "height": 480},
        annotations={"ann_id": np.arange(n_boxes), "item_id": item, "frame": item,
                     "label": rng.choice(labels, n_boxes), "type": "bbox",
                     "x": rng.uniform(0, 600, n_boxes).round(2), "y": rng.uniform(0, 440, n_boxes).round(2),
                     "w": rng.uniform(4, 40, n_boxes).round(2), "h": rng.uniform(4, 40, n_boxes).round(2),
                     "attributes": [{"occluded_by": "none"}] * n_boxes},
        labels={"name": labels},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--boxes", type=int, default=50000)
    ap.add_argument("--quick", action="store_true", help="1,000 images, 10,000 boxes")
    args = ap.parse_args()
    if args.quick:
        args.images, args.boxes = 1000, 10000
    ds = make_dataset(args.images, args.boxes)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    try:
        ws = aw.Workspace(tmp / "ws")

        def step(name, fn):
            t0 = time.perf_counter()
            out = fn()
            rows.append((name, time.perf_counter() - t0))
            return out

        p = step("create_project_from (one task)", lambda: ws.create_project_from(ds, segment_size=500))
        t = p.tasks[0]
        step("import annotations (replace task)", lambda: transfer.import_annotations(ws, "task", t.id, ds))
        n = len(step("task.annotations (read)", lambda: t.annotations))
        assert n == args.boxes, n
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LossWarning)
            step("task export CVAT for images (request)",
                 lambda: t.export(format="CVAT for images 1.1", target=str(tmp / "out")).wait())
            step("job export CVAT for images (request)",
                 lambda: t.jobs[0].export(format="CVAT for images 1.1", target=str(tmp / "out")).wait())
        ws.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"workspace: {args.images:,} images, {args.boxes:,} boxes")
    for name, sec in rows:
        print(f"  {name:<40} {sec:7.2f} s")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
