"""CVAT XML read/write speed: bare lxml iterparse vs ``annowidgets.load`` vs export.

Generates a "CVAT for images 1.1" task with IMAGES x BOXES boxes (default 2000 x 50 = 100k)
in a temp dir, then, in ONE process, runs REPEAT interleaved rounds of (the machine is shared,
so every contender sees the same load; best and median per phase are reported):
  0) lxml iterparse alone (no attribute read): the floor;
  a) lxml.etree.iterparse(tag="box") over the file, every box's 8 attributes appended to lists;
  b) annowidgets.load(...) to the Dataset (DataFrames);
  c) export of that Dataset back to CVAT XML (a zip).
The cyclic GC is paused around each phase for all of them alike (load pauses it itself).
``--rss`` also runs each phase in a fresh subprocess for its peak RSS (ru_maxrss).
Usage: python3 benchmarks/bench_cvat_xml.py [--images 2000] [--boxes 50] [--repeat 5] [--quick] [--rss]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>1</id>
      <name>bench</name>
      <size>{n}</size>
      <mode>annotation</mode>
      <overlap>0</overlap>
      <bugtracker></bugtracker>
      <created>2025-01-01 00:00:00+00:00</created>
      <updated>2025-01-01 00:00:00+00:00</updated>
      <subset>default</subset>
      <start_frame>0</start_frame>
      <stop_frame>{stop}</stop_frame>
      <frame_filter></frame_filter>
      <segments>
      </segments>
      <owner>
        <username>bench</username>
        <email></email>
      </owner>
      <assignee></assignee>
      <labels>
        <label>
          <name>car</name>
          <color>#fa3253</color>
          <type>rectangle</type>
          <attributes>
          </attributes>
        </label>
        <label>
          <name>person</name>
          <color>#0c81b5</color>
          <type>rectangle</type>
          <attributes>
          </attributes>
        </label>
      </labels>
    </task>
    <dumped>2025-01-01 00:00:00+00:00</dumped>
  </meta>"""


def generate(path: str, images: int, boxes: int) -> None:
    rnd = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEAD.format(n=images, stop=images - 1))
        for i in range(images):
            parts = [f'\n  <image id="{i}" name="img_{i:06d}.jpg" width="1920" height="1080">']
            for _ in range(boxes):
                x, y = rnd.uniform(0, 1800), rnd.uniform(0, 1000)
                w, h = rnd.uniform(5, 100), rnd.uniform(5, 70)
                parts.append(f'\n    <box label="{rnd.choice(("car", "person"))}" source="manual" occluded="0" '
                             f'xtl="{x:.2f}" ytl="{y:.2f}" xbr="{x + w:.2f}" ybr="{y + h:.2f}" z_order="0">'
                             '\n    </box>')
            parts.append("\n  </image>")
            f.write("".join(parts))
        f.write("\n</annotations>\n")


def phase_parse_only(path: str) -> int:
    from lxml import etree

    n = 0
    for _ in etree.iterparse(path, events=("end",), resolve_entities=False, no_network=True):
        n += 1
    return n


def phase_iterparse(path: str) -> int:
    from lxml import etree

    cols = {k: [] for k in ("label", "source", "occluded", "xtl", "ytl", "xbr", "ybr", "z_order")}
    ap = [(k, cols[k].append) for k in cols]
    for _, el in etree.iterparse(path, events=("end",), tag="box", resolve_entities=False, no_network=True):
        g = el.get
        for k, a in ap:
            a(g(k))
    return len(cols["xtl"])


def phase_load(path: str) -> int:
    import annowidgets as aw

    return len(aw.load(path, format="CVAT for images 1.1").annotations)


def phase_export(path: str) -> int:
    import warnings

    import annowidgets as aw

    ds = aw.load(path, format="CVAT for images 1.1")
    out = os.path.join(os.path.dirname(path), "out.zip")
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.export(out, format="CVAT for images 1.1")
    return (time.perf_counter() - t0, time.process_time() - c0)  # the caller times only the export


PHASES = {"parse_only": phase_parse_only, "iterparse": phase_iterparse, "load": phase_load, "export": phase_export}
LABELS = {"parse_only": "0) lxml iterparse, no attrs", "iterparse": "a) bare lxml iterparse",
          "load": "b) annowidgets.load", "export": "c) export CVAT XML"}


def run_phase(name: str, path: str, repeat: int) -> dict:
    best = best_cpu = float("inf")
    n = 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        r = PHASES[name](path)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if isinstance(r, tuple):  # export reports its own (wall, cpu) times
            (dt, dc), r = r, 0
        n = r
        best, best_cpu = min(best, dt), min(best_cpu, dc)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {"phase": name, "seconds": best, "cpu_seconds": best_cpu, "peak_rss_mib": rss, "rows": n}


def timed(name: str, path: str) -> tuple[float, float, int]:
    """(wall, cpu, rows) of one run of a phase, the cyclic GC paused as load pauses it."""
    import gc

    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        r = PHASES[name](path)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    finally:
        if was:
            gc.enable()
    if isinstance(r, tuple):  # export times itself (the load before it is not export)
        (dt, dc), r = r, 0
    return dt, dc, r


def same_process(path: str, repeat: int) -> dict:
    """Interleaved rounds in this process: one warm-up of each phase, then ``repeat`` rounds."""
    times: dict = {name: {"wall": [], "cpu": [], "rows": 0} for name in PHASES}
    for name in PHASES:  # warm-up: imports, page cache
        timed(name, path)
    for _ in range(repeat):
        for name in PHASES:
            dt, dc, r = timed(name, path)
            times[name]["wall"].append(dt)
            times[name]["cpu"].append(dc)
            times[name]["rows"] = r
    return times


def rss(path: str, root: str) -> dict:
    """Peak RSS of each phase in its own process (imports included)."""
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = {}
    for name in PHASES:
        proc = subprocess.run([sys.executable, __file__, "--phase", name, "--path", path, "--repeat", "1"],
                              capture_output=True, text=True, env=env, check=True)
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_mib"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--boxes", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="200 x 50 boxes, 3 rounds (smoke run)")
    ap.add_argument("--rss", action="store_true", help="also peak RSS per phase (one subprocess each)")
    ap.add_argument("--phase")
    ap.add_argument("--path")
    args = ap.parse_args()
    if args.phase:  # child process (--rss)
        print(json.dumps(run_phase(args.phase, args.path, args.repeat)))
        return
    if args.quick:
        args.images, args.repeat = 200, 3
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "annotations.xml")
        generate(path, args.images, args.boxes)
        size = os.path.getsize(path) / 1e6
        print(f"{args.images} images x {args.boxes} boxes = {args.images * args.boxes} boxes, {size:.1f} MB XML; "
              f"{args.repeat} interleaved rounds in one process")
        times = same_process(path, args.repeat)
        peaks = rss(path, root) if args.rss else {}
    print(f"{'phase':<30}{'best wall s':>12}{'median wall':>12}{'best CPU s':>12}{'median CPU':>12}"
          + (f"{'peak RSS MiB':>14}" if peaks else ""))
    for name, t in times.items():
        line = (f"{LABELS[name]:<30}{min(t['wall']):>12.3f}{statistics.median(t['wall']):>12.3f}"
                f"{min(t['cpu']):>12.3f}{statistics.median(t['cpu']):>12.3f}")
        print(line + (f"{peaks[name]:>14.0f}" if peaks else ""))
    a, b = times["iterparse"], times["load"]
    print(f"ratio b/a: best {min(b['wall']) / min(a['wall']):.2f} (wall), {min(b['cpu']) / min(a['cpu']):.2f} (CPU); "
          f"median {statistics.median(b['wall']) / statistics.median(a['wall']):.2f} (wall), "
          f"{statistics.median(b['cpu']) / statistics.median(a['cpu']):.2f} (CPU)")


if __name__ == "__main__":
    main()
