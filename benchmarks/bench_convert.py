"""COCO -> YOLO 1.1 / Pascal VOC 1.1 / CVAT for images 1.1 conversion: annowidgets beside Datumaro
and globox, on the same generated COCO file.

    python3 benchmarks/bench_convert.py [--small] [--images 20000] [--boxes 200000]

Generates a COCO 1.0 instances file (20k images, 200k boxes, sizes in the JSON, no image files),
then runs every (tool, target) pair in its own process, so that peak memory (VmHWM) belongs to
that one conversion. Each process times itself from just before reading the COCO file to just
after the target is written (interpreter start and imports excluded) and reports its peak RSS.
- annowidgets: ``aw.load(folder, format="COCO 1.0").export(out, format=..., archive=False)``;
- Datumaro (``ANNOWIDGETS_ORACLE_PYTHON``, the oracle venv): ``Dataset.import_from(folder,
  "coco_instances").export(out, "yolo" | "voc" | "cvat")``;
- globox (``ANNOWIDGETS_GLOBOX_PYTHON``, a venv with ``pip install globox``):
  ``AnnotationSet.from_coco(file).save_yolo_darknet / save_pascal_voc / save_cvat``.
A peer whose interpreter variable is unset is left out. ``--dir /dev/shm`` keeps the disk out of
the numbers (20k small files per target: on a shared disk their creation time alone varies by
seconds between runs). This file imports only the standard
library at the top, so the peers' interpreters can run it in ``--child`` mode.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGETS = {"yolo": "YOLO 1.1", "voc": "PASCAL VOC 1.1", "cvat": "CVAT for images 1.1"}
PEERS = {"datumaro": "ANNOWIDGETS_ORACLE_PYTHON", "globox": "ANNOWIDGETS_GLOBOX_PYTHON"}


def _rss(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def _count_files(folder: str) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def _annowidgets(coco_dir: str, target: str, out: str) -> None:
    import warnings

    import annowidgets as aw

    t0 = time.perf_counter()
    ds = aw.load(coco_dir, format="COCO 1.0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.export(out, format=TARGETS[target], archive=False, name="out")
    return t0


def _datumaro(coco_dir: str, target: str, out: str) -> float:
    import logging

    from datumaro.components.dataset import Dataset

    logging.disable(logging.WARNING)  # one "image not found" line per item otherwise
    t0 = time.perf_counter()
    ds = Dataset.import_from(coco_dir, "coco_instances")
    ds.export(os.path.join(out, "out"), {"voc": "voc_detection"}.get(target, target), save_media=False)
    return t0


def _globox(coco_dir: str, target: str, out: str) -> float:
    from globox import AnnotationSet

    t0 = time.perf_counter()
    anns = AnnotationSet.from_coco(os.path.join(coco_dir, "annotations", "instances_default.json"))
    dest = os.path.join(out, "out")
    if target == "yolo":
        anns.save_yolo_darknet(dest)
    elif target == "voc":
        anns.save_pascal_voc(dest)
    else:
        os.makedirs(dest, exist_ok=True)
        anns.save_cvat(os.path.join(dest, "annotations.xml"))
    return t0


def child(tool: str, target: str, coco_dir: str, out: str) -> None:
    """One conversion in this process; print JSON: seconds, peak RSS, files written."""
    if tool == "annowidgets":
        sys.path.insert(0, ROOT)
    run = {"annowidgets": _annowidgets, "datumaro": _datumaro, "globox": _globox}[tool]
    t0 = run(coco_dir, target, out)
    seconds = time.perf_counter() - t0
    print(json.dumps({"tool": tool, "target": target, "seconds": round(seconds, 3),
                      "peak_mb": round(_rss("VmHWM"), 1), "files": _count_files(out)}))


def measure(python: str, tool: str, target: str, coco_dir: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(dir=os.path.dirname(coco_dir)) as out:  # beside the input, not in it
        load = os.getloadavg()[0]
        wall0 = time.perf_counter()
        proc = subprocess.run([python, os.path.abspath(__file__), "--child", tool, target, coco_dir, out],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        wall = time.perf_counter() - wall0
    if proc.returncode != 0:
        return {"tool": tool, "target": target, "error": proc.stderr.strip().splitlines()[-1:] or ["?"]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(process_s=round(wall, 2), load=round(load, 2))
    return res


def table(results: list[dict], tools: list[str]) -> str:
    """A markdown table: seconds and peak RSS per tool, and each peer's ratio to annowidgets."""
    head = ["target"] + [f"{t} s / MB" for t in tools] + [f"{t} ÷ annowidgets (time)" for t in tools[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(r["tool"], r["target"]): r for r in results}
    for target, name in TARGETS.items():
        cells, ours = [name], by.get(("annowidgets", target), {})
        for t in tools:
            r = by.get((t, target), {})
            cells.append(f"{r['seconds']:.2f} s / {r['peak_mb']:.0f} MB" if "seconds" in r else "failed")
        for t in tools[1:]:
            r = by.get((t, target), {})
            ok = "seconds" in r and "seconds" in ours
            cells.append(f"{r['seconds'] / ours['seconds']:.1f}× ({r['peak_mb'] / ours['peak_mb']:.1f}× mem)"
                         if ok else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--boxes", type=int, default=200000)
    ap.add_argument("--small", "--quick", action="store_true", help="2k images / 20k boxes")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per conversion")
    ap.add_argument("--dir", default=None, help="where to generate and write (e.g. /dev/shm: file creation "
                    "on a busy disk varies by seconds between runs; on tmpfs the tools' own work is measured)")
    ap.add_argument("--only", default="", help="comma-separated tools to run (default: all available)")
    ap.add_argument("--child", nargs=4, metavar=("TOOL", "TARGET", "COCO_DIR", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.small:
        args.images, args.boxes = args.images // 10, args.boxes // 10
    sys.path.insert(0, HERE)
    from bench_coco import generate  # the same COCO file bench_coco loads

    tools = {"annowidgets": sys.executable}
    for tool, var in PEERS.items():
        if os.environ.get(var):
            tools[tool] = os.environ[var]
        else:
            print(f"({tool} left out: {var} is not set)")
    if args.only:
        tools = {t: p for t, p in tools.items() if t in args.only.split(",")}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        t0 = time.perf_counter()
        coco_dir = os.path.join(tmp, "coco")
        path = generate(coco_dir, args.images, args.boxes)
        os.makedirs(os.path.join(coco_dir, "images", "default"))  # Datumaro insists on the folder, not the files
        print(f"generated {args.images} images / {args.boxes} boxes, {os.path.getsize(path) / 1e6:.1f} MB JSON "
              f"in {time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        results = []
        for target in TARGETS:
            for tool, python in tools.items():
                r = measure(python, tool, target, coco_dir, args.timeout)
                results.append(r)
                if "error" in r:
                    print(f"{tool:<12} -> {TARGETS[target]:<22} FAILED: {r['error'][0]}", flush=True)
                else:
                    print(f"{tool:<12} -> {TARGETS[target]:<22} {r['seconds']:>8.2f} s {r['peak_mb']:>8.0f} MB peak "
                          f"{r['files']:>7} files  (process {r['process_s']:.1f} s, load {r['load']:.2f})", flush=True)
        print()
        print(table(results, list(tools)))


if __name__ == "__main__":
    main()
