"""JSON_MIN / CSV / TSV: field by field against Label Studio's own outputs, and back to tables."""
from __future__ import annotations

import csv
import io
import warnings

import orjson
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry

PROJECTS = ["image", "image_det", "text", "audio", "video"]


def _export(ls_dir, project, fmt, tmp_path):
    ds = aw.load(str(ls_dir / "input" / project / "tasks.json"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path), format=fmt, archive=False, name=fmt)
    return ds, out


def _csv_rows(raw: bytes, sep: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8")), delimiter=sep))
    out = []
    for r in rows:
        rec = {}
        for k, v in r.items():
            if v and v[0] in "[{":
                v = orjson.loads(v)  # JSON strings in cells: compare the values, not the bytes
            rec[k] = v
        out.append(rec)
    return out


@pytest.mark.parametrize("project", PROJECTS)
def test_json_min_matches_label_studio(ls_dir, project, tmp_path):
    _, out = _export(ls_dir, project, "JSON_MIN", tmp_path)
    mine = orjson.loads((tmp_path / "JSON_MIN" / "result.json").read_bytes())
    ref = orjson.loads((ls_dir / "output" / project / "JSON_MIN" / "result.json").read_bytes())  # ujson's \/ is /
    assert len(mine) == len(ref)
    for m, r in zip(mine, ref, strict=True):
        assert list(m) == list(r)  # same keys in the same order (data keys, id, controls, meta)
        for k in r:
            assert m[k] == r[k], (k, m[k], r[k])


@pytest.mark.parametrize("project", PROJECTS)
@pytest.mark.parametrize("fmt,sep", [("CSV", ","), ("TSV", "\t")])
def test_csv_tsv_match_label_studio(ls_dir, project, fmt, sep, tmp_path):
    _export(ls_dir, project, fmt, tmp_path)
    raw = (tmp_path / fmt / "result.csv").read_bytes()  # TSV is named result.csv, as Label Studio does
    ref_raw = (ls_dir / "output" / project / fmt / "result.csv").read_bytes()
    assert raw.split(b"\r\n", 1)[0] == ref_raw.split(b"\r\n", 1)[0]  # sorted, quoted header
    mine, ref = _csv_rows(raw, sep), _csv_rows(ref_raw, sep)
    assert mine == ref


def test_unannotated_task_gives_null_record(ls_dir, tmp_path):
    _export(ls_dir, "image", "JSON_MIN", tmp_path)
    recs = orjson.loads((tmp_path / "JSON_MIN" / "result.json").read_bytes())
    empty = [r for r in recs if r["id"] == 103]
    assert empty == [{"image": "/data/upload/1/c9d0e1f2-empty.png", "id": 103, "annotator": None,
                      "annotation_id": None, "created_at": None, "updated_at": None, "lead_time": None}]


def test_loss_report_lists_what_flat_formats_drop(ls_dir, tmp_path):
    ds, out = _export(ls_dir, "image", "CSV", tmp_path)
    reasons = {e.reason: e.rows for e in out.loss.entries}
    assert reasons["flat formats hold no relations"] == [0]
    assert sorted(reasons["flat formats hold no predictions"]) == sorted(
        ds.annotations.loc[ds.annotations["source"] == "prediction", "ann_id"].tolist())
    assert reasons["cancelled annotations are left out"] == [5002]
    assert any("region ids" in r for r in reasons) and any("parent" in r for r in reasons)
    with pytest.warns(LossWarning):
        ds.export(str(tmp_path), format="JSON_MIN", archive=False, name="again")


@pytest.mark.parametrize("project", ["image", "text", "audio", "video"])
def test_json_min_and_csv_import(ls_dir, project):
    full = aw.load(str(ls_dir / "input" / project / "tasks.json"))
    cfg = str(ls_dir / "input" / project / "config.xml")
    keep = full.annotations[(full.annotations["source"] == "annotation")
                            & ~full.annotations["set_id"].isin(full.sets.loc[full.sets["cancelled"], "set_id"])]
    cols = ["item_id", "set_id", "label", "type", "x", "y", "w", "h", "rotation", "start", "end", "text", "value"]
    expect = keep[cols].sort_values(["set_id", "type", "label", "x", "start"]).reset_index(drop=True)
    for fmt, rel in (("JSON_MIN", "JSON_MIN/result.json"), ("CSV", "CSV/result.csv"), ("TSV", "TSV/result.csv")):
        ds = aw.load(str(ls_dir / "output" / project / rel), format=fmt, config=cfg).validate()
        got = ds.annotations[cols].sort_values(["set_id", "type", "label", "x", "start"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expect, check_exact=False, obj=fmt)
        assert ds.annotations["region_id"].notna().all()  # generated ids
        assert sorted(ds.items["item_id"]) == sorted(full.items["item_id"])


def test_json_min_import_without_config_uses_key_order(ls_dir):
    ds = aw.load(str(ls_dir / "output/image/JSON_MIN/result.json"))
    assert ds.info["format"] == "JSON_MIN"
    a = ds.annotations
    assert a[a["type"] == "tag"]["label"].tolist() == ["Sunny", "Rainy"]
    assert a["type"].value_counts().to_dict() == {"bbox": 4, "polygon": 2, "mask": 2, "points": 2, "tag": 2}
    assert ds.items.set_index("item_id").loc[101, "data"] == {"image": "/data/upload/1/a1b2c3d4-street.png"}


def test_flat_detection(ls_dir):
    from annowidgets.core.io import Source

    with Source(str(ls_dir / "output/text/JSON_MIN/result.json")) as s:
        assert registry.detect(s).name == "JSON_MIN"
    with Source(str(ls_dir / "output/text/CSV/result.csv")) as s:
        assert registry.detect(s).name == "CSV"
    with Source(str(ls_dir / "output/text/TSV/result.csv")) as s:
        assert registry.detect(s).name == "TSV"
