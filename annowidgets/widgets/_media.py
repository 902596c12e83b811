"""Reading an item's image for a widget: bytes through fsspec, never a path the browser can't reach.

Browsers decode PNG, JPEG, GIF, WebP and BMP themselves, so those go as they are; anything else
(TIFF, 16-bit PNG the browser may refuse is still PNG) is converted to PNG with Pillow.
"""
from __future__ import annotations

import io

from ..core.io import open_url

_BROWSER_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")


def browser_image(data: bytes) -> bytes:
    """``data`` if a browser can decode it, else the image re-encoded as PNG."""
    if data.startswith(_BROWSER_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        out = io.BytesIO()
        im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB").save(out, format="PNG")
        return out.getvalue()


def read_image(url: str | None, storage_options: dict | None = None) -> tuple[bytes, str]:
    """``(bytes, error)``: the image at ``url`` ready for the browser, or ``b""`` and why not."""
    if not url:
        return b"", "no media"
    try:
        with open_url(url, "rb", **(storage_options or {})) as fh:
            data = fh.read()
        return browser_image(data), ""
    except Exception as exc:  # noqa: BLE001 - the preview shows a blank canvas and says why
        return b"", f"{type(exc).__name__}: {exc}"


def top_view_image(url: str | None, frame, storage_options: dict | None = None) -> tuple[bytes, str]:
    """``(png, error)``: a point cloud seen from above in ``frame`` (see :mod:`annowidgets.core.top_view`)."""
    from ..core import pcd, top_view

    if not url:
        return b"", "no media"
    try:
        with open_url(url, "rb", **(storage_options or {})) as fh:
            return top_view.render(pcd.read_xyz(fh.read(), url), frame), ""
    except Exception as exc:  # noqa: BLE001 - as read_image: a blank canvas and the reason
        return b"", f"{type(exc).__name__}: {exc}"


def dataset_images(ds, frame=None):
    """Image reader of a loaded Dataset: media by URL, relative to where it was loaded from;
    point clouds as their top view in ``frame``."""
    def read(row) -> tuple[bytes, str]:
        url = ds.media_url(row["media"])
        if frame is not None and row.get("kind") == "point_cloud":
            return top_view_image(url, frame)
        return read_image(url)
    return read


def workspace_images(ws, frame=None):
    """Image reader of a workspace scope: media opened with its attached storage's credentials,
    video frames decoded on demand (the browser gets one PNG, never the video), point clouds
    as their top view in ``frame``."""
    def read(row) -> tuple[bytes, str]:
        url = row["media"]
        if not isinstance(url, str) or not url:
            return b"", "no media"
        if frame is not None and row.get("kind") == "point_cloud":
            return top_view_image(url, frame, ws.open_options(url))
        if row.get("kind") != "video_frame":
            return read_image(url, ws.open_options(url))
        try:
            from ..workspace import media as ws_media

            mframe = row.get("media_frame")
            n = int(mframe) if mframe is not None and mframe == mframe else int(row["frame"])
            out = io.BytesIO()
            ws_media.video_frame(url, n, ws.open_options(url)).save(out, format="PNG")
            return out.getvalue(), ""
        except Exception as exc:  # noqa: BLE001 - as read_image: a blank canvas and the reason
            return b"", f"{type(exc).__name__}: {exc}"
    return read
