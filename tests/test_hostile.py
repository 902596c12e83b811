"""Hostile basics for EVERY registered format that has a reader (DESIGN §7, issue 2).

The formats come from the registry, so a new format is tested the day it registers. Each gets
a valid sample input (written by its own writer, or listed in ``IMPORT_ONLY``), which must
load; then the sample is damaged and every reader must answer:
- a zip with a ``..`` entry or an absolute entry: ``UnsafeInputError`` before anything is read;
- an XML file given a DOCTYPE with an external ENTITY: ``UnsafeInputError`` (never expanded);
- a JSON / JSON-lines / XML file cut in half: ``FormatError`` naming the file and the line or
  position;
- a YAML file with a Python object tag: ``FormatError`` (``yaml.safe_load`` only);
- a Label Studio labeling config with a DOCTYPE next to the tasks: ``UnsafeInputError``.
Damage a format's files do not have (no XML in YOLO) does not apply to it and is skipped.
"""
from __future__ import annotations

import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.errors import FormatError, UnsafeInputError
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry

READERS = [s.name for s in registry.all_formats() if s.can_import]
SECRET = "annowidgets-hostile-secret-7f3a"
DOCTYPE = b'<!DOCTYPE annotations [<!ENTITY xxe SYSTEM "file://%s">]>\n'


def _import_only_samples(ls_dir: Path) -> dict:
    """Formats that can be read but not written: where a valid sample comes from."""
    return {"BRUSH_TO_COCO": ls_dir / "output" / "image_det" / "BRUSH_TO_COCO"}


# -- sample inputs -----------------------------------------------------------------------------
def _image_dataset(media: Path) -> aw.Dataset:
    media.mkdir(parents=True, exist_ok=True)
    names = ["a.png", "b.png"]
    for n in names:
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(media / n)
    items = pd.DataFrame({"item_id": [0, 1], "name": names, "media": [str(media / n) for n in names],
                          "width": [30, 30], "height": [20, 20], "frame": [0, 1]})
    from pycocotools import mask as mu

    m = np.zeros((20, 30), np.uint8, order="F")
    m[4:9, 5:12] = 1
    mask = mu.encode(m)
    mask = {"size": [20, 30], "counts": mask["counts"].decode()}
    ann = pd.DataFrame([
        {"ann_id": 0, "item_id": 0, "label": "car", "type": "bbox", "x": 2, "y": 3, "w": 10, "h": 6},
        {"ann_id": 1, "item_id": 0, "label": "road", "type": "polygon", "points": [1, 1, 20, 1, 20, 15],
         "x": 1, "y": 1, "w": 19, "h": 14},
        {"ann_id": 2, "item_id": 1, "label": "car", "type": "mask", "mask": mask, "x": 5, "y": 4, "w": 7, "h": 5},
        {"ann_id": 3, "item_id": 1, "label": "day", "type": "tag"},
    ])
    return aw.Dataset(items=items, annotations=ann)


def _text_dataset() -> aw.Dataset:
    text = "Anna lives in Paris"
    items = pd.DataFrame({"item_id": [0], "name": ["t0"], "kind": ["text"], "data": [{"text": text}]})
    ann = pd.DataFrame([
        {"ann_id": 0, "item_id": 0, "label": "PER", "type": "span", "start": 0, "end": 4, "text": "Anna"},
        {"ann_id": 1, "item_id": 0, "label": "LOC", "type": "span", "start": 14, "end": 19, "text": "Paris"},
    ])
    return aw.Dataset(items=items, annotations=ann)


def _audio_dataset(media: Path) -> aw.Dataset:
    import wave

    media.mkdir(parents=True, exist_ok=True)
    path = media / "clip.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    items = pd.DataFrame({"item_id": [0], "name": ["clip.wav"], "media": [str(path)], "kind": ["audio"],
                          "duration": [1.0]})
    ann = pd.DataFrame([{"ann_id": 0, "item_id": 0, "type": "text", "label": "", "text": "hello world"}])
    return aw.Dataset(items=items, annotations=ann)


@pytest.fixture(scope="module")
def samples(tmp_path_factory, ls_dir):
    """format name -> folder holding a valid input of that format (built on first use)."""
    root = tmp_path_factory.mktemp("hostile")
    made: dict[str, Path] = {}
    import_only = _import_only_samples(ls_dir)

    def get(name: str) -> Path:
        if name in made:
            return made[name]
        spec = registry.get(name)
        out = root / f"s{len(made)}"
        if name in import_only:
            src = import_only[name]
            if not src.exists():
                pytest.skip(f"sample for {name} not found at {src}")
            shutil.copytree(src, out)
        elif spec.can_export:
            kinds = spec.media
            ds = (_image_dataset(root / "media") if "image" in kinds else _audio_dataset(root / "audio")
                  if "audio" in kinds else _text_dataset())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LossWarning)
                path = ds.export(str(root), format=name, name=out.name, archive=False, save_images=True)
            assert Path(path) == out
        else:
            pytest.fail(f"{name} can be read but not written: add a sample input to _import_only_samples")
        made[name] = out
        return out

    return get


def _files(folder: Path, *suffixes: str) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))


def _copy(folder: Path, dst: Path) -> Path:
    shutil.copytree(folder, dst)
    return dst


def _load(path: Path, fmt: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return aw.load(str(path), format=fmt)


def _names_file_and_place(exc: FormatError, damaged: Path) -> None:
    assert damaged.name in exc.file, f"error names {exc.file!r}, not the damaged {damaged.name}"
    assert exc.line is not None or exc.position is not None, f"no line/position in: {exc}"


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.fixtures
@pytest.mark.parametrize("fmt", READERS)
def test_sample_loads(samples, fmt):
    """The undamaged sample is valid input, so the failures below are about the damage."""
    ds = _load(samples(fmt), fmt)
    assert len(ds.items) > 0


@pytest.mark.fixtures
@pytest.mark.parametrize("entry", ["../escape.txt", "a/../../escape.txt", "/abs/escape.txt"])
@pytest.mark.parametrize("fmt", READERS)
def test_zip_entry_escaping_is_refused(samples, fmt, entry, tmp_path):
    folder = samples(fmt)
    arc = tmp_path / "in.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for p in _files(folder, ""):
            zf.write(p, p.relative_to(folder).as_posix())
        zf.writestr(zipfile.ZipInfo(entry), b"x")
    with pytest.raises(UnsafeInputError, match="zip entry"):
        _load(arc, fmt)
    assert not (tmp_path.parent / "escape.txt").exists()


@pytest.mark.fixtures
@pytest.mark.parametrize("fmt", READERS)
def test_xml_with_doctype_entity_is_refused(samples, fmt, tmp_path):
    xmls = _files(samples(fmt), ".xml")
    if not xmls:
        pytest.skip(f"{fmt} has no XML file")
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    folder = _copy(samples(fmt), tmp_path / "in")
    target = folder / xmls[0].relative_to(samples(fmt))
    data = target.read_bytes()
    cut = data.index(b"?>") + 2 if data.startswith(b"<?xml") else 0
    body = data[cut:].replace(b">", b">&xxe;", 2) if b"<annotation" in data else data[cut:]
    target.write_bytes(data[:cut] + b"\n" + DOCTYPE % str(secret).encode() + body)
    with pytest.raises(UnsafeInputError, match="DOCTYPE|ENTITY"):
        _load(folder, fmt)
    # auto-detection must not expand it either: refused, or not recognised at all
    with pytest.raises((UnsafeInputError, aw.UnknownFormatError)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LossWarning)
            aw.load(str(folder))


@pytest.mark.fixtures
@pytest.mark.parametrize("fmt", READERS)
def test_label_config_with_doctype_is_refused(samples, fmt, tmp_path):
    """A labeling config beside Label Studio tasks is XML too."""
    if registry.get(fmt).read.__module__ not in ("annowidgets.formats.ls_read", "annowidgets.formats.ls_flat"):
        pytest.skip(f"{fmt} does not read a labeling config")
    folder = _copy(samples(fmt), tmp_path / "in")
    (folder / "config.xml").write_bytes(DOCTYPE % b"/etc/hostname" + b'<View><Image name="image" value="$image"/>'
                                        b"</View>")
    with pytest.raises(UnsafeInputError, match="DOCTYPE"):
        _load(folder, fmt)


@pytest.mark.fixtures
@pytest.mark.parametrize("kind", ["json", "xml"])
@pytest.mark.parametrize("fmt", READERS)
def test_truncated_file_names_file_and_place(samples, fmt, kind, tmp_path):
    suffixes = {"json": (".json", ".jsonl"), "xml": (".xml",)}[kind]
    found = _files(samples(fmt), *suffixes)
    if not found:
        pytest.skip(f"{fmt} has no {kind} file")
    folder = _copy(samples(fmt), tmp_path / "in")
    for original in found:  # every such file in turn: each one is read by someone
        target = folder / original.relative_to(samples(fmt))
        data = original.read_bytes()
        target.write_bytes(data[: max(len(data) // 2, 1)])
        with pytest.raises(FormatError) as info:
            _load(folder, fmt)
        assert not isinstance(info.value, UnsafeInputError)
        _names_file_and_place(info.value, target)
        target.write_bytes(data)


@pytest.mark.fixtures
@pytest.mark.parametrize("fmt", READERS)
def test_yaml_python_tags_are_refused(samples, fmt, tmp_path):
    found = _files(samples(fmt), ".yaml", ".yml")
    if not found:
        pytest.skip(f"{fmt} has no YAML file")
    folder = _copy(samples(fmt), tmp_path / "in")
    target = folder / found[0].relative_to(samples(fmt))
    target.write_text(target.read_text() + "\nboom: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(FormatError) as info:
        _load(folder, fmt)
    assert target.name in info.value.file


def test_every_reader_is_covered():
    """The parametrisation above is the registry itself, not a list someone must keep."""
    shipped = {s.name for s in registry.all_formats() if s.read is not None
               and s.read.__module__.startswith("annowidgets.")}  # other tests register test-only formats
    assert shipped <= set(READERS)
    assert {"CVAT for images 1.1", "Label Studio JSON", "COCO 1.0", "PASCAL VOC 1.1", "YOLO 1.1", "JSON_MIN",
            "CONLL2003", "ASR_MANIFEST"} <= set(READERS)
