"""ASR manifest (NeMo JSON lines; Label Studio's "ASR_MANIFEST" export) for audio transcriptions.

Export writes ``manifest.json``, one JSON object per line, as Label Studio does::

    {"audio_filepath": "audio/<name>", "duration": 1.5, "text": "...", "annotator": "1"}

one line per annotation set of an audio item, ``text`` being its first transcription (a
``type="text"`` row). With ``save_images`` the audio is copied to ``audio/<name>`` (an item id
prefix keeps names unique). ``duration`` is measured from the audio (WAV header via ``wave``,
other formats via ``mutagen`` if installed), else taken from ``items.duration``, else from
Label Studio's ``original_length`` of the item's audio regions (``extra``).
Options:

* ``segments=True``: one line per audio segment (``type="segment"`` rows) with NeMo's
  ``offset`` (start, s) and ``duration`` (end − start), its ``label`` and the text of the
  segment (its ``text`` or the text row sharing its ``region_id``). NeMo reads ``offset``
  to train on part of a file.
* ``empty="write"``: sets and items without a transcription are written with ``text: ""``
  (default ``"skip"``; Label Studio crashes on them instead).
* ``paths="source"``: ``audio_filepath`` is the media URL as the dataset has it, not
  ``audio/<name>``.

What a line cannot hold (segments in whole-file mode, tags, extra transcriptions,
predictions, cancelled sets, items with no measurable duration) goes into the loss report.
Import reads any such manifest back: one item per audio file, one set per annotator, a text
row per whole-file line and a segment row (with its text) per line that has an ``offset``.
"""
from __future__ import annotations

import json
import posixpath

import numpy as np
import orjson
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from ..core.io import Sink, Source
from ._audio import audio_duration
from ._media import copy_media
from .registry import FormatSpec, WriteContext, register

MANIFEST = "manifest.json"
_KNOWN = {"audio_filepath", "duration", "text", "annotator", "offset", "label"}


# -- export --------------------------------------------------------------------------------------
def audio_names(items: pd.DataFrame) -> dict:
    """item_id -> file name under ``audio/``; names that repeat get an ``<item_id>-`` prefix."""
    base = []
    for item_id, name, media in zip(items["item_id"], items["name"], items["media"], strict=True):
        src = media if isinstance(media, str) and media else (name if isinstance(name, str) else "")
        base.append(posixpath.basename(src.split("?")[0].split("::")[0]) or f"{item_id}.wav")
    names = pd.Series(base, index=items["item_id"].tolist())
    dup = names.duplicated(keep=False)
    names[dup] = [f"{i}-{n}" for i, n in zip(names.index[dup], names[dup], strict=True)]
    return names.to_dict()


def _original_lengths(a: pd.DataFrame) -> dict:
    """item_id -> Label Studio's ``original_length`` kept in the extra of its audio regions."""
    lengths = a["extra"].map(lambda e: e.get("original_length") if isinstance(e, dict) else None)
    lengths = pd.to_numeric(lengths, errors="coerce")
    ok = lengths.notna()
    return lengths[ok].groupby(a.loc[ok, "item_id"]).max().to_dict()


def _durations(ds: Dataset, items: pd.DataFrame, measure: bool) -> dict:
    """Seconds per item: measured from the media, else ``items.duration``, else LS ``original_length``."""
    fallback = _original_lengths(ds.annotations[ds.annotations["item_id"].isin(items["item_id"])])
    out = {}
    for item_id, media, dur in zip(items["item_id"], items["media"], items["duration"], strict=True):
        got = None
        if measure:
            url = ds.media_url(media if isinstance(media, str) else None)
            got = audio_duration(url) if url else None
        if got is None and not pd.isna(dur):
            got = float(dur)
        if got is None and item_id in fallback:
            got = float(fallback[item_id])
        out[item_id] = got
    return out


def write(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    opts = ctx.options
    segments, empty, paths = bool(opts.get("segments", False)), opts.get("empty", "skip"), opts.get("paths", "relative")
    rep = ctx.report
    items = ds.items[ds.items["kind"] == "audio"]
    a = ds.annotations
    rep.add_mask("annotations", a, ~a["item_id"].isin(items["item_id"]), "not on an audio item", key="ann_id")
    a = a[a["item_id"].isin(items["item_id"])].copy()
    a["_order"] = np.arange(len(a))
    rep.add_mask("annotations", a, a["source"] == "prediction", "prediction; the manifest holds annotations only",
                 key="ann_id")
    a = a[a["source"] != "prediction"]
    sets = ds.sets[(ds.sets["source"] == "annotation") & ds.sets["item_id"].isin(items["item_id"])]
    cancelled = sets.loc[sets["cancelled"], "set_id"]
    rep.add_mask("annotations", a, a["set_id"].isin(cancelled), "in a cancelled annotation set", key="ann_id")
    a = a[~a["set_id"].isin(cancelled)]
    sets = sets[~sets["cancelled"]]
    kinds = ("segment", "text") if segments else ("text",)
    other = ~a["type"].isin(kinds)
    hint = "" if segments else " (segments=True writes one line per segment)"
    rep.add_mask("annotations", a, other, f"{'not a segment or transcription' if segments else 'not a transcription'}"
                 f"; the manifest cannot hold it{hint}", key="ann_id")
    a = a[~other]
    names = audio_names(items)
    durations = _durations(ds, items, opts.get("measure", True))
    media = dict(zip(items["item_id"], items["media"], strict=True))
    path_of = {i: (f"audio/{names[i]}" if paths != "source" else str(media[i])) for i in names}

    # one key per (item, annotation set), in item order; the set's annotator, else its rows'
    a["_set"] = a["set_id"].astype(str)
    keys = pd.concat([sets.assign(_set=sets["set_id"].astype(str))[["item_id", "_set", "annotator"]],
                      a[["item_id", "_set", "annotator"]]]).drop_duplicates(["item_id", "_set"])
    row_annotator = a.dropna(subset=["annotator"]).drop_duplicates(["item_id", "_set"]).set_index(
        ["item_id", "_set"])["annotator"]
    idx = pd.MultiIndex.from_frame(keys[["item_id", "_set"]])
    keys["annotator"] = keys["annotator"].astype(object).where(keys["annotator"].notna(),
                                                               row_annotator.reindex(idx).to_numpy())
    order = pd.Series(np.arange(len(items)), index=items["item_id"])
    keys = keys.assign(_o=keys["item_id"].map(order)).sort_values("_o", kind="stable").reset_index(drop=True)
    ctx.step(0.3, "manifest")
    if segments:
        lines, done_items = _segment_mode(a, keys, path_of, rep)
    else:
        lines, done_items = _whole_mode(a, keys, items, path_of, durations, empty, rep)
    sink.write_text(MANIFEST, "".join(line + "\n" for line in lines))
    if ctx.save_images and paths != "source":
        sel = items[items["item_id"].isin(done_items)]
        copy_media(ds, sink, ((i, m, f"audio/{names[i]}") for i, m in zip(sel["item_id"], sel["media"], strict=True)),
                   rep)


def _whole_mode(a, keys, items, path_of, durations, empty, rep) -> tuple[list[str], set]:
    """One line per annotation set: its first transcription (or "" with ``empty="write"``)."""
    t = a[a["type"] == "text"]
    first = ~t.duplicated(["item_id", "_set"])
    rep.add("annotations", t.loc[~first, "ann_id"], "more than one transcription in a set; the first is written")
    text_of = t[first].set_index(["item_id", "_set"])["text"]
    keys = keys.assign(text=text_of.reindex(pd.MultiIndex.from_frame(keys[["item_id", "_set"]])).to_numpy())
    if empty == "write":  # items with no set at all get a line too
        bare = items.loc[~items["item_id"].isin(keys["item_id"]), ["item_id"]].assign(_set="<NA>", annotator=None,
                                                                                   text=pd.NA)
        keys = pd.concat([keys, bare], ignore_index=True)
    else:
        keys = keys[keys["text"].notna()]
    dur = keys["item_id"].map(durations)
    unknown = dur.isna()
    rep.add("items", keys.loc[unknown, "item_id"].unique(),
            "audio duration unknown (media not readable, no items.duration); line skipped")
    keys, dur = keys[~unknown], dur[~unknown]
    lines = [_line(path_of[i], float(d), "" if pd.isna(x) else str(x), who)
             for i, d, x, who in zip(keys["item_id"], dur, keys["text"], keys["annotator"], strict=True)]
    return lines, set(keys["item_id"])


def _segment_mode(a, keys, path_of, rep) -> tuple[list[str], set]:
    lines, done = [], set()
    groups = {k: g for k, g in a.groupby(["item_id", "_set"], sort=False)}
    for item_id, set_key, annotator in zip(keys["item_id"], keys["_set"], keys["annotator"], strict=True):
        g = groups.get((item_id, set_key))
        if g is None:
            continue
        new = _segment_lines(g, path_of[item_id], annotator, rep)
        if new:
            lines.extend(new)
            done.add(item_id)
    return lines, done


def _segment_lines(g: pd.DataFrame, path, annotator, rep) -> list[str]:
    segs = g[g["type"] == "segment"].sort_values(["start", "_order"], kind="stable")
    texts = g[g["type"] == "text"]
    by_region = texts.dropna(subset=["region_id"]).drop_duplicates("region_id").set_index("region_id")["text"]
    loose = texts[~texts["region_id"].isin(set(segs["region_id"].dropna()))]
    rep.add("annotations", loose["ann_id"], "transcription of the whole file; segments mode writes segment lines only")
    region = segs["region_id"].astype(object).where(segs["region_id"].notna(), "#" + segs["ann_id"].astype(str))
    dup = region.duplicated()
    rep.add("annotations", segs.loc[dup, "ann_id"], "segment has several labels; the first is written")
    bad = ~dup & (segs["start"].isna() | segs["end"].isna())
    rep.add("annotations", segs.loc[bad, "ann_id"], "segment without start/end")
    out = []
    for r in segs[~dup & ~bad].itertuples(index=False):
        text = r.text
        if pd.isna(text):
            text = by_region.get(r.region_id, "") if not pd.isna(r.region_id) else ""
        rec = {"audio_filepath": path, "offset": float(r.start), "duration": round(float(r.end) - float(r.start), 6),
               "text": "" if pd.isna(text) else str(text)}
        if r.label:
            rec["label"] = r.label
        if annotator is not None and not pd.isna(annotator):
            rec["annotator"] = str(annotator)
        out.append(json.dumps(rec, ensure_ascii=False))
    return out


def _line(path: str, duration, text: str, annotator) -> str:
    rec = {"audio_filepath": path, "duration": duration, "text": text}
    if annotator is not None and not pd.isna(annotator):
        rec["annotator"] = str(annotator)
    return json.dumps(rec, ensure_ascii=False)


# -- import ---------------------------------------------------------------------------------------
def _first_record(source: Source, rel) -> dict | None:
    with source.open(rel) as f:
        first = f.readline(65536)
    try:
        rec = orjson.loads(first)
    except orjson.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def _manifest_files(source: Source) -> list:
    """The manifest(s) of an input: JSON-lines files whose first record has ``audio_filepath``.

    Other JSON-lines files beside them (CVAT's data ``manifest.jsonl``…) are left alone; if
    none qualifies, every candidate is returned so that reading names what is wrong.
    """
    if source.kind == "file":
        return [None]
    rels = list(dict.fromkeys(source.glob("manifest.json", "*/manifest.json", "*.jsonl", "*manifest*.json")))
    good = [r for r in rels if "audio_filepath" in (_first_record(source, r) or {})]
    return good or rels


def _media_of(source: Source, path: str) -> str:
    if "://" in path or path.startswith("/"):
        return path
    if source.kind == "file":
        return posixpath.join(source.folder, path)
    return source.url_of(path)


def _number(rec: dict, key: str, where: str, n: int) -> float | None:
    v = rec.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise FormatError(where, f"{key!r} must be a non-negative number of seconds, got {v!r}", line=n)
    return float(v)


def read(source: Source, **options) -> Dataset:
    rels = _manifest_files(source)
    if not rels:
        raise FormatError(source.display(), "no manifest.json or .jsonl file found")
    items: dict[str, dict] = {}
    sets: dict[tuple, int] = {}
    ann = []
    with gc_paused():
        for rel in rels:
            where = source.display(rel)
            for n, raw in enumerate(source.read_bytes(rel).splitlines(), 1):
                if not raw.strip():
                    continue
                try:
                    rec = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise FormatError(where, f"not a JSON object ({exc})", line=n) from exc
                if not isinstance(rec, dict) or not isinstance(rec.get("audio_filepath"), str):
                    raise FormatError(where, "expected a JSON object with a string 'audio_filepath'", line=n)
                path = rec["audio_filepath"]
                offset, duration = _number(rec, "offset", where, n), _number(rec, "duration", where, n)
                item = items.get(path)
                if item is None:
                    item = items[path] = {"item_id": len(items), "name": posixpath.basename(path), "kind": "audio",
                                          "media": _media_of(source, path), "duration": np.nan,
                                          "extra": {"audio_filepath": path}}
                if offset is None and duration is not None:
                    item["duration"] = duration
                annotator = rec.get("annotator")
                annotator = None if annotator is None else str(annotator)
                set_id = sets.setdefault((path, annotator), len(sets))
                text = rec.get("text", "")
                row = {"item_id": item["item_id"], "set_id": set_id, "annotator": annotator,
                       "text": text if isinstance(text, str) else str(text), "to_name": "audio",
                       "extra": {k: v for k, v in rec.items() if k not in _KNOWN} or None}
                if offset is None:
                    row.update(type="text", from_name="transcription")
                else:
                    end = offset + duration if duration is not None else np.nan
                    row.update(type="segment", start=offset, end=end, label=str(rec.get("label", "")),
                               from_name="label", region_id=f"seg{len(ann)}")
                ann.append(row)
    annotations = pd.DataFrame(ann)
    annotations.insert(0, "ann_id", np.arange(len(annotations)))
    item_ids = {p: it["item_id"] for p, it in items.items()}
    set_rows = pd.DataFrame([{"set_id": s, "item_id": item_ids[p], "annotator": a} for (p, a), s in sets.items()])
    return Dataset(items=pd.DataFrame(list(items.values())), sets=set_rows, annotations=annotations)


def detect(source: Source) -> float:
    if source.kind == "file" and not source.name.lower().endswith((".json", ".jsonl")):
        return 0.0
    for rel in _manifest_files(source)[:1]:
        if "audio_filepath" in (_first_record(source, rel) or {}):
            return 0.95
    return 0.0


register(FormatSpec(name="ASR_MANIFEST", aliases=("nemo", "asr manifest", "NeMo ASR manifest"), read=read,
                    write=write, detect=detect, shapes=("text", "segment"), media=("audio",), family="label_studio",
                    description="NeMo ASR manifest (JSON lines) of audio transcriptions, Label Studio's ASR_MANIFEST"))
