"""Label Studio JSON_MIN, CSV and TSV: one flat record per annotation, as Label Studio lays them out.

Export (notes §2): every non-cancelled annotation of a task becomes one record, newest
first: the task's ``data`` keys, ``id``, one key per control name holding the list of its
region values (``original_width/height`` moved inside; a single Choices value or TextArea
text collapsed to a string), then ``annotator`` (user id, or e-mail when ``completed_by``
was expanded), ``annotation_id``, ``created_at``, ``updated_at``, ``lead_time``. A task
without annotations gives one record with those fields null. CSV/TSV hold the same records
with columns sorted alphabetically, JSON strings in cells and ``QUOTE_NONNUMERIC``; like
Label Studio, **TSV is also written as ``result.csv``** (only the tab differs; pass
``filename=`` to change it). A data key that clashes with a control name becomes
``_data_<key>``. Relations, predictions, region ids, region scores, parent links and
cancelled annotations cannot be held and are listed in the LossReport.

Import: records back to tasks (grouped by ``id``) and through the Label Studio reader.
Regions get generated ids. Which keys are controls: with ``config=`` the config says; else,
in JSON_MIN, the keys after ``id`` (Label Studio writes data keys first); in CSV, columns
whose cells are JSON lists. A collapsed string is read as a Choices value unless the config
names a TextArea.
"""
from __future__ import annotations

import csv
import io

import orjson

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.gcpause import gc_paused
from ..core.io import Source
from ._carry import report_attributes
from .label_studio import head
from .ls_config import load_config
from .ls_read import Reader, is_task, parse_json
from .ls_write import build_tasks
from .registry import FormatSpec, register

META = ("annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement", "history")
SIZE_KEYS = ("original_width", "original_height")


# -- export --------------------------------------------------------------------------------------
def _annotator(ann: dict):
    cb = ann.get("completed_by")
    if isinstance(cb, dict):
        return cb.get("email", cb.get("id"))
    return cb


def _collapse(values: list, types: list):
    out = []
    for v, t in zip(values, types, strict=True):
        if t == "choices" and isinstance(v.get("choices"), list) and len(v["choices"]) == 1:
            out.append(v["choices"][0])
        elif t == "textarea" and isinstance(v.get("text"), list) and len(v["text"]) == 1:
            out.append(v["text"][0])
        else:
            out.append(v)
    if len(out) == 1 and types and types[-1] in ("choices", "textarea") and isinstance(out[0], str):
        return out[0]
    return out


def records(tasks: list) -> list[dict]:
    """JSON_MIN records of Label Studio tasks (one per non-cancelled annotation)."""
    out = []
    for task in tasks:
        anns = [a for a in (task.get("annotations") or task.get("completions") or [])
                if not a.get("was_cancelled") and not a.get("skipped")]
        anns = sorted(anns, key=lambda a: str(a.get("created_at") or ""), reverse=True)
        data = task.get("data") or {}
        controls_all = {r.get("from_name") for a in anns for r in a.get("result") or () if r.get("from_name")}
        base = {(f"_data_{k}" if k in controls_all else k): v for k, v in data.items()}
        base["id"] = task.get("id")
        if not anns:
            out.append({**base, "annotator": None, "annotation_id": None, "created_at": None, "updated_at": None,
                        "lead_time": None})
            continue
        for a in anns:
            rec = dict(base)
            vals: dict[str, list] = {}
            types: dict[str, list] = {}
            for r in a.get("result") or ():
                fn = r.get("from_name")
                if not fn or r.get("type") == "relation":
                    continue
                v = dict(r.get("value") or {})
                for k in SIZE_KEYS:
                    if k in r:
                        v[k] = r[k]
                vals.setdefault(fn, []).append(v)
                types.setdefault(fn, []).append(r.get("type"))
            for fn, vs in vals.items():
                rec[fn] = _collapse(vs, types[fn])
            rec["annotator"] = _annotator(a)
            rec["annotation_id"] = a.get("id")
            rec["created_at"] = a.get("created_at")
            rec["updated_at"] = a.get("updated_at")
            rec["lead_time"] = a.get("lead_time")
            if "agreement" in a:
                rec["agreement"] = a["agreement"]
            out.append(rec)
    return out


def _report(ds: Dataset, report) -> None:
    a = ds.annotations
    sets = ds.sets
    report.add("relations", list(range(len(ds.relations))), "flat formats hold no relations")
    report.add_mask("annotations", a, (a["source"] == "prediction").to_numpy(), "flat formats hold no predictions",
                    key="ann_id")
    report.add_mask("sets", sets, sets["cancelled"].to_numpy(), "cancelled annotations are left out", key="set_id")
    ok = (a["source"] == "annotation") & ~a["set_id"].isin(sets.loc[sets["cancelled"], "set_id"])
    report.add_mask("annotations", a, (ok & a["region_id"].notna()).to_numpy(),
                    "region ids are not kept (per-region results can no longer be joined)", key="ann_id")
    report.add_mask("annotations", a, (ok & a["score"].notna()).to_numpy(), "region scores are not kept",
                    key="ann_id")
    report.add_mask("annotations", a, (ok & a["parent_id"].notna()).to_numpy(), "parent links are not kept",
                    key="ann_id")
    report_attributes(report, a[ok.to_numpy(dtype=bool)], "Label Studio's flat formats")


def _tasks_for_flat(ds: Dataset, ctx) -> list:
    _report(ds, ctx.report)
    from ..core.loss import LossReport

    inner = LossReport(ctx.report.format)
    tasks = build_tasks(ds, inner, ctx.options)
    for e in inner.entries:  # geometry the JSON writer could not carry is lost here too
        ctx.report.entries.append(e)
    return tasks


def write_json_min(ds: Dataset, sink, ctx) -> None:
    recs = records(_tasks_for_flat(ds, ctx))
    opt = orjson.OPT_INDENT_2 if ctx.options.get("indent") else 0
    sink.write_bytes(ctx.options.get("filename", "result.json"), orjson.dumps(recs, option=opt))


def _cell(v):
    if v is None:
        return None
    if isinstance(v, (list, dict)):
        return orjson.dumps(v).decode("utf-8")
    if isinstance(v, bool):
        return str(v)
    return v


def csv_text(recs: list, sep: str = ",") -> str:
    cols = sorted({k for r in recs for k in r})
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, quoting=csv.QUOTE_NONNUMERIC)
    w.writerow(cols)
    for r in recs:
        row = []
        for c in cols:
            v = r.get(c)
            if c == "annotator" and v is not None:
                v = str(v)
            row.append(_cell(v))
        w.writerow(row)
    return buf.getvalue()


def _writer(sep: str):
    def write(ds: Dataset, sink, ctx) -> None:
        recs = records(_tasks_for_flat(ds, ctx))
        sink.write_text(ctx.options.get("filename", "result.csv"), csv_text(recs, sep))
    return write


# -- import --------------------------------------------------------------------------------------
def _infer_type(v: dict) -> str:
    for k in ("rectanglelabels", "polygonlabels", "keypointlabels", "ellipselabels", "brushlabels",
              "timeserieslabels", "timelinelabels", "hypertextlabels", "paragraphlabels", "taxonomy", "choices",
              "rating", "number", "datetime", "ranker", "selected"):
        if k in v:
            return {"selected": "pairwise"}.get(k, k)
    if "sequence" in v:
        return "videorectangle"
    if "labels" in v:
        return "labels"
    if "text" in v and isinstance(v["text"], list):
        return "textarea"
    if "points" in v:
        return "polygon"
    if "rle" in v:
        return "brush"
    if "radiusX" in v:
        return "ellipse"
    if "x" in v and "height" in v:
        return "rectangle"
    if "x" in v:
        return "keypoint"
    return "unknown"


def records_to_tasks(recs: list[dict], controls: set | None, cfg) -> list[dict]:
    """Inverse of :func:`records` (up to what the flat layout keeps)."""
    tasks: dict = {}
    n_region = 0
    for rec in recs:
        keys = list(rec)
        if controls is None:  # JSON_MIN: data keys come before "id"
            pos = keys.index("id") if "id" in keys else 0
            ctl = [k for k in keys[pos + 1:] if k not in META]
        else:
            ctl = [k for k in keys if k in controls]
        data = {(k[6:] if k.startswith("_data_") else k): rec[k] for k in keys
                if k not in ctl and k not in META and k != "id"}
        tid = rec.get("id")
        task = tasks.get(tid)
        if task is None:
            task = tasks[tid] = {"id": tid, "data": data, "annotations": []}
        if rec.get("annotation_id") is None and not any(rec.get(k) not in (None, "", []) for k in ctl):
            continue
        result = []
        for fn in ctl:
            v = rec.get(fn)
            if v in (None, ""):
                continue
            tag = cfg.controls.get(fn, {}).get("tag", "").lower() if cfg is not None else ""
            to_name = cfg.controls.get(fn, {}).get("to_name") if cfg is not None else None
            for val in (v if isinstance(v, list) else [v]):
                if isinstance(val, str):
                    typ = "textarea" if tag == "textarea" else "choices"
                    val = {"text": [val]} if typ == "textarea" else {"choices": [val]}
                elif isinstance(val, dict):
                    val = dict(val)
                    typ = tag if tag and tag not in ("labels",) and not tag.startswith("audio") else _infer_type(val)
                else:
                    continue
                item = {"id": f"r{n_region}", "type": typ, "from_name": fn, "to_name": to_name, "value": val}
                n_region += 1
                for k in SIZE_KEYS:
                    if k in val:
                        item[k] = val.pop(k)
                result.append(item)
        ann = {"id": rec.get("annotation_id"), "result": result}
        if rec.get("annotator") not in (None, ""):
            ann["completed_by"] = rec["annotator"]
        for k in ("created_at", "updated_at", "lead_time"):
            if rec.get(k) not in (None, ""):
                ann[k] = rec[k]
        task["annotations"].append(ann)
    return list(tasks.values())


def _to_dataset(tasks: list, cfg, source: Source, threshold: int, fmt: str) -> Dataset:
    with gc_paused():
        reader = Reader(cfg, threshold, source.display())
        reader.add_tasks(tasks)
        ds = reader.dataset()
    ds.info["format"] = fmt
    return ds


def _main_file(source: Source, *pats: str) -> str | None:
    if source.kind == "file":
        return None
    found = source.glob(*pats)
    if not found:
        raise FormatError(source.display(), f"no {' or '.join(pats)} here")
    return found[0]


def read_json_min(source: Source, config=None, mask_threshold: int = 1, **_o) -> Dataset:
    rel = _main_file(source, "result.json", "*.json")
    recs = parse_json(source, rel)
    if isinstance(recs, dict):
        recs = [recs]
    if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
        raise FormatError(source.display(rel), "JSON_MIN must be a list of objects")
    for n, r in enumerate(recs):  # LS writes the task id into every record; other JSON has none
        if "id" not in r:
            raise FormatError(source.display(rel), f"record #{n} has no 'id': expected JSON_MIN records "
                                                   f"(task data, id, one key per control, annotator, ...)")
        if is_task(r) and "data" in r and any(k in r for k in ("annotations", "completions", "predictions")):
            raise FormatError(source.display(rel), f"record #{n} is a Label Studio task (data, annotations): "
                                                   f"this is Label Studio JSON, not JSON_MIN (format='JSON')")
    cfg = load_config(config, source)
    controls = set(cfg.controls) if cfg is not None else None
    return _to_dataset(records_to_tasks(recs, controls, cfg), cfg, source, mask_threshold, "JSON_MIN")


_NUM = {"id", "annotation_id"}


def _parse_cell(col: str, v: str):
    if v == "":
        return None
    if col in _NUM:
        try:
            return int(float(v))
        except ValueError:
            return v
    if col == "lead_time":
        try:
            return float(v)
        except ValueError:
            return v
    if v[:1] in "[{":
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


def _read_csv(source: Source, sep: str | None, config, mask_threshold: int) -> Dataset:
    rel = _main_file(source, "result.csv", "*.csv", "*.tsv")
    text = source.read_text(rel)
    if sep is None:
        first = text.split("\n", 1)[0]
        sep = "\t" if first.count("\t") > first.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    except csv.Error as exc:
        raise FormatError(source.display(rel), f"invalid CSV: {exc}") from exc
    if not rows:
        raise FormatError(source.display(rel), "empty CSV")
    header = rows[0]
    if "id" not in header and any(rows):  # LS writes the task id column; any other table is not its CSV/TSV
        raise FormatError(source.display(rel), f"no 'id' column in the header {header[:6]}: expected Label Studio "
                                               f"{'TSV' if sep == chr(9) else 'CSV'} (task data, id, controls, "
                                               f"annotator, ...)", line=1)
    recs = []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise FormatError(source.display(rel), f"{len(row)} cells, header has {len(header)}", line=n)
        recs.append({c: _parse_cell(c, v) for c, v in zip(header, row, strict=True)})
    cfg = load_config(config, source)
    if cfg is not None:
        controls = set(cfg.controls) & set(header)
    else:
        controls = {c for c in header if c not in META and c != "id"
                    and any(isinstance(r[c], list) for r in recs)
                    and all(r[c] is None or (isinstance(r[c], list) and all(isinstance(x, (dict, str)) for x in r[c]))
                            for r in recs)}
    return _to_dataset(records_to_tasks(recs, controls, cfg), cfg, source, mask_threshold,
                       "TSV" if sep == "\t" else "CSV")


def read_csv(source: Source, config=None, mask_threshold: int = 1, **_o) -> Dataset:
    return _read_csv(source, ",", config, mask_threshold)


def read_tsv(source: Source, config=None, mask_threshold: int = 1, **_o) -> Dataset:
    return _read_csv(source, "\t", config, mask_threshold)


# -- detection -------------------------------------------------------------------------------------
def _first(source: Source, *pats: str) -> bytes:
    if source.kind == "file":
        return head(source, None) if any(source.name.lower().endswith(p[1:]) for p in pats) else b""
    found = source.glob(*pats)
    return head(source, found[0]) if found else b""


def detect_json_min(source: Source) -> float:
    b = _first(source, "*.json").lstrip()
    if b[:1] == b"[" and b'"annotation_id"' in b and b'"annotator"' in b and b'"data"' not in b:
        return 0.9
    return 0.0


def _detect_csv(sep: bytes) -> callable:
    def detect(source: Source) -> float:
        b = _first(source, "*.csv", "*.tsv")
        line = b.split(b"\n", 1)[0]
        if b'"annotation_id"' in line and b'"annotator"' in line and line.count(sep) > line.count(
                b"\t" if sep == b"," else b","):
            return 0.9
        return 0.0
    return detect


FLAT_SHAPES = ("bbox", "polygon", "polyline", "points", "ellipse", "mask", "tag", "text", "span", "segment", "taxonomy",
               "rating", "number", "datetime", "other")
register(FormatSpec(name="JSON_MIN", aliases=("Label Studio JSON_MIN", "json-min"), read=read_json_min,
                    write=write_json_min, detect=detect_json_min, shapes=FLAT_SHAPES,
                    media=("image", "video", "audio", "text"), family="label_studio",
                    description="Label Studio JSON_MIN: one record per annotation, keyed by control name"))
register(FormatSpec(name="CSV", aliases=("Label Studio CSV",), read=read_csv, write=_writer(","),
                    detect=_detect_csv(b","), shapes=FLAT_SHAPES, media=("image", "video", "audio", "text"),
                    family="label_studio",
                    description="Label Studio CSV: one row per annotation, JSON strings in cells (result.csv)"))
register(FormatSpec(name="TSV", aliases=("Label Studio TSV",), read=read_tsv, write=_writer("\t"),
                    detect=_detect_csv(b"\t"), shapes=FLAT_SHAPES, media=("image", "video", "audio", "text"),
                    family="label_studio",
                    description="Label Studio TSV: as CSV with tabs, also named result.csv as Label Studio does"))

__all__ = ["records", "csv_text", "records_to_tasks"]
