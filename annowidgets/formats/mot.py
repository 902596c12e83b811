"""MOT 1.1 (CVAT's "MOT 1.1", Datumaro's ``mot_seq_gt`` / ``mot_seq``): box tracks of a sequence.

Layout of one sequence: ``gt/gt.txt`` (CSV ``frame,track_id,x,y,w,h,not_ignored,class_id,
visibility``, frames 1-based, class ids 1-based into ``gt/labels.txt``), ``gt/labels.txt`` (one
label per line; without it the 12 MOT classes), optional ``seqinfo.ini`` (``imDir``,
``frameRate``, ``seqLength``, ``imWidth``, ``imHeight``, ``imExt``) and ``img1/<frame:06d>.<ext>``.
A folder or zip may hold several sequences (``<seq>/gt/gt.txt``); each becomes a task.

Import (as CVAT does): rows with a track id > 0 become track keyframes; where a track skips
frames an ``outside`` keyframe is put on the frame after the last visible one, and a track that
ends before the sequence does gets one after its last frame. Rows with track id -1 (or 0) are
plain boxes. ``visibility`` (float) and ``ignored`` (``not_ignored == 0``) become attributes of
those names, ``occluded`` is ``visibility <= 0`` (Datumaro's default threshold). Item frames are
0-based (``frame = MOT frame - 1``), as CVAT numbers them.

Export (as CVAT does through Datumaro): boxes and box tracks; tracks are written on every frame
they are visible (interpolated between keyframes, outside frames left out), track ids renumbered
1, 2, … in order of first appearance, plain boxes get track id -1. ``visibility`` is the
attribute if set, else ``1 - occluded``; ``not_ignored`` is 0 when the ``ignored`` attribute is
true. The MOT frame of an item is its ``frame + 1`` (its position + 1 when items have no
distinct frames). ``seqinfo.ini`` is written back when the sequence came with one. Everything
else (other shapes, rotation, other attributes, scores, keyframe flags) is reported.
"""
from __future__ import annotations

import io
import posixpath

import numpy as np
import pandas as pd

from ..core import tracks as _tracks
from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ..core.media_types import IMAGE_EXTS
from . import _voc_common as vc
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register
from .yolo_common import select_rows

FIELDS = ("frame", "track_id", "x", "y", "w", "h", "not_ignored", "class_id", "visibility")
MOT_LABELS = ("pedestrian", "person on vehicle", "car", "bicycle", "motorbike", "non motorized vehicle",
              "static person", "distractor", "occluder", "occluder on the ground", "occluder full", "reflection")
SEQINFO_KEYS = ("name", "imDir", "frameRate", "seqLength", "imWidth", "imHeight", "imExt")
OWN_ATTRS = ("visibility", "ignored")
MAX_FRAME = 1_000_000


# == reading ===================================================================================
def _roots(files: list[str]) -> list[str]:
    """Sequence folders ('' or 'seq/'): those holding ``gt/gt.txt``."""
    out = []
    for f in files:
        if f == "gt/gt.txt" or f.endswith("/gt/gt.txt"):
            out.append(f[: -len("gt/gt.txt")])
    return sorted(out)


def parse_seqinfo(text: str, where: str) -> dict:
    """``key=value`` lines of ``seqinfo.ini`` (keys case-insensitive), typed."""
    raw = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("[", ";", "#")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        raw[k.strip().lower()] = v.strip()
    out = {}
    for key in SEQINFO_KEYS:
        v = raw.get(key.lower())
        if v is None:
            continue
        if key in ("frameRate", "seqLength", "imWidth", "imHeight"):
            try:
                v = int(v)
            except ValueError:
                raise FormatError(where, f"{key}={v!r}: expected an integer") from None
            if key == "seqLength" and not 0 <= v <= MAX_FRAME:
                raise FormatError(where, f"seqLength={v}: expected 0..{MAX_FRAME}")
        out[key] = v
    return out


def parse_gt(text: str, where: str) -> pd.DataFrame:
    """The rows of a ``gt.txt`` as columns (one CSV parse, no object per row); ``line`` kept for errors."""
    lines = np.asarray(text.splitlines(), dtype=object)
    lineno = np.arange(1, len(lines) + 1)
    stripped = np.char.strip(lines.astype(str)) if len(lines) else np.asarray([], dtype=str)
    keep = np.char.str_len(stripped) > 0 if len(lines) else np.zeros(0, bool)
    stripped, lineno = stripped[keep], lineno[keep]
    n = np.char.count(stripped, ",") + 1 if len(stripped) else np.zeros(0, np.int64)
    bad = (n < 6) | (n > 10)
    if bad.any():
        i = int(np.argmax(bad))
        raise FormatError(where, f"expected 6 to 10 comma-separated fields ({','.join(FIELDS)}), got {int(n[i])}: "
                          f"{stripped[i][:80]!r}", line=int(lineno[i]))
    # pad every line to 10 fields, so one CSV parse reads 6-, 7-, 9- and 10-field files alike
    pad = np.asarray(["," * k for k in range(5)], dtype=object)[10 - n]
    body = "\n".join((stripped.astype(object) + pad).tolist())
    names = [*FIELDS, "_extra"]
    try:
        df = pd.read_csv(io.StringIO(body), header=None, names=names, dtype=np.float64, skipinitialspace=True,
                         skip_blank_lines=False) if len(stripped) else pd.DataFrame(columns=names, dtype=np.float64)
    except ValueError:
        raw = pd.read_csv(io.StringIO(body), header=None, names=names, dtype=str, skipinitialspace=True,
                          keep_default_na=False, skip_blank_lines=False)
        for col in names:
            vals = raw[col].str.strip()
            num = pd.to_numeric(vals.where(vals != "", None), errors="coerce")
            wrong = num.isna() & (vals != "")
            if wrong.any():
                i = int(np.argmax(wrong.to_numpy()))
                raise FormatError(where, f"field {col!r} is {vals.iloc[i]!r}, expected a number",
                                  line=int(lineno[i])) from None
        raise
    df["line"] = lineno
    for col in ("frame", "track_id"):
        v = df[col].to_numpy()
        wrong = np.isnan(v) | (v != np.floor(v))
        if wrong.any():
            i = int(np.argmax(wrong))
            raise FormatError(where, f"{col} must be an integer, got {stripped[i].split(',')[FIELDS.index(col)]!r}",
                              line=int(lineno[i]))
    for col in ("x", "y", "w", "h"):
        wrong = df[col].isna().to_numpy()
        if wrong.any():
            i = int(np.argmax(wrong))
            raise FormatError(where, f"field {col!r} is empty, expected a number", line=int(lineno[i]))
    small = df["frame"].to_numpy() < 1
    if small.any():
        i = int(np.argmax(small))
        raise FormatError(where, f"frame {int(df['frame'].iloc[i])}: MOT frames start at 1", line=int(lineno[i]))
    big = df["frame"].to_numpy() > MAX_FRAME  # every frame up to the last becomes an item
    if big.any():
        i = int(np.argmax(big))
        raise FormatError(where, f"frame {int(df['frame'].iloc[i])} is beyond {MAX_FRAME} (over 9 hours at 30 fps)",
                          line=int(lineno[i]))
    return df


def _read_sequence(source: Source, root: str, task_id: int, first_item: int, first_track: int):
    where = source.display(f"{root}gt/gt.txt")
    lab_rel = f"{root}gt/labels.txt"
    labels = [s.strip() for s in source.read_text(lab_rel).splitlines()] if source.exists(lab_rel) \
        else list(MOT_LABELS)
    seq_rel = f"{root}seqinfo.ini"
    seqinfo = parse_seqinfo(source.read_text(seq_rel), source.display(seq_rel)) if source.exists(seq_rel) else {}
    gt = parse_gt(source.read_text(f"{root}gt/gt.txt"), where)

    # class ids: 1-based into labels; -1 / missing = no label
    cls = gt["class_id"].to_numpy()
    has_cls = ~np.isnan(cls) & (cls != -1)
    wrong = has_cls & ((cls < 1) | (cls > len(labels)) | (cls != np.floor(np.nan_to_num(cls))))
    if wrong.any():
        i = int(np.argmax(wrong))
        raise FormatError(where, f"class_id {cls[i]:g} is not a line of labels.txt (1..{len(labels)})",
                          line=int(gt["line"].iloc[i]))
    names = np.asarray([*labels, ""], dtype=object)
    label = names[np.where(has_cls, np.nan_to_num(cls) - 1, len(labels)).astype(np.int64)]

    # items: seqinfo frames, else img1/ images, plus any frame gt.txt names
    im_dir = seqinfo.get("imDir", "img1").strip("/")
    im_ext = seqinfo.get("imExt", "")
    images = {}
    base = f"{root}{im_dir}/"
    for f in source.files:
        if f.startswith(base) and "/" not in f[len(base):]:
            stem, ext = posixpath.splitext(f[len(base):])
            if ext.lower() in IMAGE_EXTS and stem.isdigit():
                images.setdefault(int(stem), f)
    frames = set(images) | set(gt["frame"].astype(np.int64).tolist())
    if seqinfo.get("seqLength"):
        frames |= set(range(1, int(seqinfo["seqLength"]) + 1))
    # a sequence is a video: every frame up to the last one is an item (gaps of a track need theirs)
    frames = list(range(1, max(frames) + 1)) if frames else []
    width, height = seqinfo.get("imWidth"), seqinfo.get("imHeight")
    if (width is None or height is None) and images:
        # a sequence is a video: its frames share one size
        size = vc.image_size(source.read_bytes(images[min(images)]))
        if size:
            width, height = size
    item_rows = []
    for k, fr in enumerate(frames):
        img = images.get(fr)
        name = posixpath.basename(img) if img else f"{fr:06d}{im_ext or '.jpg'}"
        rel = img or (f"{base}{name}" if source.exists(f"{base}{name}") else None)
        item_rows.append({"item_id": first_item + k, "name": name, "task": task_id, "frame": fr - 1,
                          "media": source.url_of(rel) if rel else pd.NA, "width": width, "height": height})
    items = pd.DataFrame(item_rows, columns=["item_id", "name", "task", "frame", "media", "width", "height"])
    item_of_frame = pd.Series(items["item_id"].to_numpy(), index=items["frame"].to_numpy() + 1)

    frame = gt["frame"].to_numpy(dtype=np.int64)
    tid = gt["track_id"].to_numpy(dtype=np.int64)
    vis = gt["visibility"].fillna(1.0).to_numpy()
    conf = gt["not_ignored"].fillna(1.0).to_numpy()
    ignored = conf == 0
    attrs = [{"visibility": float(v), "ignored": bool(g)} for v, g in zip(vis.tolist(), ignored.tolist(), strict=True)]
    tracked = tid > 0
    ann = pd.DataFrame({
        "item_id": item_of_frame.reindex(frame).to_numpy(), "frame": frame - 1, "label": label,
        "type": "bbox", "x": gt["x"].to_numpy(), "y": gt["y"].to_numpy(), "w": gt["w"].to_numpy(),
        "h": gt["h"].to_numpy(), "occluded": vis <= 0.0, "attributes": attrs,
        "track_id": pd.array(np.where(tracked, tid, 0), dtype="Int64"), "keyframe": tracked, "outside": False,
        "_line": gt["line"].to_numpy(),
    })
    ann.loc[~tracked, "track_id"] = pd.NA
    ann["_mot_track"] = np.where(tracked, tid, -1)
    stop = len(frames) and frames[-1] - 1
    ann = _outside_rows(ann, stop)
    # track ids: MOT's own, shifted so sequences do not share them
    t = ann["track_id"]
    ann["track_id"] = (t + first_track).astype("Int64") if first_track else t
    extra = {"mot_seqinfo": seqinfo} if seqinfo else None
    task = {"task_id": task_id, "name": seqinfo.get("name") or root.rstrip("/") or "mot", "mode": "interpolation",
            "size": len(frames), "start_frame": 0, "stop_frame": stop, "extra": extra}
    return items, ann, labels, task, int(tid.max(initial=0))


def _outside_rows(ann: pd.DataFrame, stop: int) -> pd.DataFrame:
    """CVAT's import: an outside keyframe after each visible run of a track that is not the last."""
    tr = ann[ann["track_id"].notna()].sort_values(["_mot_track", "frame"], kind="stable")
    if not len(tr):
        return ann
    tid = tr["_mot_track"].to_numpy()
    fr = tr["frame"].to_numpy()
    last_of_track = np.r_[tid[1:] != tid[:-1], True]
    nxt = np.r_[fr[1:], 0]
    gap = np.where(last_of_track, fr + 1 <= stop, nxt - fr > 1)
    out = tr[gap].copy()
    out["frame"] = out["frame"] + 1
    out["outside"] = True
    out["item_id"] = pd.NA  # filled by the caller's frame lookup
    return pd.concat([ann, out], ignore_index=True)


def read(source: Source, **options) -> Dataset:
    """Read one or several MOT sequences (folder or zip)."""
    roots = _roots(source.files)
    if not roots:
        raise FormatError(source.display(), "no gt/gt.txt: not a MOT sequence")
    items, anns, tasks, labels = [], [], [], []
    first_item, first_track = 0, 0
    for k, root in enumerate(roots):
        it, a, lab, task, max_tid = _read_sequence(source, root, k, first_item, first_track)
        if len(roots) > 1:
            it["subset"] = root.rstrip("/").rsplit("/", 1)[-1]
        look = pd.Series(it["item_id"].to_numpy(), index=it["frame"].to_numpy())
        miss = a["item_id"].isna()
        a.loc[miss, "item_id"] = look.reindex(a.loc[miss, "frame"].to_numpy()).to_numpy()
        items.append(it)
        anns.append(a)
        tasks.append(task)
        labels += [n for n in lab if n not in labels]
        first_item += len(it)
        first_track += max_tid
    a = pd.concat(anns, ignore_index=True)
    a = a.sort_values(["item_id", "_line", "outside"], kind="stable").drop(columns=["_line", "_mot_track"])
    a["ann_id"] = np.arange(len(a))
    a["item_id"] = a["item_id"].astype("Int64")
    label_df = pd.DataFrame({"name": [n for n in labels if n], "type": "rectangle"})
    return Dataset(items=pd.concat(items, ignore_index=True), annotations=a.reset_index(drop=True), labels=label_df,
                   tasks=pd.DataFrame(tasks))


def detect(source: Source) -> float:
    roots = _roots(source.files)
    if not roots:
        return 0.0
    try:
        head = source.read_bytes(f"{roots[0]}gt/gt.txt")[:4096].decode("utf-8", "replace")
    except OSError:
        return 0.0
    first = next((ln for ln in head.splitlines() if ln.strip()), "")
    if not first:
        return 0.7  # an empty sequence
    fields = first.split(",")
    if not 6 <= len(fields) <= 10:
        return 0.0
    try:
        [float(f) for f in fields]
    except ValueError:
        return 0.0
    return 0.9


# == writing ===================================================================================
def _mot_frames(items: pd.DataFrame) -> np.ndarray:
    """MOT frame (1-based) of each item: ``frame + 1``, else its position + 1."""
    fr = items["frame"]
    if len(items) and fr.notna().all() and not fr.duplicated().any() and int(fr.min()) >= 0:
        return fr.to_numpy(dtype=np.int64) + 1
    return np.arange(1, len(items) + 1)


def _per_frame(ds: Dataset, a: pd.DataFrame, items: pd.DataFrame, report, where: str = "MOT") -> pd.DataFrame:
    """Track rows on every frame they are visible (CVAT's exporter), plain rows as they are."""
    tracked = a["track_id"].notna().to_numpy()
    if not tracked.any() or items["frame"].isna().any() or a.loc[tracked, "frame"].isna().any():
        return a  # no frame numbers to interpolate over: the rows are written as they are
    tasks = ds.tasks
    first_task = tasks.iloc[0] if len(tasks) else None
    start = 0 if first_task is None or pd.isna(first_task["start_frame"]) else int(first_task["start_frame"])
    stop = int(items["frame"].max()) if items["frame"].notna().any() else None
    per = _tracks.interpolate(a[tracked], start=start, step=1, stop=stop, visible_only=True)
    per = per[per["track_id"].notna()]
    look = pd.Series(items["item_id"].to_numpy(), index=items["frame"].to_numpy())
    look = look[look.index.notna() & ~look.index.duplicated()]
    gen = ~per["keyframe"].to_numpy(dtype=bool)  # generated ids may equal untracked rows' ids: not a key here
    if gen.any():
        per.loc[gen, "item_id"] = look.reindex(per.loc[gen, "frame"].to_numpy()).to_numpy()
    filled = per["track_id"][gen].unique()
    report.add_mask("annotations", a, tracked & a["track_id"].isin(filled).to_numpy(),
                    f"{where} has no keyframes: the frames between them are written interpolated and every row "
                    "reads back as a keyframe", key="ann_id")
    per = per[per["item_id"].notna()]
    return pd.concat([a[~tracked], per], ignore_index=True)


def write(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    report = ctx.report
    items = ds.items.reset_index(drop=True)
    if items["frame"].notna().any():
        items = items.sort_values("frame", kind="stable").reset_index(drop=True)
    a = select_rows(ds, ctx)
    boxes = (a["type"] == "bbox").to_numpy()
    report.add_mask("annotations", a, ~boxes, "MOT carries only boxes (and box tracks)", key="ann_id")
    a = a[boxes]
    rot = np.mod(a["rotation"].to_numpy(dtype=np.float64), 360.0) != 0
    report.add_mask("annotations", a, rot, "MOT boxes have no rotation: the unrotated box is written", key="ann_id")
    other_attrs = a["attributes"].map(lambda d: bool(set(d) - set(OWN_ATTRS)) if isinstance(d, dict) else False)
    report.add_mask("annotations", a, other_attrs.to_numpy(dtype=bool),
                    "MOT carries only the visibility and ignored attributes; the others are not written", key="ann_id")
    report.add_mask("annotations", a, a["score"].notna().to_numpy(), "MOT ground truth has no score", key="ann_id")
    grouped = a["group"].notna().to_numpy()
    report.add_mask("annotations", a, grouped, "MOT has no groups", key="ann_id")

    a = _per_frame(ds, a, items, report)
    mot_frame = pd.Series(_mot_frames(items), index=items["item_id"].to_numpy())
    a = a.assign(_mf=mot_frame.reindex(a["item_id"].to_numpy()).to_numpy(), _ord=np.arange(len(a)))
    a = a[a["_mf"].notna()].sort_values(["_mf", "_ord"], kind="stable")
    _report_items(items, mot_frame.to_numpy(), a, ctx, bool(_seqinfo(ds, items)))

    # labels: the dataset's, then labels used only by rows
    names = [n for n in ds.labels["name"].tolist() if n]
    names += [n for n in pd.unique(a["label"]).tolist() if n and n not in set(names)]
    lut = {n: i + 1 for i, n in enumerate(names)}
    cls = a["label"].map(lut).fillna(-1).to_numpy(dtype=np.int64)

    tid = a["track_id"].to_numpy(dtype="float64", na_value=np.nan)
    has = ~np.isnan(tid)
    order = pd.unique(tid[has])
    remap = pd.Series(np.arange(1, len(order) + 1), index=order)
    mot_tid = np.full(len(a), -1, dtype=np.int64)
    mot_tid[has] = remap.reindex(tid[has]).to_numpy(dtype=np.int64)

    attrs = a["attributes"].to_numpy()
    vis_raw = [d.get("visibility") if isinstance(d, dict) else None for d in attrs]
    vis = pd.to_numeric(pd.Series(vis_raw, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    vis = np.where(np.isnan(vis), 1.0 - a["occluded"].to_numpy(dtype=np.float64), vis)
    ign = np.fromiter((isinstance(d, dict) and _truthy(d.get("ignored")) for d in attrs), dtype=bool, count=len(a))
    out = pd.DataFrame({"frame": a["_mf"].to_numpy(dtype=np.int64), "track_id": mot_tid,
                        **{c: a[c].to_numpy(dtype=np.float64) for c in "xywh"},
                        "not_ignored": (~ign).astype(np.int64), "class_id": cls, "visibility": vis})
    # pandas writes floats as repr does (shortest round trip, 4.0 for whole numbers), as Datumaro's csv does
    sink.write_text("gt/gt.txt", out.to_csv(header=False, index=False, lineterminator="\n"))
    sink.write_text("gt/labels.txt", "\n".join(names))

    seqinfo = _seqinfo(ds, items)
    if seqinfo:
        sink.write_text("seqinfo.ini", "[Sequence]\n" + "".join(f"{k}={seqinfo[k]}\n" for k in SEQINFO_KEYS
                                                               if k in seqinfo))
    if ctx.save_images:
        ext = (seqinfo or {}).get("imExt")
        frames = mot_frame.to_numpy()
        targets = []
        for fr, name in zip(frames.tolist(), items["name"].tolist(), strict=True):
            e = ext or posixpath.splitext(str(name))[1] or ".jpg"
            targets.append(f"img1/{int(fr):06d}{e}")
        copy_media(ds, sink, zip(items["item_id"], items["media"], targets, strict=True), report)


def _report_items(items: pd.DataFrame, mot_frame: np.ndarray, a: pd.DataFrame, ctx: WriteContext,
                  seqinfo: bool) -> None:
    """Item names MOT cannot keep (frames are numbered) and empty frames after the last row."""
    stems = items["name"].astype(str).map(lambda n: posixpath.splitext(posixpath.basename(n))[0])
    renamed = ~stems.str.fullmatch(r"\d+").to_numpy() | (pd.to_numeric(stems, errors="coerce").to_numpy() != mot_frame)
    ctx.report.add_mask("items", items, renamed, "MOT names frames by number (000001.jpg, …): the item name is not "
                        "kept", key="item_id")
    if not ctx.save_images and not seqinfo:
        last = a["_mf"].max() if len(a) else 0
        ctx.report.add_mask("items", items, mot_frame > last, "frames after the last box are not in gt.txt "
                            "(save_images puts them in img1/)", key="item_id")


def _seqinfo(ds: Dataset, items: pd.DataFrame) -> dict | None:
    """The ``seqinfo.ini`` the sequence came with, with today's length and size."""
    if len(ds.tasks) != 1:
        return None
    ex = ds.tasks["extra"].iloc[0]
    info = ex.get("mot_seqinfo") if isinstance(ex, dict) else None
    if not info:
        return None
    info = dict(info)
    info["imDir"] = "img1"
    info["seqLength"] = int(_mot_frames(items).max(initial=0))
    w, h = items["width"].dropna().unique(), items["height"].dropna().unique()
    if len(w) == 1 and len(h) == 1:
        info["imWidth"], info["imHeight"] = int(w[0]), int(h[0])
    return info


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes")
    return bool(v) if v is not None and v is not pd.NA else False




register(FormatSpec(
    name="MOT 1.1", aliases=("mot", "mot_seq_gt", "mot_seq"), read=read, write=write, detect=detect,
    shapes=("bbox",), family="cvat",
    description="MOT sequence: gt/gt.txt (frame,track,x,y,w,h,not_ignored,class,visibility), gt/labels.txt, "
                "[seqinfo.ini, img1/]",
))
