"""Every file and archive the library reads or writes goes through here, on fsspec URLs.

``Source`` is a read-only view of an input given as one file, a folder or a zip archive on
any fsspec URL (``/path``, ``file://``, ``memory://``, ``s3://``…). Zip entries that would
escape their folder, and archives that inflate beyond reason, are refused before anything
is read.

``Sink`` is where a writer puts its files: a zip archive (the default) or a folder, staged
under a temporary name and renamed into place on ``commit()``, so a failed export never
leaves a half-written archive under the final name.
"""
from __future__ import annotations

import fnmatch
import os
import posixpath
import shutil
import uuid
import zipfile
from typing import IO

import fsspec
from fsspec.core import url_to_fs

from .errors import FormatError, UnsafeInputError

#: Refuse archives whose entries inflate to more than this in total (zip bombs).
MAX_UNPACKED_BYTES = 64 * 1024**3
#: …or whose entries inflate more than this many times their compressed size when large.
MAX_RATIO = 200
_RATIO_FLOOR = 64 * 1024**2  # only large entries are judged by their ratio

ARCHIVE_SUFFIXES = (".zip",)


def _is_zip_name(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def safe_member_name(name: str, archive: str) -> str:
    """Return the normalised relative path of a zip entry, or raise if it escapes the archive."""
    n = name.replace("\\", "/")
    if n.startswith("/") or (len(n) > 1 and n[1] == ":") or n.startswith("//"):
        raise UnsafeInputError(archive, f"zip entry {name!r} has an absolute path", element="zip")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeInputError(archive, f"zip entry {name!r} escapes the archive folder ('..')", element="zip")
    return "/".join(parts)


class Source:
    """A read-only input: one file, a folder, or a zip archive, on any fsspec URL."""

    def __init__(self, url: str | os.PathLike, storage_options: dict | None = None):
        self.url = os.fspath(url)
        self.fs, self.root = url_to_fs(self.url, **(storage_options or {}))
        self.name = posixpath.basename(self.root.rstrip("/"))
        self._zip: zipfile.ZipFile | None = None
        self._zip_names: dict[str, str] = {}
        if self.fs.isdir(self.root):
            self.kind = "folder"
            base = self.root.rstrip("/") + "/"
            self.files = sorted(
                p[len(base):] if p.startswith(base) else p for p in self.fs.find(self.root)
            )
        elif not self.fs.exists(self.root):
            raise FileNotFoundError(f"{self.url}: no such file or folder")
        elif _is_zip_name(self.root) or self._has_zip_magic():
            self.kind = "zip"
            self._open_zip()
            self.files = sorted(self._zip_names)
        else:
            self.kind = "file"
            self.files = [self.name]

    # -- opening -----------------------------------------------------------------
    def _has_zip_magic(self) -> bool:
        with self.fs.open(self.root, "rb") as f:
            return f.read(4) == b"PK\x03\x04"

    def _open_zip(self) -> None:
        fobj = self.fs.open(self.root, "rb")
        try:
            zf = zipfile.ZipFile(fobj)
        except zipfile.BadZipFile as exc:
            raise FormatError(self.url, f"not a readable zip archive ({exc})") from exc
        total = 0
        for info in zf.infolist():
            if info.is_dir():
                continue
            rel = safe_member_name(info.filename, self.url)
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise UnsafeInputError(
                    self.url, f"zip entry {info.filename!r} inflates {info.file_size // max(info.compress_size, 1)}x "
                    f"to {info.file_size} bytes (zip bomb?)", element="zip")
            self._zip_names[rel] = info.filename
        if total > MAX_UNPACKED_BYTES:
            raise UnsafeInputError(self.url, f"archive unpacks to {total} bytes, over the limit of "
                                   f"{MAX_UNPACKED_BYTES} (zip bomb?)", element="zip")
        self._zip = zf

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- queries -------------------------------------------------------------------
    def glob(self, *patterns: str) -> list[str]:
        """Relative paths matching any of the (case-insensitive) fnmatch patterns."""
        pats = [p.lower() for p in patterns]
        return [f for f in self.files if any(fnmatch.fnmatch(f.lower(), p) for p in pats)]

    def exists(self, rel: str) -> bool:
        return rel in self._index()

    def _index(self) -> set:
        idx = getattr(self, "_idx", None)
        if idx is None:
            idx = self._idx = set(self.files)
        return idx

    def display(self, rel: str | None = None) -> str:
        """How to name ``rel`` in a message: ``archive.zip!/annotations.xml`` or the file path."""
        if rel is None or self.kind == "file":
            return self.url
        if self.kind == "zip":
            return f"{self.url}!/{rel}"
        return posixpath.join(self.url.rstrip("/"), rel)

    def open(self, rel: str | None = None) -> IO[bytes]:
        """Open a file of the input for binary reading (``rel`` may be omitted for a single file)."""
        if self.kind == "file":
            if rel not in (None, self.name):
                raise FileNotFoundError(f"{self.display(rel)}: not in this input")
            return self.fs.open(self.root, "rb")
        if rel is None:
            raise ValueError(f"{self.url} holds several files; name one")
        if self.kind == "zip":
            try:
                return self._zip.open(self._zip_names[rel])
            except KeyError:
                raise FileNotFoundError(f"{self.display(rel)}: not in the archive") from None
        return self.fs.open(posixpath.join(self.root, rel), "rb")

    def read_bytes(self, rel: str | None = None) -> bytes:
        with self.open(rel) as f:
            return f.read()

    def read_text(self, rel: str | None = None, encoding: str = "utf-8") -> str:
        data = self.read_bytes(rel)
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise FormatError(self.display(rel), f"not {encoding} text ({exc.reason} at byte {exc.start})",
                              position=exc.start) from exc

    def url_of(self, rel: str) -> str:
        """A URL that opens ``rel`` later, after this Source is closed (media references)."""
        if self.kind == "file":
            return self.url
        if self.kind == "zip":
            proto = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
            outer = self.root if proto in ("file", "local") else f"{proto}://{self.root}"
            return f"zip://{self._zip_names.get(rel, rel)}::{outer}"
        if self.url.startswith(tuple(f"{p}://" for p in ("file", "local"))) or "://" not in self.url:
            return posixpath.join(self.root, rel)
        proto = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{proto}://{posixpath.join(self.root, rel)}"

    @property
    def folder(self) -> str:
        """URL of the folder around a single-file input (to resolve media next to it)."""
        parent = posixpath.dirname(self.root)
        proto = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return parent if proto in ("file", "local") else f"{proto}://{parent}"


def open_url(url: str, mode: str = "rb", **storage_options) -> IO:
    """Open any fsspec URL, including chained ``zip://member::archive`` media URLs."""
    opener = fsspec.open(url, mode, **storage_options)
    f = opener.open()
    # A chained URL's filesystem (e.g. the ZipFileSystem) closes its archive when collected;
    # keep it alive as long as the file is, or reading fails with "seek of closed file".
    try:
        f._annowidgets_opener = opener
    except AttributeError:  # a C-level file object: not a chained URL, nothing to keep
        pass
    return f


class Sink:
    """Where a writer puts its files: a zip archive or a folder, committed atomically.

    Use ``open(rel)`` (one file at a time for zip), ``write_bytes``/``write_text`` and
    ``copy(rel, url)`` for media; then ``commit()`` renames the staged output to its final
    name, or ``abort()`` removes it. As a context manager it commits on success and aborts
    on an exception.
    """

    def __init__(self, url: str, archive: bool = True, storage_options: dict | None = None,
                 overwrite: bool = True, single_file: bool = False):
        self.url = os.fspath(url)
        self.fs, self.final = url_to_fs(self.url, **(storage_options or {}))
        self.single_file = single_file  # ``url`` names the one file the writer produces
        archive = archive and not single_file
        self.archive = archive
        self.overwrite = overwrite
        parent = posixpath.dirname(self.final)
        if parent:
            self.fs.makedirs(parent, exist_ok=True)
        self.staging = f"{self.final}.part-{uuid.uuid4().hex[:8]}"
        self.written: list[str] = []
        self._names: set[str] = set()
        if archive:
            self._fobj = self.fs.open(self.staging, "wb")
            self._zip = zipfile.ZipFile(self._fobj, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        else:
            self._zip = None
            self.fs.makedirs(self.staging, exist_ok=True)
        self._done = False

    def _claim(self, rel: str) -> str:
        rel = safe_member_name(rel, self.url)
        if rel in self._names:
            raise FileExistsError(f"{self.url}: {rel} written twice")
        self._names.add(rel)
        self.written.append(rel)
        return rel

    def open(self, rel: str, compress: bool = True) -> IO[bytes]:
        """A binary file to write ``rel`` into; close it before opening the next one."""
        rel = self._claim(rel)
        if self._zip is not None:
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            return self._zip.open(info, "w", force_zip64=True)
        path = posixpath.join(self.staging, rel)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        return self.fs.open(path, "wb")

    def write_bytes(self, rel: str, data: bytes, compress: bool = True) -> None:
        with self.open(rel, compress=compress) as f:
            f.write(data)

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def copy(self, rel: str, src_url: str, **storage_options) -> None:
        """Copy media from any URL into the output, streamed in chunks, stored uncompressed."""
        with open_url(src_url, "rb", **storage_options) as src:  # fails before rel is claimed
            with self.open(rel, compress=False) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)

    def add_dir(self, rel: str) -> None:
        """An (empty) folder, for layouts whose readers insist on it (COCO's ``images/``)."""
        rel = safe_member_name(rel, self.url)
        if rel + "/" in self._names:
            return
        self._names.add(rel + "/")
        if self._zip is not None:
            info = zipfile.ZipInfo(rel + "/", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o40755 << 16) | 0x10
            self._zip.writestr(info, b"")
        else:
            self.fs.makedirs(posixpath.join(self.staging, rel), exist_ok=True)

    def has(self, rel: str) -> bool:
        return rel in self._names

    def commit(self) -> str:
        """Finish the output and move it to its final name; return that name as a URL."""
        if self._done:
            return self.url
        if self._zip is not None:
            self._zip.close()
            self._fobj.close()
        staged = self.staging
        if self.single_file:
            if len(self.written) != 1:
                self.abort()
                raise ValueError(f"{self.url}: this format writes {len(self.written)} files "
                                 f"({', '.join(self.written[:5]) or 'none'}); export to a folder or a .zip")
            staged = posixpath.join(self.staging, self.written[0])
        if self.fs.exists(self.final):
            if not self.overwrite:
                self.abort()
                raise FileExistsError(f"{self.url} exists")
            if self.fs.isdir(self.final):
                self.fs.rm(self.final, recursive=True)
            else:
                self.fs.rm(self.final)
        if self._is_local():
            os.replace(staged, self.final)
        else:
            self.fs.mv(staged, self.final, recursive=not self.archive and not self.single_file)
        if self.single_file:
            self.fs.rm(self.staging, recursive=True)
        self._done = True
        return self.url

    def abort(self) -> None:
        if self._done:
            return
        try:
            if self._zip is not None:
                self._zip.close()
                self._fobj.close()
        except Exception:  # noqa: BLE001 - the staged file is removed anyway
            pass
        if self.fs.exists(self.staging):
            self.fs.rm(self.staging, recursive=True)
        self._done = True

    def _is_local(self) -> bool:
        proto = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return proto in ("file", "local")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()

