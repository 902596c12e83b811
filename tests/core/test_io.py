"""Source/Sink: zip safety, atomic commit, fsspec URLs."""
from __future__ import annotations

import io
import zipfile

import fsspec
import pytest

from annowidgets.core.errors import UnsafeInputError
from annowidgets.core.io import Sink, Source


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)


@pytest.mark.parametrize("bad", ["../evil.txt", "a/../../evil.txt", "/etc/passwd", "C:/x.txt"])
def test_zip_entry_escaping_the_folder_is_refused(tmp_path, bad):
    p = tmp_path / "a.zip"
    _zip(p, {"ok.txt": b"1", bad: b"2"})
    with pytest.raises(UnsafeInputError, match="zip entry"):
        Source(str(p))


def test_zip_bomb_is_refused(tmp_path, monkeypatch):
    import annowidgets.core.io as cio

    monkeypatch.setattr(cio, "_RATIO_FLOOR", 1000)
    p = tmp_path / "bomb.zip"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * 5_000_000)
    with pytest.raises(UnsafeInputError, match="zip bomb"):
        Source(str(p))


def test_source_lists_zip_folder_and_single_file(tmp_path):
    p = tmp_path / "a.zip"
    _zip(p, {"annotations.xml": b"<a/>", "images/x.png": b"png"})
    with Source(str(p)) as s:
        assert s.kind == "zip" and s.files == ["annotations.xml", "images/x.png"]
        assert s.read_bytes("images/x.png") == b"png"
        with fsspec.open(s.url_of("images/x.png"), "rb") as f:
            assert f.read() == b"png"
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "t.json").write_text("[]")
    s = Source(str(d))
    assert s.kind == "folder" and s.files == ["sub/t.json"] and s.read_text("sub/t.json") == "[]"
    s = Source(str(d / "sub" / "t.json"))
    assert s.kind == "file" and s.read_text() == "[]"


def test_memory_url_source():
    fs = fsspec.filesystem("memory")
    fs.pipe("/src/t.json", b"[1]")
    assert Source("memory://src/t.json").read_bytes() == b"[1]"
    assert Source("memory://src").files == ["t.json"]


def test_sink_commits_atomically_and_aborts_cleanly(tmp_path):
    final = tmp_path / "out.zip"
    with pytest.raises(RuntimeError):
        with Sink(str(final)) as sink:
            sink.write_text("a.txt", "x")
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []  # nothing half-written, not even the staging file
    with Sink(str(final)) as sink:
        sink.write_text("a.txt", "x")
        assert not final.exists()  # staged under a temporary name until commit
    with zipfile.ZipFile(final) as z:
        assert z.read("a.txt") == b"x"


def test_sink_folder_and_memory(tmp_path):
    with Sink(str(tmp_path / "out"), archive=False) as sink:
        sink.write_text("x/y.txt", "hi")
    assert (tmp_path / "out" / "x" / "y.txt").read_text() == "hi"
    with Sink("memory://exports/a.zip") as sink:
        sink.write_text("r.json", "{}")
    data = fsspec.filesystem("memory").cat("/exports/a.zip")
    assert zipfile.ZipFile(io.BytesIO(data)).read("r.json") == b"{}"


def test_sink_refuses_escaping_names(tmp_path):
    with pytest.raises(UnsafeInputError):
        with Sink(str(tmp_path / "o.zip")) as sink:
            sink.write_text("../x", "no")
    assert list(tmp_path.iterdir()) == []
