"""ASR_MANIFEST: the reference manifest and audio copies, durations from the files, options, round trips."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import annowidgets as aw
from annowidgets.core.dataset import Dataset
from annowidgets.core.errors import FormatError
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry
from annowidgets.formats._audio import audio_duration
from tests.conftest import LABEL_STUDIO

needs_fixtures = pytest.mark.skipif(not LABEL_STUDIO.exists(), reason="Label Studio samples not found")
SEGMENT_LOSS = "not a transcription; the manifest cannot hold it (segments=True writes one line per segment)"


def ls_audio_dataset(ls_dir, duration=np.nan) -> Dataset:
    """The audio sample as the LS reader lays it out: segments and transcriptions per annotation set."""
    tasks = json.loads((ls_dir / "input" / "audio" / "tasks.json").read_text())
    upload = ls_dir / "input" / "media" / "upload"
    items, sets, ann = [], [], []
    for t in tasks:
        rel = t["data"]["audio"].removeprefix("/data/upload/")
        items.append({"item_id": t["id"], "name": rel.split("/")[-1], "kind": "audio", "media": str(upload / rel),
                      "duration": duration, "data": t["data"]})
        for a in t["annotations"]:
            sets.append({"set_id": a["id"], "item_id": t["id"], "annotator": str(a["completed_by"])})
            for r in a["result"]:
                v = r["value"]
                row = {"ann_id": len(ann), "item_id": t["id"], "set_id": a["id"], "region_id": r["id"],
                       "from_name": r["from_name"], "to_name": r["to_name"]}
                if r["type"] == "textarea":
                    ann.extend({**row, "ann_id": len(ann) + i, "type": "text", "text": x} for i, x in enumerate(v["text"]))
                else:
                    ann.extend({**row, "ann_id": len(ann) + i, "type": "segment", "label": lb, "start": v["start"],
                                "end": v["end"]} for i, lb in enumerate(v["labels"]))
    return Dataset(items=items, sets=sets, annotations=ann)


def export(ds: Dataset, tmp_path, **kw):
    path = ds.export(str(tmp_path), format="ASR_MANIFEST", name="out.zip", **kw)
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    return files, path


def lines(files) -> list[dict]:
    return [json.loads(ln) for ln in files["manifest.json"].decode().splitlines()]


@needs_fixtures
def test_matches_reference_manifest_and_audio(ls_dir, tmp_path):
    ref = ls_dir / "output" / "audio" / "ASR_MANIFEST"
    with pytest.warns(LossWarning, match="segments=True"):
        files, path = export(ls_audio_dataset(ls_dir), tmp_path, save_images=True)
    assert files["manifest.json"].decode().splitlines() == (ref / "manifest.json").read_text().splitlines()
    for name in ("1234abcd-hello.wav", "5678efab-bye.wav"):
        assert files[f"audio/{name}"] == (ref / "audio" / name).read_bytes()
    assert {e.reason: e.rows for e in path.loss.entries} == {SEGMENT_LOSS: [0, 1]}  # LS drops them silently


@needs_fixtures
def test_duration_from_the_file_then_the_column(ls_dir, tmp_path):
    wav = ls_dir / "input" / "media" / "upload" / "3" / "1234abcd-hello.wav"
    assert audio_duration(str(wav)) == 1.5
    assert audio_duration(str(tmp_path / "missing.wav")) is None
    ds = ls_audio_dataset(ls_dir, duration=9.0)
    ds.annotations = ds.annotations[ds.annotations["type"] == "text"]
    assert [ln["duration"] for ln in lines(export(ds, tmp_path)[0])] == [1.5, 1.5]  # the file wins
    ds.items["media"] = [str(tmp_path / "gone.wav"), ds.items["media"].iloc[1]]
    assert [ln["duration"] for ln in lines(export(ds, tmp_path)[0])] == [9.0, 1.5]
    ds.items["duration"] = np.nan
    ds.annotations["extra"] = [{"original_length": 1.25}, None]  # LS keeps the length on audio regions
    assert [ln["duration"] for ln in lines(export(ds, tmp_path)[0])] == [1.25, 1.5]
    ds.annotations["extra"] = None
    with pytest.warns(LossWarning, match="audio duration unknown"):
        files, path = export(ds, tmp_path)
    assert [ln["text"] for ln in lines(files)] == ["goodbye"]
    assert path.loss.entries[0].rows == [301]


def _flac(path, rate=8000, samples=16000):
    """A FLAC header (STREAMINFO only) that says ``samples / rate`` seconds: enough for a header reader."""
    bits = (rate << 44) | (0 << 41) | (15 << 36) | samples
    info = (4096).to_bytes(2, "big") * 2 + b"\0" * 6 + bits.to_bytes(8, "big") + b"\0" * 16
    path.write_bytes(b"fLaC" + bytes([0x80, 0, 0, 34]) + info)


def test_duration_of_other_formats_via_mutagen(tmp_path):
    pytest.importorskip("mutagen")
    _flac(tmp_path / "a.flac")
    assert audio_duration(str(tmp_path / "a.flac")) == 2.0


def test_segments_mode_writes_offsets(tmp_path):
    ds = Dataset(items={"item_id": [0], "name": ["x.wav"], "kind": "audio", "media": ["x.wav"], "duration": [3.0]},
                 sets={"set_id": [5], "item_id": [0], "annotator": ["ann@example.com"]},
                 annotations={"ann_id": [0, 1, 2, 3, 4], "item_id": 0, "set_id": 5,
                              "type": ["segment", "segment", "text", "segment", "text"],
                              "region_id": ["s1", "s2", "s2", "s2", "whole"],
                              "label": ["Alice", "Bob", "", "Carol", ""], "start": [0.0, 1.25, None, 1.25, None],
                              "end": [0.62, 2.0, None, 2.0, None], "text": [None, None, "hi bob", None, "all"]})
    with pytest.warns(LossWarning):
        files, path = export(ds, tmp_path, segments=True)
    assert lines(files) == [
        {"audio_filepath": "audio/x.wav", "offset": 0.0, "duration": 0.62, "text": "", "label": "Alice",
         "annotator": "ann@example.com"},
        {"audio_filepath": "audio/x.wav", "offset": 1.25, "duration": 0.75, "text": "hi bob", "label": "Bob",
         "annotator": "ann@example.com"}]
    assert {e.reason: e.rows for e in path.loss.entries} == {
        "transcription of the whole file; segments mode writes segment lines only": [4],
        "segment has several labels; the first is written": [3]}
    back = aw.load(path, format="nemo")
    seg = back.annotations
    assert seg["type"].tolist() == ["segment", "segment"]
    assert seg[["start", "end", "label", "text"]].values.tolist() == [[0.0, 0.62, "Alice", ""],
                                                                      [1.25, 2.0, "Bob", "hi bob"]]


def test_sets_without_text_and_items_without_sets_do_not_crash(tmp_path):
    """Label Studio raises KeyError / UnboundLocalError on these two."""
    ds = Dataset(items={"item_id": [0, 1], "name": ["a.wav", "b.wav"], "kind": "audio", "duration": [1.0, 2.0]},
                 sets={"set_id": [7], "item_id": [0]},
                 annotations={"ann_id": [0], "item_id": 0, "set_id": 7, "type": "segment", "label": "A",
                              "start": 0.0, "end": 0.5})
    with pytest.warns(LossWarning):
        files, _ = export(ds, tmp_path)
    assert files["manifest.json"] == b""
    with pytest.warns(LossWarning):
        files, _ = export(ds, tmp_path, empty="write")
    assert lines(files) == [{"audio_filepath": "audio/a.wav", "duration": 1.0, "text": ""},
                            {"audio_filepath": "audio/b.wav", "duration": 2.0, "text": ""}]


def test_names_never_collide_and_source_paths(tmp_path):
    ds = Dataset(items={"item_id": [3, 4], "kind": "audio", "media": ["s3://b/x/clip.wav", "s3://b/y/clip.wav"],
                        "duration": [1.0, 2.0]},
                 annotations={"ann_id": [0, 1], "item_id": [3, 4], "set_id": [1, 2], "type": "text",
                              "text": ["one", "two"]})
    files, _ = export(ds, tmp_path, measure=False)
    assert [ln["audio_filepath"] for ln in lines(files)] == ["audio/3-clip.wav", "audio/4-clip.wav"]
    files, _ = export(ds, tmp_path, measure=False, paths="source")
    assert [ln["audio_filepath"] for ln in lines(files)] == ["s3://b/x/clip.wav", "s3://b/y/clip.wav"]


@needs_fixtures
def test_read_reference_manifest(ls_dir):
    ds = aw.load(str(ls_dir / "output" / "audio" / "ASR_MANIFEST"))  # detected
    assert ds.info["format"] == "ASR_MANIFEST"
    assert ds.items["name"].tolist() == ["1234abcd-hello.wav", "5678efab-bye.wav"]
    assert ds.items["duration"].tolist() == [1.5, 1.5] and (ds.items["kind"] == "audio").all()
    assert audio_duration(ds.items["media"].iloc[0]) == 1.5  # media URLs open
    assert ds.annotations[["type", "text", "annotator"]].values.tolist() == [
        ["text", "hello there general kenobi", "1"], ["text", "goodbye", "1"]]
    assert ds.sets["annotator"].tolist() == ["1", "1"]
    ds.validate()


@needs_fixtures
def test_round_trip(ls_dir, tmp_path):
    ds = ls_audio_dataset(ls_dir)
    ds.annotations = ds.annotations[ds.annotations["type"] == "text"]
    _, path = export(ds, tmp_path, save_images=True)
    back = aw.load(path)
    assert back.annotations["text"].tolist() == ds.annotations["text"].tolist()
    files2, _ = export(back, tmp_path / "again", save_images=True)
    files1, _ = export(ds, tmp_path / "first", save_images=True)
    assert files1 == files2


@pytest.mark.parametrize("body,line,msg", [
    (b'{"audio_filepath": "a.wav", "duration": 1, "text": "x"}\n{"audio_filepath": \n', 2, "not a JSON object"),
    (b'\n[1, 2]\n', 2, "audio_filepath"),
    (b'{"audio_filepath": "a.wav", "duration": -3}\n', 1, "non-negative"),
])
def test_malformed_lines(tmp_path, body, line, msg):
    f = tmp_path / "manifest.json"
    f.write_bytes(body)
    with pytest.raises(FormatError, match=msg) as info:
        aw.load(str(f), format="ASR_MANIFEST")
    assert info.value.line == line


def test_spec():
    for name in ("ASR_MANIFEST", "asr_manifest", "nemo"):
        assert registry.get(name).name == "ASR_MANIFEST"
    spec = registry.get("nemo")
    assert spec.media == ("audio",) and "text" in spec.shapes


def test_open_url_reads_media_inside_a_zip(tmp_path):
    """Media of an imported archive are zip://member::archive URLs; they must stay readable."""
    from annowidgets.core.io import Source, open_url

    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("audio/x.wav", b"x" * 70000)
    with Source(str(tmp_path / "a.zip")) as src:
        url = src.url_of("audio/x.wav")
    with open_url(url) as f:
        assert len(f.read()) == 70000


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=30), st.one_of(st.none(), st.text(min_size=1, max_size=8)),
                          st.floats(0.01, 3600, allow_nan=False)), min_size=1, max_size=6))
def test_round_trip_any_text(tmp_path_factory, rows):
    """Transcriptions with quotes, newlines and any unicode come back unchanged, with annotators and durations."""
    n = len(rows)
    ds = Dataset(items={"item_id": range(n), "name": [f"c{i}.wav" for i in range(n)], "kind": "audio",
                        "duration": [d for _, _, d in rows]},
                 sets={"set_id": range(n), "item_id": range(n), "annotator": [a for _, a, _ in rows]},
                 annotations={"ann_id": range(n), "item_id": range(n), "set_id": range(n), "type": "text",
                              "text": [t for t, _, _ in rows]})
    _, path = export(ds, tmp_path_factory.mktemp("asr"), measure=False)
    back = aw.load(path, format="ASR_MANIFEST")
    assert back.annotations["text"].tolist() == [t for t, _, _ in rows]
    assert [None if pd.isna(a) else a for a in back.annotations["annotator"]] == [a for _, a, _ in rows]
    assert back.items["duration"].tolist() == [d for _, _, d in rows]
    assert back.items["name"].tolist() == [f"c{i}.wav" for i in range(n)]


def test_other_jsonl_files_are_left_alone(tmp_path):
    """A CVAT data manifest.jsonl beside the ASR manifest is not mistaken for it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.jsonl").write_text('{"version":"1.1"}\n{"type":"images"}\n')
    (tmp_path / "train.jsonl").write_text('{"audio_filepath": "a.wav", "duration": 2.5, "text": "hi"}\n')
    ds = aw.load(str(tmp_path))
    assert ds.info["format"] == "ASR_MANIFEST"
    assert ds.annotations["text"].tolist() == ["hi"] and ds.items["duration"].tolist() == [2.5]
    (tmp_path / "train.jsonl").unlink()
    with pytest.raises(FormatError, match="audio_filepath"):
        aw.load(str(tmp_path), format="nemo")
