"""CVAT XML read/write speed: bare lxml iterparse vs ``annowidgets.load`` vs export.

Generates a "CVAT for images 1.1" task with IMAGES x BOXES boxes in a temp dir, then times
each phase in fresh subprocesses (REPEAT interleaved rounds, best time), so each phase's peak
RSS (ru_maxrss of its process, imports included) is its own:
  a) lxml.etree.iterparse over the file, every box's attributes appended to lists;
  b) annowidgets.load(...) to the Dataset (DataFrames);
  c) export of that Dataset back to CVAT XML (a zip).
Usage: python3 benchmarks/bench_cvat_xml.py [--images 2000] [--boxes 50] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
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


PHASES = {"iterparse": phase_iterparse, "load": phase_load, "export": phase_export}


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--boxes", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--phase")
    ap.add_argument("--path")
    args = ap.parse_args()
    if args.phase:  # child process
        print(json.dumps(run_phase(args.phase, args.path, args.repeat)))
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "annotations.xml")
        generate(path, args.images, args.boxes)
        size = os.path.getsize(path) / 1e6
        print(f"{args.images} images x {args.boxes} boxes = {args.images * args.boxes} boxes, {size:.1f} MB XML")
        results: dict = {}
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        # phases interleaved round by round (the machine is shared): best of the rounds per phase,
        # each child warms up once and keeps its best of two runs
        for _ in range(args.repeat):
            for name in PHASES:
                out = subprocess.run([sys.executable, __file__, "--phase", name, "--path", path, "--repeat", "2"],
                                     capture_output=True, text=True, env=env, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                if name not in results:
                    results[name] = r
                else:
                    for k in ("seconds", "cpu_seconds"):
                        results[name][k] = min(results[name][k], r[k])
    print(f"{'phase':<28}{'best wall s':>12}{'best CPU s':>12}{'peak RSS MiB':>15}")
    labels = {"iterparse": "a) bare lxml iterparse", "load": "b) annowidgets.load", "export": "c) export CVAT XML"}
    for name, r in results.items():
        print(f"{labels[name]:<28}{r['seconds']:>12.3f}{r['cpu_seconds']:>12.3f}{r['peak_rss_mib']:>15.0f}")
    wall = results["load"]["seconds"] / results["iterparse"]["seconds"]
    cpu = results["load"]["cpu_seconds"] / results["iterparse"]["cpu_seconds"]
    print(f"ratio b/a = {wall:.2f} (wall), {cpu:.2f} (CPU)")


if __name__ == "__main__":
    main()
