"""Label Studio JSON -> our tables -> BRUSH / CONLL2003 / ASR_MANIFEST, against the reference converter.

These run once the Label Studio JSON reader is on the branch (it is written in parallel) and
are skipped before that. They compare whole outputs: file names, pixels, lines.
"""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.errors import UnknownFormatError
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry
from tests.conftest import LABEL_STUDIO


def _ls_reader():
    try:
        return registry.get("Label Studio JSON")
    except UnknownFormatError:
        return None


pytestmark = [pytest.mark.skipif(_ls_reader() is None, reason="Label Studio JSON reader not on this branch yet"),
              pytest.mark.skipif(not LABEL_STUDIO.exists(), reason="Label Studio samples not found")]


def load(ls_dir, project):
    return aw.load(str(ls_dir / "input" / project / "tasks.json"), format="Label Studio JSON")


def zipped(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


@pytest.mark.parametrize("project", ["image", "image_det"])
@pytest.mark.parametrize("fmt", ["BRUSH_TO_NUMPY", "BRUSH_TO_PNG"])
def test_brush_from_ls_json_equals_reference(ls_dir, tmp_path, project, fmt):
    ds = load(ls_dir, project)
    with pytest.warns(LossWarning):  # boxes, polygons, choices… are reported, not written
        files = zipped(ds.export(str(tmp_path), format=fmt, name="o.zip"))
    ref = ls_dir / "output" / project / fmt
    regions = sorted(n for n in files if not n.startswith("combined/"))
    assert regions == sorted(p.name for p in ref.iterdir())
    for name in regions:
        data = io.BytesIO(files[name])
        got = np.load(data) if name.endswith(".npy") else np.asarray(Image.open(data))
        want = np.load(ref / name) if name.endswith(".npy") else np.asarray(Image.open(ref / name))
        np.testing.assert_array_equal(got, want)  # soft edges included (the brush codec is present)


def test_brush_round_trip_keeps_soft_edges(ls_dir, tmp_path):
    ds = load(ls_dir, "image_det")
    with pytest.warns(LossWarning):
        first = zipped(ds.export(str(tmp_path), format="BRUSH_TO_PNG", name="a.zip"))
    back = aw.load(str(tmp_path / "a.zip"))
    second = zipped(back.export(str(tmp_path), format="BRUSH_TO_PNG", name="b.zip"))
    regions = [n for n in first if not n.startswith("combined/")]
    assert {n: first[n] for n in regions} == {n: second[n] for n in regions}


def test_conll_from_ls_json_equals_reference(ls_dir, tmp_path):
    ds = load(ls_dir, "text")
    with pytest.warns(LossWarning):  # choices, taxonomy, rating
        files = zipped(ds.export(str(tmp_path), format="CONLL2003", name="o.zip"))
    ref = (ls_dir / "output" / "text" / "CONLL2003" / "result.conll").read_text()
    assert files["result.conll"].decode().splitlines() == ref.splitlines()


def test_asr_manifest_from_ls_json_equals_reference(ls_dir, tmp_path):
    ds = load(ls_dir, "audio")
    # the media are Label Studio upload paths; resolve them as the converter's upload_dir does
    upload = str(ls_dir / "input" / "media" / "upload")
    ds.items["media"] = ds.items["media"].str.replace("/data/upload", upload, regex=False)
    with pytest.warns(LossWarning):  # the speaker segments
        files = zipped(ds.export(str(tmp_path), format="ASR_MANIFEST", name="o.zip", save_images=True))
    ref = ls_dir / "output" / "audio" / "ASR_MANIFEST"
    got = [json.loads(x) for x in files["manifest.json"].decode().splitlines()]
    assert got == [json.loads(x) for x in (ref / "manifest.json").read_text().splitlines()]
    assert files["audio/1234abcd-hello.wav"] == (ref / "audio" / "1234abcd-hello.wav").read_bytes()
