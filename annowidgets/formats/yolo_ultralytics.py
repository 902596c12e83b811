"""The Ultralytics YOLO layout shared by detection, oriented boxes, segmentation and pose.

``data.yaml`` (``path``, one key per subset naming ``<subset>.txt``, ``names`` as an
``{id: name}`` map, ``kpt_shape``/``kpt_names`` for pose), ``images/<subset>/<name>``,
``labels/<subset>/<stem>.txt`` and ``<subset>.txt`` image lists. Import also accepts the
reversed ``<subset>/images`` + ``<subset>/labels`` order (Roboflow) and ``names`` as a
list. The per-format modules only supply the line codec.
"""
from __future__ import annotations

import posixpath
from collections.abc import Callable

import numpy as np
import yaml

from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from .yolo_common import Lines, parse
from .yolo_layout import Plan, build, line_items, pair, plan, sizes, write_labels

_NOT_SUBSETS = {"path", "names", "nc", "kpt_shape", "flip_idx", "kpt_names", "download", "yaml_file", "channels",
                "skeleton", "skeletons", "task"}
TASKS = ("detect", "segment", "obb", "pose", "classify")  # Ultralytics' own task names


def find_yaml(source) -> str | None:
    hits = sorted(source.glob("data.yaml", "*/data.yaml", "data.yml", "*/data.yml"), key=lambda r: r.count("/"))
    return hits[0] if hits else None


def load_yaml(source, rel: str) -> dict:
    try:
        data = yaml.safe_load(source.read_text(rel)) or {}
    except yaml.YAMLError as exc:
        raise FormatError(source.display(rel), f"not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise FormatError(source.display(rel), "expected a mapping at the top level")
    return data


def class_names(source, rel: str, data: dict) -> list[str]:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError) as exc:
            raise FormatError(source.display(rel), "names: keys must be class ids (integers)") from exc
        if ids != list(range(len(ids))):
            raise FormatError(source.display(rel), f"names: class ids must be 0..{len(ids) - 1}, got {ids[:10]}")
        by = {int(k): str(v) for k, v in names.items()}
        return [by[i] for i in ids]
    if isinstance(names, list):
        return [str(n) for n in names]
    raise FormatError(source.display(rel), "names: expected a map {id: name} or a list of class names")


def groups(source, base: str, data: dict) -> list[tuple[str, str, str, list[str]]]:
    """(subset, label root, image root, label files) for every subset found."""
    pre = base + "/" if base else ""
    subs: dict[str, tuple[str, str]] = {}
    for f in source.files:
        if not f.startswith(pre):
            continue
        parts = f[len(pre):].split("/")
        if len(parts) >= 3 and parts[0] in ("labels", "images"):
            subs.setdefault(parts[1], (f"{pre}labels/{parts[1]}", f"{pre}images/{parts[1]}"))
        elif len(parts) >= 3 and parts[1] in ("labels", "images"):
            subs.setdefault(parts[0], (f"{pre}{parts[0]}/labels", f"{pre}{parts[0]}/images"))
    for key in data:
        if key not in _NOT_SUBSETS and key not in subs and isinstance(data[key], str):
            subs[key] = (f"{pre}labels/{key}", f"{pre}images/{key}")
    out = []
    for s, (lroot, iroot) in sorted(subs.items()):
        lrels = [f for f in source.files if f.startswith(lroot + "/") and f.endswith(".txt")]
        out.append((s, lroot, iroot, lrels))
    return out


Decoder = Callable[[Lines, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list, dict], list]


def read(source, decode: Decoder, options: dict, what: str):
    """Read an Ultralytics layout; ``decode(lines, cls, item, W, H, classes, data)`` -> parts."""
    rel = find_yaml(source)
    if rel is None:
        raise FormatError(source.url, f"no data.yaml found; {what} needs data.yaml with the class names")
    data = load_yaml(source, rel)
    classes = class_names(source, rel, data)
    base = posixpath.dirname(rel)
    with gc_paused():
        found = pair(source, groups(source, base, data))
        lines = parse(source, [r for r in found.label if r is not None])
        cls = lines.class_ids(len(classes)) if len(lines) else np.zeros(0, dtype=np.int64)
        item = line_items(lines, found)
        used = np.zeros(len(found), dtype=bool)
        used[item] = True
        W, H = sizes(source, found, used, options)
        parts, labels = decode(lines, cls, item, W, H, classes, data)
        return build(source, found, W, H, parts, classes, labels=labels, info={"data_yaml": data})


def write_layout(ds, sink, ctx, task: str, encode: Callable[[Plan], tuple[np.ndarray, list[str], np.ndarray,
                                                                              np.ndarray, list, dict]]) -> None:
    """Write the Ultralytics layout; ``encode(plan)`` -> (item pos, lines, W, H, classes, yaml extras).

    ``task`` (one of :data:`TASKS`) goes into data.yaml, so detection need not guess the flavour
    from the lines (a segmentation file of 4-point polygons reads like OBB, an empty one like
    anything).
    """
    p = plan(ds, lambda s, k: f"labels/{s}/{k}.txt", lambda s, k, e: f"images/{s}/{k}{e}")
    pos, lines, W, H, classes, extra = encode(p)
    subsets = list(dict.fromkeys(p.subsets))
    doc = {"path": ".", "task": task}
    doc.update({s: f"{s}.txt" for s in subsets})
    doc.update(extra)
    doc["names"] = dict(enumerate(classes))
    sink.write_text("data.yaml", yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    for s in subsets:
        sink.write_text(f"{s}.txt", "".join(f"{r}\n" for r, ss in zip(p.image_rels, p.subsets, strict=True)
                                            if ss == s))
    write_labels(ds, sink, ctx, p, pos, lines, W, H)


def detect_task(source) -> str | None:
    """The Ultralytics task of an input (one of :data:`TASKS` but classify), or None if it is none.

    ``task:`` in data.yaml (our exports write it) wins; then ``kpt_shape`` (pose); then the
    field counts of a sample of label lines: all 5/6 (class box [track]) detect, all 9 (class
    and 4 corners) obb, all odd >= 7 with some other than 9 (class and >= 3 points) segment;
    no lines at all: detect. Mixed box and polygon lines are no Ultralytics task.
    """
    rel = find_yaml(source)
    if rel is None:
        return None
    try:
        data = load_yaml(source, rel)
    except FormatError:
        return None
    task = data.get("task")
    if isinstance(task, str) and task.strip().lower() in TASKS:
        return task.strip().lower()
    if "kpt_shape" in data:
        return "pose"
    base = posixpath.dirname(rel)
    counts = []
    for _s, _l, _i, lrels in groups(source, base, data):
        for r in lrels[:20]:
            counts += [len(ln.split()) for ln in source.read_text(r).splitlines() if ln.strip()]
        if len(counts) > 50:
            break
    c = np.asarray(counts, dtype=np.int64)
    if not len(c) or np.isin(c, (5, 6)).all():
        return "detect"
    if (c == 9).all():
        return "obb"
    if ((c >= 7) & (c % 2 == 1)).all():
        return "segment"
    return None
