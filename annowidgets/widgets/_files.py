"""Files between the browser and the kernel, as binary comm buffers (never base64).

- :class:`Upload` receives a file the browser sends in chunks (``upload_chunk`` messages with one
  buffer each, in order, each acknowledged with the byte count received so far) into a
  temporary folder under its original name, so detection by file name still works.
- :func:`send_file` pushes a result to the browser in chunks of ``chunk`` bytes
  (``file_chunk`` messages); the browser joins them into a Blob and offers the download.
"""
from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
import weakref

from ..core.io import open_url

CHUNK = 4 * 2**20


def safe_name(name: str) -> str:
    """The last path part of ``name`` with only harmless characters (a browser-given name is untrusted)."""
    base = re.split(r"[\\/]", str(name))[-1].strip()
    base = re.sub(r"[^\w.\- ()+,@]", "_", base).lstrip(".")
    return base[:200] or "upload"


class UploadError(ValueError):
    """The browser sent something that does not continue the upload (wrong id or offset, too large)."""


class Upload:
    """One file arriving in chunks; :attr:`path` is complete once :attr:`done`."""

    def __init__(self, uid: str, name: str, size: int, max_bytes: int):
        if not isinstance(size, int) or size < 0:
            raise UploadError(f"the upload's size must be a byte count, got {size!r}")
        if size > max_bytes:
            raise UploadError(f"{name}: {size} bytes is more than max_upload_bytes ({max_bytes})")
        self.id, self.name, self.size = uid, safe_name(name), size
        self.folder = tempfile.mkdtemp(prefix="annowidgets-upload-")
        # removed with the object even if nobody calls discard() (a form dropped without close())
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, True)
        self.path = os.path.join(self.folder, self.name)
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in finish()/discard()
        self.received = 0
        if size == 0:
            self._fh.close()

    @property
    def done(self) -> bool:
        return self.received == self.size and self._fh.closed

    def write(self, offset: int, buffers: list) -> int:
        """Append one chunk that must start at ``offset == received``; returns the new count."""
        if offset != self.received:
            raise UploadError(f"chunk at byte {offset}, expected {self.received}")
        n = 0
        for b in buffers:
            mv = memoryview(b).cast("B")
            if self.received + n + len(mv) > self.size:
                raise UploadError(f"more bytes than the announced {self.size}")
            self._fh.write(mv)
            n += len(mv)
        self.received += n
        if self.received == self.size:
            self._fh.close()
        return self.received

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._cleanup()


def read_result(url: str, storage_options: dict, max_bytes: int) -> bytes:
    """The bytes of a finished export (local path or any fsspec URL), refusing more than ``max_bytes``."""
    with open_url(url, "rb", **storage_options) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{url} is larger than {max_bytes >> 20} MB; open it from its path")
    return data


def result_name(url: str) -> str:
    return posixpath.basename(url.split("::")[0].replace("\\", "/").rstrip("/")) or "result.zip"


def send_file(widget, token: str, name: str, data: bytes, chunk: int = CHUNK) -> int:
    """Send ``data`` as ``file_chunk`` messages; returns how many were sent."""
    view = memoryview(data)
    total = max(1, -(-len(data) // chunk))
    for i in range(total):
        part = view[i * chunk:(i + 1) * chunk]
        widget.send({"kind": "file_chunk", "token": token, "name": name, "index": i, "count": total,
                     "size": len(data)}, buffers=[part])
    return total
