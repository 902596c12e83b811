"""Tasks from a video file: interpolation mode, frames decoded on demand (PyAV), CVAT's
``frame_%06d`` names and ``images/frame_%06d.PNG`` when images are saved."""
from __future__ import annotations

import io
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core.dataset import Dataset
from annowidgets.workspace import media, transfer

av = pytest.importorskip("av")

N = 30


def make_video(path, n: int = N, size=(64, 48), gop: int = 4, b_frames: int = 2) -> str:
    """An MPEG-4 video whose frame i is a flat colour (8i, 255-8i, 0): keyframes every ``gop``
    frames and B-frames, so decode order differs from presentation order."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.codec_context.gop_size = gop
        s.codec_context.max_b_frames = b_frames
        for i in range(n):
            a = np.zeros((size[1], size[0], 3), np.uint8)
            a[..., 0], a[..., 1] = (8 * i) % 256, 255 - (8 * i) % 256
            for p in s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> str:
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4")


@pytest.fixture(scope="module")
def reference(video) -> list[np.ndarray]:
    """Every frame decoded front to back: what on-demand decoding must reproduce exactly."""
    return [f.to_ndarray(format="rgb24") for f in media._decode_all(video, None)]


def _red(im) -> int:
    return int(np.asarray(im)[..., 0].mean().round())


class _CountingAV:
    """PyAV, but counting the frames its decoders hand out."""

    def __init__(self):
        self.decoded = 0

    def __getattr__(self, name):
        return getattr(av, name)

    def open(self, *args, **kwargs):
        counter, container = self, av.open(*args, **kwargs)

        class Wrapped:
            streams = container.streams

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                container.close()

            def demux(self, *a):
                return container.demux(*a)

            def seek(self, *a, **k):
                return container.seek(*a, **k)

            def decode(self, *a):
                for frame in container.decode(*a):
                    counter.decoded += 1
                    yield frame

        return Wrapped()


def test_video_task_is_interpolation_with_cvat_segments(ws, video, monkeypatch):
    counting = _CountingAV()
    monkeypatch.setattr(media, "_av", lambda: counting)
    p = ws.create_project("clips", labels=["car"])
    t = p.create_task("clip", media=video, segment_size=12)
    assert counting.decoded == 0  # creating a task decodes nothing (packets are only demuxed)
    assert t.mode == "interpolation" and t.size == N
    assert t.overlap == 5  # CVAT's default for interpolation, capped at segment_size // 2
    assert [(j.start, j.stop) for j in t.jobs] == [(0, 11), (7, 18), (14, 25), (21, 29)]
    items = t.items
    assert items["name"].tolist() == [f"frame_{i:06d}" for i in range(N)]
    assert (items["kind"] == "video_frame").all() and set(zip(items["width"], items["height"], strict=True)) == {(64, 48)}


def test_frames_are_decoded_on_demand_from_the_nearest_keyframe(ws, video, reference, monkeypatch):
    t = ws.create_project("p").create_task("clip", media=video)
    counting = _CountingAV()
    monkeypatch.setattr(media, "_av", lambda: counting)
    for n in (25, 3, 29, 0, 14):
        counting.decoded = 0
        assert np.array_equal(np.asarray(t.frame(n)), reference[n])
        assert counting.decoded <= 4 + 2  # one group of pictures (gop 4) plus B-frame reordering
    # every frame, and a sparse set in one pass, equal the front-to-back decode
    assert all(np.array_equal(np.asarray(t.frame(n)), reference[n]) for n in range(N))
    wanted = [2, 3, 9, 17, 18, 28]
    got = list(media.video_frames(video, wanted))
    assert [n for n, _ in got] == wanted
    assert all(np.array_equal(np.asarray(im), reference[n]) for n, im in got)
    with pytest.raises(IndexError, match="30 frames"):
        media.video_frame(video, N)


def test_frame_range_and_step_give_cvat_frame_numbers(ws, video, reference, tmp_path):
    t = ws.create_project("p", labels=["car"]).create_task("part", media=video, start_frame=2, stop_frame=20,
                                                            frame_step=3)
    assert t.size == 7 and t.mode == "interpolation"
    assert t.items["name"].tolist() == [f"frame_{i:06d}" for i in range(2, 21, 3)]
    assert np.array_equal(np.asarray(t.frame(1)), reference[5])
    ds = t.dataset()
    assert ds.items["frame"].tolist() == list(range(2, 21, 3))  # absolute numbers, as CVAT writes ids
    row = ds.tasks.iloc[0]
    assert (row["start_frame"], row["stop_frame"], row["frame_filter"]) == (2, 20, "step=3")
    out = t.export(format="CVAT for video 1.1", save_images=True, target=str(tmp_path)).wait()
    with zipfile.ZipFile(out) as z:
        pngs = sorted(n for n in z.namelist() if n.startswith("images/"))
        assert pngs == [f"images/frame_{i:06d}.PNG" for i in range(2, 21, 3)]
        xml = z.read("annotations.xml").decode()
    assert "<start_frame>2</start_frame>" in xml and "<frame_filter>step=3</frame_filter>" in xml


def _track(ds: Dataset) -> Dataset:
    """One box track over frames 0..8 of a video task: keyframes at 0 and 5, outside from 9."""
    items = ds.items
    frames = [0, 5, 9]
    anns = pd.DataFrame({"ann_id": [0, 1, 2], "item_id": items["item_id"].iloc[frames].tolist(), "frame": frames,
                         "label": "car", "type": "bbox", "x": [1.0, 10.0, 10.0], "y": 2.0, "w": 20.0, "h": 10.0,
                         "track_id": 0, "keyframe": True, "outside": [False, False, True]})
    return Dataset(items=items, annotations=anns, labels=ds.labels)


def test_save_images_writes_frames_as_cvat_png(ws, video, reference, tmp_path):
    p = ws.create_project("p", labels=["car"])
    t = p.create_task("clip", media=video, segment_size=12)
    transfer.import_annotations(ws, "task", t.id, _track(t.dataset()))
    out = t.export(format="CVAT for video 1.1", save_images=True, target=str(tmp_path)).wait()
    with zipfile.ZipFile(out) as z:
        pngs = sorted(n for n in z.namelist() if n.startswith("images/"))
        assert pngs == [f"images/frame_{i:06d}.PNG" for i in range(N)]
        for n in (0, 13, 29):  # lossless PNG of the decoded frame
            from PIL import Image

            assert np.array_equal(np.asarray(Image.open(io.BytesIO(z.read(pngs[n]))).convert("RGB")), reference[n])
    back = aw.load(out)
    assert len(back.items) == N and back.annotations["track_id"].nunique() == 1
    # "CVAT for images" of a video task names the frames the same way
    out = t.export(format="CVAT for images 1.1", save_images=True, target=str(tmp_path), name="img.zip").wait()
    with zipfile.ZipFile(out) as z:
        assert sorted(n for n in z.namelist() if n.startswith("images/")) == pngs
    # a job's dataset holds its segment's frames only; annotations alone hold no images
    job = t.jobs[1]
    out = job.export(format="CVAT for video 1.1", save_images=True, target=str(tmp_path)).wait()
    with zipfile.ZipFile(out) as z:
        assert sorted(n for n in z.namelist() if n.startswith("images/")) == [
            f"images/frame_{i:06d}.PNG" for i in range(7, 19)]
    out = t.export(format="CVAT for video 1.1", target=str(tmp_path)).wait()
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["annotations.xml"]


def test_cvat_video_annotations_round_trip_through_a_video_task(ws, video, tmp_path):
    p = ws.create_project("p", labels=["car"])
    t = p.create_task("clip", media=video, segment_size=12)
    transfer.import_annotations(ws, "task", t.id, _track(t.dataset()))
    before = t.annotations
    xml = t.export(format="CVAT for video 1.1", target=str(tmp_path)).wait()
    u = p.create_task("copy", media=video, segment_size=12)
    u.import_annotations(xml).wait()  # matched by frame name
    after = u.annotations
    cols = ["frame", "label", "type", "x", "y", "w", "h", "track_id", "keyframe", "outside"]
    key = after[after["keyframe"]].sort_values("frame")[cols].reset_index(drop=True)
    assert key.equals(before.sort_values("frame")[cols].reset_index(drop=True))
    # importing into a job replaces that job's frames only: a box on frame 25 (job 3) stays
    late = _track(u.dataset())
    late.annotations = late.annotations.iloc[:1].assign(item_id=int(u.items["item_id"].iloc[25]), frame=25,
                                                        track_id=pd.NA, keyframe=False, label="car")
    transfer.import_annotations(ws, "task", u.id, late)
    assert u.annotations["frame"].tolist() == [25]
    u.jobs[0].import_annotations(xml).wait()  # frames 0..11 hold the whole track
    frames = set(u.annotations["frame"])
    assert 25 in frames and {0, 5, 9} <= frames and frames - {25} <= set(range(12))
    # a file whose annotated frames lie outside the job is refused, naming them
    with pytest.raises(aw.workspace.RequestFailed, match="frame_000000"):
        u.jobs[3].import_annotations(xml).wait()


def test_missing_pyav_is_a_clear_error(ws, video, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match=r"annowidgets\[video\]"):
        ws.create_project("p").create_task("clip", media=video)


def test_project_export_of_video_tasks_keeps_each_subsets_frames(ws, video, reference, tmp_path):
    from PIL import Image

    p = ws.create_project("p", labels=["car"])
    p.create_task("early", media=video, subset="train", stop_frame=3)
    p.create_task("late", media=video, subset="val", start_frame=20, stop_frame=23)
    out = p.export(format="CVAT for images 1.1", save_images=True, target=str(tmp_path)).wait()
    with zipfile.ZipFile(out) as z:
        pngs = sorted(n for n in z.namelist() if n.startswith("images/"))
        assert pngs == [f"images/{s}/frame_{i:06d}.PNG" for s in ("train", "val") for i in range(4)]
        for subset, first in (("train", 0), ("val", 20)):  # each subset's own pixels, no overwrite
            im = Image.open(io.BytesIO(z.read(f"images/{subset}/frame_000001.PNG"))).convert("RGB")
            assert np.array_equal(np.asarray(im), reference[first + 1])
    back = aw.load(out)  # the reader finds each subset's frames again
    assert back.items["media"].str.contains(r"images/(?:train|val)/frame_\d{6}\.PNG::").all()
    q = ws.create_project("q")
    q.import_dataset(out).wait()
    assert [(t.name, t.size) for t in q.tasks] == [("train", 4), ("val", 4)]
    assert np.array_equal(np.asarray(q.tasks[1].frame(2)), reference[22])


def test_video_copied_into_the_workspace(ws, video, reference):
    t = ws.create_project("p").create_task("clip", media=video, copy=True, stop_frame=5)
    (url,) = set(t.items["media"])
    assert url.startswith(ws.path) and url.endswith("clip.mp4")
    assert np.array_equal(np.asarray(t.frame(5)), reference[5])


def test_cvat_meta_of_task_and_job_exports(ws, video, tmp_path):
    """The meta block says what CVAT's does: a job's own size and absolute start/stop, the
    video's original_size and source, and created/updated times."""
    import re

    t = ws.create_project("p", labels=["car"]).create_task("clip", media=video, start_frame=2, stop_frame=20,
                                                            frame_step=3, segment_size=4)
    assert [(j.start, j.stop) for j in t.jobs] == [(0, 3), (2, 5), (4, 6)]  # overlap 5 capped at 2

    def meta(node) -> str:
        with zipfile.ZipFile(node.export(format="CVAT for video 1.1", target=str(tmp_path)).wait()) as z:
            text = z.read("annotations.xml").decode()
        return re.sub(r"\s+", "", text[text.index("<meta>"):text.index("</meta>")])

    task = meta(t)
    assert "<size>7</size>" in task and "<start_frame>2</start_frame><stop_frame>20</stop_frame>" in task
    assert "<original_size><width>64</width><height>48</height></original_size><source>clip.mp4</source>" in task
    assert re.search(r"<created>\d{4}-\d\d-\d\d\d\d:\d\d:\d\d\.\d+\+00:00</created>", task)
    job = meta(t.jobs[1])
    assert job.startswith("<meta><job><id>") and "<name>" not in job.split("<labels>")[0]
    assert "<size>4</size>" in job and "<start_frame>8</start_frame><stop_frame>17</stop_frame>" in job
    assert "</dumped><original_size>" in job  # CVAT's quirk: after <dumped>, outside <job>
