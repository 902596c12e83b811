"""Media of a task: listing inputs, image sizes from file headers, video frames on demand.

Image sizes come from the header only (PIL opens lazily and reads no pixels), so a task of
thousands of images is created at once and sizes are read the first time something needs
them, then cached in the database. Videos are decoded with PyAV (FFmpeg bindings); a frame
is decoded only when asked for, seeking to the nearest keyframe before it (found from a
packet index built once per video without decoding).
"""
from __future__ import annotations

import bisect
import os
import posixpath
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from fsspec.core import url_to_fs

from ..core.io import open_url
from ..core.media_types import IMAGE_EXTS, POINT_CLOUD_EXTS

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".3gp", ".ts")
MEDIA_EXTS = IMAGE_EXTS + VIDEO_EXTS + POINT_CLOUD_EXTS
#: CVAT's 3D task layout: the camera images of ``<dir>/<name>.pcd`` lie in ``<dir>/related_images/<name>_pcd/``.
RELATED = "related_images"


def is_video(url: str) -> bool:
    return url.lower().split("::")[0].endswith(VIDEO_EXTS)


def is_point_cloud(url: str) -> bool:
    return url.lower().split("::")[0].endswith(POINT_CLOUD_EXTS)


def _proto(fs) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def expand(media: str | os.PathLike | Iterable, storage_options: dict | None = None) -> list[str]:
    """Image, video and point-cloud URLs of ``media``: files, folders (searched recursively, sorted) or URLs.

    Order is kept as given; a folder contributes its images and videos in natural name order,
    or, when it holds point clouds, only those (its images are their related images; ``.bin``
    files count as KITTI velodyne scans only in a folder with no other media).
    Entries named like media files are not asked whether they are folders, and their
    existence is checked with one listing per parent folder (one request for a thousand
    objects in one S3 prefix), falling back to a check per file where listing fails.
    """
    if isinstance(media, (str, os.PathLike)):
        media = [media]
    out: list[str] = []
    files: list[tuple[str, object, str]] = []
    for entry in media:
        url = os.fspath(entry)
        if "::" in url:
            out.append(url)
            continue
        fs, root = url_to_fs(url, **(storage_options or {}))
        if url.lower().endswith(MEDIA_EXTS):
            out.append(url)
            files.append((url, fs, root))
        elif fs.isdir(root):
            found = _folder_media(fs.find(root))
            proto = _proto(fs)
            out.extend(p if proto in ("file", "local") else f"{proto}://{p}" for p in found)
        elif fs.exists(root):
            out.append(url)
        else:
            raise FileNotFoundError(f"{url}: no such media file or folder")
    missing = _missing(files)
    if missing:
        more = f" … and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise FileNotFoundError(f"no such media file(s): {', '.join(missing[:10])}{more}")
    return out


def _folder_media(paths: list[str]) -> list[str]:
    """The items a folder contributes, in natural order (see :func:`expand`)."""
    found = [p for p in paths if p.lower().endswith(IMAGE_EXTS + VIDEO_EXTS + (".pcd",))]
    if not found:
        found = [p for p in paths if p.lower().endswith(".bin")]
    if any(is_point_cloud(p) for p in found):
        found = [p for p in found if is_point_cloud(p)]
    return sorted(found, key=_natural)


def related_images(urls: list[str], storage_options: dict | None = None) -> list[list[str]]:
    """The camera images of each point cloud in CVAT's layout (one listing per folder of clouds)."""
    out: list[list[str]] = [[] for _ in urls]
    by_parent: dict[str, list[int]] = {}
    for i, u in enumerate(urls):
        by_parent.setdefault(u.split("::")[0].rstrip("/").rsplit("/", 1)[0], []).append(i)
    for parent, idx in by_parent.items():
        fs, root = url_to_fs(f"{parent}/{RELATED}", **(storage_options or {}))
        try:
            listed = [p for p in fs.find(root) if p.lower().endswith(IMAGE_EXTS)] if fs.isdir(root) else []
        except (OSError, ValueError):
            listed = []
        proto = _proto(fs)
        by_folder: dict[str, list[str]] = {}
        for p in sorted(listed, key=_natural):
            url = p if proto in ("file", "local") else f"{proto}://{p}"
            by_folder.setdefault(posixpath.basename(posixpath.dirname(p)), []).append(url)
        for i in idx:
            stem, ext = posixpath.splitext(posixpath.basename(urls[i].split("::")[0]))
            out[i] = by_folder.get(f"{stem}_{ext[1:]}", [])
    return out


def _missing(files: list[tuple[str, object, str]]) -> list[str]:
    """URLs of ``files`` that do not exist: one listing per parent folder where it works."""
    groups: dict = {}
    for url, fs, path in files:
        groups.setdefault((id(fs), posixpath.dirname(path.rstrip("/"))), []).append((url, fs, path))
    missing, unsure = [], []
    for (_, parent), members in groups.items():
        fs = members[0][1]
        if len(members) < 4:
            unsure += members
            continue
        try:
            listed = {p.rstrip("/") for p in fs.ls(parent, detail=False)}
        except (OSError, ValueError, NotImplementedError):
            listed = set()
        unsure += [m for m in members if m[2].rstrip("/") not in listed]

    def gone(member) -> bool:
        _, fs, path = member
        try:
            return not fs.exists(path)
        except OSError:
            return True

    if len(unsure) > 4:
        with ThreadPoolExecutor(max_workers=8) as pool:
            flags = list(pool.map(gone, unsure))
    else:
        flags = [gone(m) for m in unsure]
    missing += [m[0] for m, g in zip(unsure, flags, strict=True) if g]
    return missing


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
    except ImportError as exc:
        raise ImportError("video tasks need PyAV: pip install 'annowidgets[video]' (or pip install av)") from exc
    return av


#: Per video: presentation timestamps of its frames (sorted) and which are keyframes. Built by
#: demuxing packets only (no decoding), once per video and process, like CVAT's video manifest.
_INDEX: dict[tuple, tuple] = {}
_INDEX_SIZE = 32


def _key(url: str, storage_options: dict | None) -> tuple:
    return url, repr(sorted((storage_options or {}).items()))


def frame_index(url: str, storage_options: dict | None = None) -> tuple[list[int], list[bool]] | None:
    """``(pts of frame 0..n-1, is keyframe)`` of the first video stream, or None when some
    packet has no timestamp (then frames are found by decoding from the start)."""
    key = _key(url, storage_options)
    if key in _INDEX:
        return _INDEX[key]
    av = _av()
    with open_url(url, "rb", **(storage_options or {})) as f, av.open(f) as container:
        stream = container.streams.video[0]
        pairs = []
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            if packet.pts is None:
                pairs = None
                break
            pairs.append((packet.pts, bool(packet.is_keyframe)))
    result = None
    if pairs is not None:
        pairs.sort()
        result = ([p for p, _ in pairs], [k for _, k in pairs])
    if len(_INDEX) >= _INDEX_SIZE:
        _INDEX.pop(next(iter(_INDEX)))
    _INDEX[key] = result
    return result


def video_info(url: str, storage_options: dict | None = None) -> dict:
    """Frame count, size and frame rate of a video (frames counted from the packet index
    when the header lacks them)."""
    av = _av()
    with open_url(url, "rb", **(storage_options or {})) as f, av.open(f) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = float(stream.average_rate) if stream.average_rate else None
        n = stream.frames
    index = frame_index(url, storage_options)
    if index is not None:
        n = len(index[0])
    elif not n:
        n = sum(1 for _ in _decode_all(url, storage_options))
    return {"frames": int(n), "width": width, "height": height, "fps": rate}


def _decode_all(url: str, storage_options: dict | None) -> Iterator:
    av = _av()
    with open_url(url, "rb", **(storage_options or {})) as f, av.open(f) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from container.decode(stream)


def video_frames(url: str, frames: Iterable[int], storage_options: dict | None = None) -> Iterator[tuple[int, object]]:
    """Yield ``(frame_number, PIL.Image)`` for the wanted frame numbers, in ascending order.

    Frame ``n`` is the n-th frame in presentation order. With a packet index (see
    :func:`frame_index`) the decoder seeks to the keyframe before a wanted frame whenever
    that keyframe lies ahead of where decoding stands, so one frame of a long video costs
    one group of pictures, and a dense range (a job's export) is decoded in one pass.
    """
    wanted = sorted(set(int(n) for n in frames))
    if not wanted:
        return
    index = frame_index(url, storage_options)
    if index is None:
        k = 0
        for i, frame in enumerate(_decode_all(url, storage_options)):
            if i == wanted[k]:
                yield i, frame.to_image()
                k += 1
                if k == len(wanted):
                    return
        raise IndexError(f"{url}: no frame {wanted[k]} (the video has {i + 1 if wanted else 0} frames)")
    pts, key = index
    if wanted[-1] >= len(pts) or wanted[0] < 0:
        bad = [n for n in wanted if not 0 <= n < len(pts)]
        raise IndexError(f"{url}: no frame(s) {bad[:5]} (the video has {len(pts)} frames)")
    keyframes = [i for i, k in enumerate(key) if k] or [0]
    av = _av()
    with open_url(url, "rb", **(storage_options or {})) as f, av.open(f) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        decoder, at = None, -1  # the frame index decoding stands at
        for n in wanted:
            kf = keyframes[bisect.bisect_right(keyframes, n) - 1]
            if decoder is None or kf > at:
                container.seek(pts[kf], stream=stream, backward=True, any_frame=False)
                decoder, at = container.decode(stream), kf - 1
            for frame in decoder:
                if frame.pts is None:
                    continue
                at = bisect.bisect_left(pts, frame.pts)
                if frame.pts >= pts[n]:
                    break
            else:
                raise IndexError(f"{url}: the decoder ended before frame {n}")
            yield n, frame.to_image()


def video_frame(url: str, n: int, storage_options: dict | None = None):
    """One decoded frame as a PIL image."""
    for _, im in video_frames(url, [n], storage_options):
        return im
    raise IndexError(f"{url}: no frame {n}")
