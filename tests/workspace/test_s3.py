"""Cloud storage: a real S3 API (moto's server on 127.0.0.1) receives exports and serves imports."""
from __future__ import annotations

import io
import socket
import zipfile

import pytest

from annowidgets.workspace import transfer

from .conftest import make_images
from .helpers import annotations_for, geometry
from .jsonfmt import NAME

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    opts = {"key": "testing", "secret": "testing",
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}}
    import boto3

    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="bucket")
    fs = s3fs.S3FileSystem(**opts)
    folder = tmp_path_factory.mktemp("s3media")
    for p in make_images(folder, 4):
        fs.put(str(p), f"bucket/media/{p.name}")
    try:
        yield fs, opts
    finally:
        server.stop()


def test_export_to_s3_and_import_back(ws, images, s3, tmp_path):
    fs, opts = s3
    ws.attach_storage("cloud", "s3://bucket/exports", **opts)
    p = ws.create_project("p", labels=["car", "person"], target_storage="cloud", source_storage="cloud")
    t = p.create_task("t", media=images, subset="train", segment_size=5)
    names = t.items["name"].tolist()
    transfer.import_annotations(ws, "task", t.id, annotations_for(names))
    before = geometry(t.annotations)

    # the project's default target storage receives the archive (staged, then renamed)
    url = t.export(format=NAME, save_images=True).wait()
    assert url.startswith("s3://bucket/exports/task_") and fs.exists(url)
    assert not [f for f in fs.ls("bucket/exports") if ".part-" in f]
    with fs.open(url) as f, zipfile.ZipFile(f) as z:
        assert sum(n.startswith("images/train/") for n in z.namelist()) == 10

    # a named storage plus a file name, and a bare URL (options found by its prefix)
    t.jobs[0].export(format=NAME, storage="cloud", name="job0.zip").wait()
    bare = p.export(format=NAME, target="s3://bucket/exports/bare/").wait()
    fs.invalidate_cache()
    assert fs.exists("bucket/exports/job0.zip")
    assert bare.startswith(f"s3://bucket/exports/bare/project_{p.id}_annotations_") and fs.exists(bare)
    transfer.import_annotations(ws, "task", t.id, annotations_for(names[:1], per_item=1))
    t.import_annotations("job0.zip", storage="cloud").wait()  # a storage plus a file name: the job's frames
    assert sorted(set(t.annotations["frame"])) == [0, 1, 2, 3, 4]
    transfer.import_annotations(ws, "task", t.id, annotations_for(names[:1], per_item=1))
    t.import_annotations(url, format=NAME).wait()  # a URL inside an attached storage
    assert geometry(t.annotations) == before
    transfer.import_annotations(ws, "task", t.id, annotations_for(names[:1], per_item=1))
    t.import_annotations(url.rsplit("/", 1)[1]).wait()  # a bare name: the default source storage
    assert geometry(t.annotations) == before

    # a dataset import from S3: media inside the archive on S3 copied into the workspace
    q = ws.create_project("q")
    q.import_dataset(url).wait()
    (task,) = q.tasks
    assert task.subset == "train" and task.size == 10 and geometry(task.annotations) == before
    assert task.frame(0).size == (32, 24)


def test_task_from_s3_media(ws, s3):
    fs, opts = s3
    ws.attach_storage("media", "s3://bucket/media", **opts)
    p = ws.create_project("p", labels=["car"])
    t = p.create_task("remote", media="s3://bucket/media")
    items = t.items  # sizes read from the S3 objects' headers, then cached
    assert items["name"].tolist() == [f"img{i:03d}.png" for i in range(4)]
    assert items["width"].tolist() == [32] * 4
    assert items["media"].str.startswith("s3://bucket/media/").all()
    assert t.frame(2).size == (32, 24)


def test_preview_of_a_task_reads_s3_media_with_the_storages_credentials(ws, s3):
    from PIL import Image

    from annowidgets.widgets import Preview

    fs, opts = s3
    ws.attach_storage("media", "s3://bucket/media", **opts)
    t = ws.create_project("p", labels=["car"]).create_task("remote", media="s3://bucket/media")
    pv = Preview(t)  # plain fsspec without the options would find no credentials for this endpoint
    assert pv.item["image_error"] == "" and pv.item["total"] == 4
    with Image.open(io.BytesIO(pv.image)) as im:
        assert im.size == (32, 24)


def test_video_task_from_s3(ws, s3, tmp_path):
    pytest.importorskip("av")
    from .test_video import make_video

    fs, opts = s3
    fs.put(make_video(tmp_path / "clip.mp4", n=12), "bucket/videos/clip.mp4")
    ws.attach_storage("videos", "s3://bucket/videos", **opts)
    t = ws.create_project("p", labels=["car"]).create_task("remote", media="s3://bucket/videos/clip.mp4",
                                                          start_frame=2, frame_step=2)
    assert t.mode == "interpolation" and t.size == 5  # frames 2, 4, ... 10
    im = t.frame(3)  # frame 8, read through s3fs with the storage's credentials
    assert im.size == (64, 48) and abs(int(im.getpixel((5, 5))[0]) - 64) <= 4

    # the preview of a video task shows decoded frames (as PNG), never the video file
    from PIL import Image

    from annowidgets.widgets import Preview

    pv = Preview(t)
    pv.position = 3
    assert pv.item["image_error"] == "" and pv.image.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(pv.image)) as frame:
        assert frame.size == (64, 48) and abs(int(frame.convert("RGB").getpixel((5, 5))[0]) - 64) <= 4


def test_task_from_many_s3_urls_lists_the_prefix_once(ws, s3, monkeypatch):
    fs, opts = s3
    ws.attach_storage("media", "s3://bucket/media", **opts)
    calls = []
    for name in ("exists", "isdir", "info"):
        real = getattr(s3fs.S3FileSystem, name)
        monkeypatch.setattr(s3fs.S3FileSystem, name,
                            lambda self, *a, _real=real, _n=name, **k: calls.append(_n) or _real(self, *a, **k))
    urls = [f"s3://bucket/media/img{i:03d}.png" for i in range(4)]
    t = ws.create_project("p").create_task("listed", media=urls)
    assert t.size == 4 and calls == []  # one listing of the prefix, no request per object
    with pytest.raises(FileNotFoundError, match=r"img009\.png"):
        ws.project("p").create_task("bad", media=[*urls, "s3://bucket/media/img009.png"])
