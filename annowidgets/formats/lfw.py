"""LFW 1.0 (Datumaro ``lfw``), as CVAT exports it.

Layout per subset: ``<subset>/annotations/pairs.txt``, ``landmarks.txt``, ``people.txt`` and,
with images, ``<subset>/images/<person>/<person>_<NNNN>.jpg``. Tab-separated lines:

- ``pairs.txt``: ``<person> <n1> <n2>`` (a matching pair: two images of one person),
  ``<person1> <n1> <person2> <n2>`` (a mismatched pair; ``-`` for an image without a person),
  ``<person>/<image id>`` or ``<image id>`` (an image in no pair); a number ``n`` names
  ``<person>_<n:04d>``; a two-field line is LFW's header and is skipped;
- ``landmarks.txt``: ``<person>/<image>`` then the point coordinates (Datumaro writes just
  ``<image>``: the points then get the image's person from ``pairs.txt``);
- ``people.txt``: ``<person> <image count>`` (a one-field header line is skipped).

We read each image's person as a tag whose attributes ``positive_pairs`` / ``negative_pairs``
list the images it is paired with (``<person>/<person>_<NNNN>``, Datumaro's form; on the first
image of each pair, as in the file), and each landmark line as a ``points`` shape labelled with
its folder (we write the points' own label there, else the image's person). Item names are ``<image id>.jpg`` (the image's own extension when it is there).
"""
from __future__ import annotations

import posixpath
import re

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.media_types import IMAGE_EXTS
from ._carry import report_scores
from ._faces import Unique, build, empty_ann_cols, meta_labels, num, under
from ._media import copy_media
from .registry import FormatSpec, register
from .yolo_common import class_list, image_size, item_names, select_rows

ANN_DIR = "annotations"
PAIRS, LANDMARKS, PEOPLE = "pairs.txt", "landmarks.txt", "people.txt"
IMAGES = "images"
POS, NEG = "positive_pairs", "negative_pairs"


def _roots(source) -> dict[str, str]:
    """subset folder ('' at the top) -> subset name, for every ``<dir>/annotations/pairs.txt``."""
    out = {}
    for f in source.glob(f"{ANN_DIR}/{PAIRS}", f"*/{ANN_DIR}/{PAIRS}"):
        parts = f.split("/")
        if parts[-2] == ANN_DIR and parts[-1] == PAIRS:
            d = "/".join(parts[:-2])
            out[d] = posixpath.basename(d) if d else (source.name if source.kind == "folder" else "default")
    return out


def detect(source) -> float:
    return 0.9 if _roots(source) else 0.0


def _fields(line: str) -> list[str]:
    parts = line.split("\t") if "\t" in line else line.split()
    return [p.strip() for p in parts]


def _image(person: str, ref: str) -> tuple[str, str]:
    """(image path without extension, item id) of image ``ref`` of ``person`` (a number or an id)."""
    try:
        n = int(ref)
    except ValueError:
        return f"{person}/{ref}", ref
    return f"{person}/{person}_{n:04d}", f"{person}_{n:04d}"


class _Items:
    """Items of one subset by id, each with its person (tag) and pair lists."""

    def __init__(self, source, subset: str, images: dict[str, str]):
        self.source, self.subset, self.images = source, subset, images
        self.order: list[str] = []
        self.person: dict[str, str | None] = {}
        self.path: dict[str, str] = {}
        self.pairs: dict[str, dict[str, list[str]]] = {}

    def add(self, item_id: str, person: str | None, path: str) -> None:
        if item_id not in self.person:
            self.order.append(item_id)
            self.person[item_id] = person
            self.path[item_id] = path
        elif self.person[item_id] is None and person:
            self.person[item_id] = person

    def pair(self, item_id: str, kind: str, ref: str) -> None:
        self.pairs.setdefault(item_id, {}).setdefault(kind, []).append(ref)


def _read_pairs(source, rel: str, items: _Items) -> None:
    where = source.display(rel)
    for n, line in enumerate(source.read_text(rel).splitlines(), 1):
        f = _fields(line)
        if not line.strip() or len(f) == 2:  # blank, or LFW's header (folds, pairs per fold)
            continue
        if len(f) == 1:
            person, _, rest = f[0].partition("/")
            if rest:
                items.add(rest, person, f[0])
            else:
                items.add(person, None, person)
        elif len(f) == 3:
            if not f[0]:
                raise FormatError(where, "a matching pair needs a person in field 1", line=n)
            p1, id1 = _image(f[0], f[1])
            p2, id2 = _image(f[0], f[2])
            items.add(id1, f[0], p1)
            items.add(id2, f[0], p2)
            items.pair(id1, POS, p2)
        elif len(f) == 4:
            p1, id1 = _image(f[0], f[1])
            if f[2] == "-":
                p2, id2, person2 = f[3], f[3], None
            else:
                (p2, id2), person2 = _image(f[2], f[3]), f[2]
            items.add(id1, f[0], p1)
            items.add(id2, person2, p2)
            items.pair(id1, NEG, p2)
        else:
            raise FormatError(where, f"expected 1 (image), 3 (person n1 n2) or 4 (person1 n1 person2 n2) "
                                     f"tab-separated fields, got {len(f)}", line=n)


def _read_landmarks(source, rel: str, items: _Items) -> list[tuple[str, str, list[float]]]:
    where = source.display(rel)
    out = []
    for n, line in enumerate(source.read_text(rel).splitlines(), 1):
        if not line.strip():
            continue
        f = _fields(line)
        try:
            pts = np.array(f[1:], dtype=float)
        except ValueError:
            raise FormatError(where, "landmark coordinates must be numbers", line=n) from None
        if len(pts) == 0 or len(pts) % 2:
            raise FormatError(where, f"expected an image then x y pairs, got {len(pts)} coordinates", line=n)
        stem = posixpath.splitext(f[0].replace("\\", "/"))[0]
        person, _, rest = stem.partition("/")
        item_id = rest or stem
        items.add(item_id, None, stem)
        out.append((item_id, person if rest else "", pts.tolist()))
    return out


def read(source, **options) -> Dataset:
    roots = _roots(source)
    if not roots:
        raise FormatError(source.display(), f"no LFW annotations here: expected [<subset>/]{ANN_DIR}/{PAIRS}")
    rows, anns, labels = [], [], []
    for d, subset in sorted(roots.items()):
        adir = under(d, ANN_DIR)
        base = meta_labels(source, posixpath.dirname(d)) if d else meta_labels(source, "")
        if base is None and source.exists(f"{adir}/{PEOPLE}"):
            base = [f[0] for f in map(_fields, source.read_text(f"{adir}/{PEOPLE}").splitlines()) if len(f) == 2]
        labels += [n for n in base or [] if n not in labels]
        imdir = under(d, IMAGES) + "/"
        images = {posixpath.splitext(f[len(imdir):])[0]: f for f in source.files
                  if f.startswith(imdir) and posixpath.splitext(f)[1].lower() in IMAGE_EXTS}
        items = _Items(source, subset, images)
        _read_pairs(source, f"{adir}/{PAIRS}", items)
        points = _read_landmarks(source, f"{adir}/{LANDMARKS}", items) if source.exists(f"{adir}/{LANDMARKS}") else []
        index = {}
        for item_id in items.order:
            img = images.get(items.path[item_id]) or images.get(item_id)
            size = image_size(source, img) if img else None
            iid = index[item_id] = len(rows)
            rows.append({"item_id": iid, "name": item_id + (posixpath.splitext(img)[1] if img else ".jpg"),
                         "subset": subset, "frame": iid, "media": source.url_of(img) if img else None,
                         "width": size[0] if size else None, "height": size[1] if size else None})
            person = items.person[item_id]
            if person:
                attrs = {k: list(v) for k, v in items.pairs.get(item_id, {}).items()}
                anns.append({"item_id": iid, "label": person, "type": "tag", "attributes": attrs, **empty_ann_cols()})
        for item_id, person, pts in points:
            xs, ys = pts[0::2], pts[1::2]
            person = person or items.person[item_id] or ""  # Datumaro writes <image>.jpg without the person
            anns.append({"item_id": index[item_id], "label": person, "type": "points", "points": pts,
                         "x": min(xs), "y": min(ys), "w": max(xs) - min(xs), "h": max(ys) - min(ys)})
    return build(rows, anns, labels, None, source)


def _refs(v) -> list[str]:
    """A pair list as CVAT or we hold it: a list, or text with the refs separated by commas/spaces
    (also a Python list's text, ``['a/a_0001', 'b/b_0002']``)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, str):
        return re.findall(r"[^\s,\[\]'\"]+", v)
    return [str(s) for s in v]


def _num(person: str, stem: str) -> str:
    """How pairs.txt names image ``stem`` of ``person``: its number when it is ``<person>_<n>``."""
    m = re.fullmatch(re.escape(person) + r"_(\d+)", stem)
    return str(int(m.group(1))) if m else stem


def _split_ref(ref: str) -> tuple[str | None, str]:
    ref = posixpath.splitext(ref)[0] if posixpath.splitext(ref)[1].lower() in IMAGE_EXTS else ref
    if "/" in ref:
        person, _, stem = ref.partition("/")
        return person, stem
    m = re.fullmatch(r"(.+)_(\d+)", ref)
    return (m.group(1), ref) if m else (None, ref)


def write(ds, sink, ctx) -> None:
    a = select_rows(ds, ctx)
    kind = a["type"].to_numpy()
    ctx.report.add_mask("annotations", a, ~np.isin(kind, ("tag", "points")), "LFW carries only tags (the person) "
                                                                            "and landmark points", key="ann_id")
    tags = a[kind == "tag"]
    dup = tags.duplicated("item_id").to_numpy()
    ctx.report.add_mask("annotations", tags, dup, "LFW holds one person (tag) per image", key="ann_id")
    tags = tags[~dup]
    other = tags["attributes"].map(lambda d: isinstance(d, dict) and bool(set(d) - {POS, NEG})).to_numpy(bool)
    ctx.report.add_mask("annotations", tags, other, f"LFW tags carry only the attributes {POS} and {NEG}",
                        key="ann_id")
    points = a[kind == "points"]
    hidden = points["outside"].fillna(False).astype(bool).to_numpy()
    ctx.report.add_mask("annotations", points, hidden, "LFW has no invisible landmarks: outside points not written",
                        key="ann_id")
    points = points[~hidden]
    ctx.report.add_mask("annotations", points, points["parent_id"].notna().to_numpy(),
                        "LFW has no skeletons: the point is written as landmarks of its own", key="ann_id")
    person_of = dict(zip(tags["item_id"].tolist(), tags["label"].tolist(), strict=True))
    report_scores(ctx.report, points, "LFW")
    report_scores(ctx.report, tags, "LFW")

    items = ds.items
    names = item_names(items).map(posixpath.basename).tolist()
    subsets = items["subset"].fillna("default").astype(str).replace("", "default").tolist()
    labels = class_list(ds)
    labels += [n for n in dict.fromkeys([*tags["label"].tolist(), *points["label"].tolist()]) if n and n not in labels]
    attrs_of = dict(zip(tags["item_id"].tolist(), tags["attributes"].tolist(), strict=True))
    pts_of: dict = {}
    for iid, lab, pts in zip(points["item_id"].tolist(), points["label"].fillna("").tolist(),
                             points["points"].tolist(), strict=True):
        pts_of.setdefault(iid, []).append((lab, pts))
    per: dict[str, dict[str, list]] = {}
    copies = []
    unique = Unique()
    for iid, name, subset, media in zip(items["item_id"].tolist(), names, subsets, items["media"].tolist(),
                                        strict=True):
        out = per.setdefault(subset, {"pos": [], "neg": [], "single": [], "lm": [], "count": {}, "paired": set()})
        stem, ext = posixpath.splitext(name)
        if ext.lower() not in IMAGE_EXTS:
            stem, ext = name, ".jpg"
        stem = unique(subset, stem, iid)
        person = person_of.get(iid)
        attrs = attrs_of.get(iid) if isinstance(attrs_of.get(iid), dict) else {}
        if person:
            out["count"][person] = out["count"].get(person, 0) + 1
            n1 = _num(person, stem)
            for ref in _refs(attrs.get(POS)):
                _, s2 = _split_ref(ref)
                out["pos"].append(f"{person}\t{n1}\t{_num(person, s2)}")
                out["paired"].update({(person, stem), (person, s2)})
            for ref in _refs(attrs.get(NEG)):
                p2, s2 = _split_ref(ref)
                out["neg"].append(f"{person}\t{n1}\t{p2 or '-'}\t{_num(p2, s2) if p2 else s2}")
                out["paired"].update({(person, stem), (p2, s2)})
            out["single"].append((person, stem))
        else:
            out["single"].append((None, stem))
        for lab, pts in pts_of.get(iid, []):
            folder = lab or person  # the folder labels the points (the person when they have no label)
            out["lm"].append("\t".join([f"{folder}/{stem}{ext}" if folder else f"{stem}{ext}", *num(pts)]))
        sub = f"{subset}/{IMAGES}/{person}" if person else f"{subset}/{IMAGES}"
        copies.append((iid, media, f"{sub}/{stem}{ext}"))
    unique.report(ctx.report, "LFW")
    if not per:  # no images: empty files still say what this is
        per["default"] = {"pos": [], "neg": [], "single": [], "lm": [], "count": {}, "paired": set()}
    for subset, out in per.items():
        single = [f"{p}/{s}" if p else s for p, s in out["single"] if (p, s) not in out["paired"]]
        sink.write_text(f"{subset}/{ANN_DIR}/{PAIRS}", "".join(f"{ln}\n" for ln in out["pos"] + out["neg"] + single))
        if out["lm"]:
            sink.write_text(f"{subset}/{ANN_DIR}/{LANDMARKS}", "".join(f"{ln}\n" for ln in out["lm"]))
        sink.write_text(f"{subset}/{ANN_DIR}/{PEOPLE}",
                        "".join(f"{n}\t{out['count'].get(n, 0)}\n" for n in labels))
    if ctx.save_images:
        copy_media(ds, sink, copies, ctx.report)


register(FormatSpec(
    name="LFW 1.0", aliases=("lfw",),
    read=read, write=write, detect=detect, shapes=("tag", "points"), family="cvat",
    description="Labeled Faces in the Wild: <subset>/annotations/{pairs,landmarks,people}.txt, <subset>/images/",
))
