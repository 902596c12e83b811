"""YOLO 1.1 (CVAT's darknet layout): ``obj.data``, ``obj.names``, ``obj_<subset>_data/<name>.txt``.

Boxes only (``cls cx cy w h`` normalised). Export puts items of subset "default" in
``train`` as CVAT does. Import reads the strict layout through ``obj.data`` and its
``<subset>.txt`` lists, and also Datumaro's loose layouts (``obj.names`` beside folders of
label files, with the images next to them or in a sibling ``images``/``Images`` folder).
"""
from __future__ import annotations

import posixpath

import numpy as np

from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from . import yolo_codecs as codecs
from .registry import FormatSpec, register
from .yolo_common import Lines, parse
from .yolo_layout import Found, build, is_image, line_items, pair, plan, sizes, strip, write_labels

_RESERVED = {"classes", "names", "backup", "eval", "results", "top"}
_NOT_LABELS = {"obj.names", "readme.txt", "classes.txt", "image_info.json"}


def _parse_data(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _resolve(source, base: str, path: str) -> str | None:
    """A path from obj.data/list files (``data/…`` in CVAT's archives) to a file of the input."""
    p = path.strip().replace("\\", "/")
    cands = [p, p[5:] if p.startswith("data/") else p, p.lstrip("./")]
    for c in cands:
        rel = posixpath.normpath(posixpath.join(base, c)) if base else posixpath.normpath(c)
        if source.exists(rel):
            return rel
    tail = posixpath.basename(p)
    hits = [f for f in source.files if posixpath.basename(f) == tail]
    return hits[0] if len(hits) == 1 else None


def _names(source, rel: str | None) -> list[str] | None:
    if rel is None:
        return None
    return [ln.strip() for ln in source.read_text(rel).splitlines() if ln.strip()]


def _strict(source, data_rel: str) -> tuple[list[str] | None, list]:
    base = posixpath.dirname(data_rel)
    data = _parse_data(source.read_text(data_rel))
    classes = _names(source, _resolve(source, base, data.get("names", "obj.names")))
    if classes is None:
        classes = _names(source, _resolve(source, base, "obj.names"))
    groups = []
    for subset, path in data.items():
        if subset in _RESERVED:
            continue
        folder = posixpath.join(base, f"obj_{subset}_data") if base else f"obj_{subset}_data"
        lrels = {f for f in source.files if f.startswith(folder + "/") and f.endswith(".txt")}
        lst = _resolve(source, base, path) if not lrels else None
        if lst is not None:  # no obj_<subset>_data folder: the list names the images, labels sit beside them
            for ln in source.read_text(lst).splitlines():
                img = _resolve(source, base, ln) if ln.strip() else None
                if img is not None:
                    folder = posixpath.dirname(img)
                    lab = posixpath.splitext(img)[0] + ".txt"
                    if source.exists(lab):
                        lrels.add(lab)
        groups.append((subset, folder, folder, sorted(lrels)))
    return classes, groups


def _loose(source) -> tuple[list[str] | None, list]:
    names = sorted(source.glob("obj.names", "*/obj.names"), key=lambda r: r.count("/"))
    classes = _names(source, names[0] if names else None)
    base = posixpath.dirname(names[0]) if names else ""
    by_dir: dict[str, list[str]] = {}
    for f in source.files:
        if f.endswith(".txt") and "/" in strip(f, base) and posixpath.basename(f).lower() not in _NOT_LABELS:
            by_dir.setdefault(posixpath.dirname(f), []).append(f)
    groups = []
    for d, lrels in sorted(by_dir.items()):
        parts = strip(d, base).split("/")
        iroot, subset = d, "default"
        for j, p in enumerate(parts):
            low = p.lower()
            if low in ("labels", "annotations"):
                swapped = "images" if low == "labels" else "Images"
                cand = "/".join(parts[:j] + [swapped if p.islower() else swapped.capitalize()] + parts[j + 1:])
                cand = posixpath.join(base, cand) if base else cand
                if any(f.startswith(cand + "/") and is_image(f) for f in source.files):
                    iroot = cand
                if j + 1 < len(parts):
                    subset = parts[j + 1]
            elif low.startswith("obj_") and low.endswith("_data"):
                subset = p[4:-5]
        groups.append((subset, d, iroot, sorted(lrels)))
    return classes, groups


def read(source, **options):
    """Read YOLO 1.1 (strict ``obj.data`` layout or Datumaro's loose ones) into tables."""
    data = sorted(source.glob("obj.data", "*/obj.data"), key=lambda r: r.count("/"))
    classes, groups = _strict(source, data[0]) if data else _loose(source)
    if classes is None:
        raise FormatError(source.display(data[0] if data else None), "no class list (obj.names) found")
    with gc_paused():
        found = pair(source, groups)
        lines = parse(source, [r for r in found.label if r is not None])
        return _decode(source, found, lines, classes, options, data[0] if data else "")


def _decode(source, found: Found, lines: Lines, classes: list[str], options: dict, where: str):
    lines.require((lines.n == 5), "5 (class cx cy w h)")
    cls = lines.class_ids(len(classes))
    item = line_items(lines, found)
    used = np.zeros(len(found), dtype=bool)
    used[item] = True
    W, H = sizes(source, found, used, options)
    cols = codecs.decode_boxes(lines, np.ones(len(lines), dtype=bool), W[item], H[item])
    cols.update(item=item, label=np.asarray(classes, dtype=object)[cls])
    return build(source, found, W, H, [cols], classes, {c: "rectangle" for c in classes})


def write(ds, sink, ctx) -> None:
    """Write YOLO 1.1: boxes (rotated ones as enclosing boxes, reported); other shapes reported."""
    p = plan(ds, lambda s, k: f"obj_{s}_data/{k}.txt", lambda s, k, e: f"obj_{s}_data/{k}{e}")
    classes = codecs.export_classes(ds, _base_classes(ds), ("bbox",))
    rows, W, H = codecs.prepare(ds, ctx, classes, ("bbox",))
    ctx.step(0.1, "boxes")
    lines = codecs.encode_boxes(rows, ctx)
    subsets = list(dict.fromkeys(p.subsets))
    data = [f"classes = {len(classes)}"] + [f"{s} = data/{s}.txt" for s in subsets]
    data += ["names = data/obj.names", "backup = backup/"]
    sink.write_text("obj.data", "\n".join(data) + "\n")
    sink.write_text("obj.names", "".join(c + "\n" for c in classes))
    for s in subsets:
        imgs = [f"data/{r}" for r, ss in zip(p.image_rels, p.subsets, strict=False) if ss == s]
        sink.write_text(f"{s}.txt", "".join(i + "\n" for i in imgs))
    write_labels(ds, sink, ctx, p, rows.pos, lines, W, H)


def _base_classes(ds) -> list[str]:
    from .yolo_common import class_list

    return class_list(ds)


def detect(source) -> float:
    if source.glob("obj.data", "*/obj.data"):
        return 0.9
    if source.glob("obj.names", "*/obj.names") and source.glob("*/*.txt"):
        return 0.6
    return 0.0


register(FormatSpec(
    name="YOLO 1.1", aliases=("yolo_darknet", "darknet", "yolo 1.1"), read=read, write=write, detect=detect,
    shapes=("bbox",), family="cvat",
    description="Darknet YOLO: obj.data, obj.names, obj_<subset>_data/<image>.txt (cls cx cy w h)",
))
