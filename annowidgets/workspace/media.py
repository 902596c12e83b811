"""Media of a task: listing inputs, image sizes from file headers, video frames on demand.

Image sizes come from the header only (PIL opens lazily and reads no pixels), so a task of
thousands of images is created at once and sizes are read the first time something needs
them, then cached in the database. Videos are decoded with PyAV (FFmpeg bindings); a frame
is decoded only when asked for, seeking to the nearest keyframe before it.
"""
from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from fsspec.core import url_to_fs

from ..core.io import open_url

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jfif", ".pgm", ".ppm", ".pbm")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".3gp", ".ts")


def is_video(url: str) -> bool:
    return url.lower().split("::")[0].endswith(VIDEO_EXTS)


def _proto(fs) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def expand(media: str | os.PathLike | Iterable, storage_options: dict | None = None) -> list[str]:
    """Image and video URLs of ``media``: files, folders (searched recursively, sorted) or URLs.

    Order is kept as given; a folder contributes its images and videos in natural name order.
    """
    if isinstance(media, (str, os.PathLike)):
        media = [media]
    out: list[str] = []
    for entry in media:
        url = os.fspath(entry)
        fs, root = url_to_fs(url, **(storage_options or {}))
        if "::" not in url and fs.isdir(root):
            found = [p for p in fs.find(root) if p.lower().endswith(IMAGE_EXTS + VIDEO_EXTS)]
            found.sort(key=_natural)
            proto = _proto(fs)
            out.extend(p if proto in ("file", "local") else f"{proto}://{p}" for p in found)
        else:
            if "::" not in url and not fs.exists(root):
                raise FileNotFoundError(f"{url}: no such media file or folder")
            out.append(url)
    return out


def _natural(path: str):
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path)]


def display_name(url: str, common: str | None) -> str:
    """The item name of a media URL: its path relative to the common folder of the task's media."""
    path = url.split("::")[0].split("://", 1)[-1]
    if common and path.startswith(common.rstrip("/") + "/"):
        return path[len(common.rstrip("/")) + 1:]
    return posixpath.basename(path)


def common_folder(urls: list[str]) -> str | None:
    paths = [u.split("::")[0].split("://", 1)[-1] for u in urls]
    if not paths:
        return None
    if len(paths) == 1:
        return posixpath.dirname(paths[0])
    return posixpath.commonpath(paths) if all(p.startswith("/") for p in paths) or \
        not any(p.startswith("/") for p in paths) else None


def image_size(url: str, storage_options: dict | None = None) -> tuple[int, int]:
    """``(width, height)`` from the image header, without decoding pixels."""
    from PIL import Image

    with open_url(url, "rb", **(storage_options or {})) as f, Image.open(f) as im:
        return im.size


def image_sizes(urls: list[str], options_of=lambda url: {}, workers: int = 8) -> list[tuple | None]:
    """Sizes of many images, read in parallel (I/O bound); ``None`` where a file cannot be read.

    ``options_of(url)`` gives the fsspec options of each URL (credentials of its storage).
    """
    def one(url):
        try:
            return image_size(url, options_of(url))
        except (OSError, ValueError):
            return None

    if len(urls) <= 4:
        return [one(u) for u in urls]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, urls))


# -- video ------------------------------------------------------------------------------------
def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is in the 'video' extra
        raise ImportError("video tasks need PyAV: pip install 'annowidgets[video]' (or pip install av)") from exc
    return av


def video_info(url: str, storage_options: dict | None = None) -> dict:
    """Frame count, size and frame rate of a video (frames are counted if the header lacks them)."""
    av = _av()
    with open_url(url, "rb", **(storage_options or {})) as f, av.open(f) as container:
        stream = container.streams.video[0]
        n = stream.frames
        if not n:
            n = sum(1 for _ in container.decode(stream))
        rate = float(stream.average_rate) if stream.average_rate else None
        return {"frames": int(n), "width": stream.codec_context.width, "height": stream.codec_context.height,
                "fps": rate}


def video_frames(url: str, frames: Iterable[int], storage_options: dict | None = None) -> Iterator[tuple[int, object]]:
    """Yield ``(frame_number, PIL.Image)`` for the wanted frame numbers, decoding forward once.

    Frames are counted in decode order from the first frame; the wanted numbers are served
    in ascending order from a single pass, so exporting a job decodes each frame once.
    """
    av = _av()
    wanted = sorted(set(int(n) for n in frames))
    if not wanted:
        return
    with open_url(url, "rb", **(storage_options or {})) as f, av.open(f) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        k = 0
        for index, frame in enumerate(container.decode(stream)):
            if index == wanted[k]:
                yield index, frame.to_image()
                k += 1
                if k == len(wanted):
                    return


def video_frame(url: str, n: int, storage_options: dict | None = None):
    """One decoded frame as a PIL image."""
    for _, im in video_frames(url, [n], storage_options):
        return im
    raise IndexError(f"{url}: no frame {n}")
