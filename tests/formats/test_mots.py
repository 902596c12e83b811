"""MOTS PNG 1.0: <subset>/instances/<id>.png (class*1000+track, 16-bit) + labels.txt [+ images/]."""
from __future__ import annotations

import json
import shutil
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core import raster
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode, coco_encode

H, W = 8, 12
SAMPLE = "mots_dataset"


def _pixels(r) -> tuple:
    return tuple(np.flatnonzero(coco_decode(r.mask)).tolist())


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format="MOTS PNG 1.0", archive=False, name="out", **kw)


def _png(path: Path, arr) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint16)).save(path)


@pytest.mark.fixtures
def test_reads_datumaro_sample_as_tracks(datumaro_dir):
    ds = aw.load(str(datumaro_dir / SAMPLE))
    assert ds.info["format"] == "MOTS PNG 1.0"
    assert ds.labels["name"].tolist() == ["a", "b", "c", "d"]
    it = ds.items
    assert list(zip(it["subset"], it["name"], it["frame"], strict=True)) == [
        ("train", "1.jpg", 0, ), ("train", "2.jpg", 1), ("val", "3.jpg", 2)]
    assert Path(it["media"].iloc[0]).is_file() and (it["width"] == 5).all()
    a = ds.annotations
    vis = a[~a["outside"]]
    # 1.png: 3002 (c, instance 2), 4001 (d, 1), 4003 (d, 3) x2; 2.png: 4002 (d, 2); 3.png: 1001 (a, 1)
    got = sorted((r.item_id, r.label, r.extra["instance_id"], r.track_id, _pixels(r)) for r in vis.itertuples())
    assert got == [(0, "c", 2, 2, (2,)), (0, "d", 1, 1, (3,)), (0, "d", 3, 3, (0, 1)),
                   (1, "d", 2, 4, (0,)), (2, "a", 1, 5, (1,))]  # (d, 2) and (a, 1): the id is taken, a new one
    assert (vis["type"] == "mask").all() and vis["keyframe"].all()
    # CVAT's import: an outside keyframe on the frame after each track's last visible one
    out = a[a["outside"]]
    assert sorted(zip(out["track_id"], out["frame"], strict=True)) == [(1, 1), (2, 1), (3, 1), (4, 2)]
    assert (a["frame"] == a["item_id"]).all()
    assert ds.tasks["stop_frame"].tolist() == [2]
    # the subset folder alone reads as well (subset "default")
    tr = aw.load(str(datumaro_dir / SAMPLE / "train"))
    assert tr.info["format"] == "MOTS PNG 1.0" and len(tr.items) == 2 and (tr.items["subset"] == "default").all()


@pytest.mark.fixtures
def test_reads_sample_as_polygon_tracks(datumaro_dir):
    ds = aw.load(str(datumaro_dir / SAMPLE), to_polygons=True)
    vis = ds.annotations[~ds.annotations["outside"]]
    assert (vis["type"] == "polygon").all()
    box = sorted((r.item_id, r.label, r.track_id, tuple(r.points)) for r in vis.itertuples())
    assert box[2] == (0, "d", 3, (0.0, 0.0, 0.0, 1.0, 2.0, 1.0, 2.0, 0.0))  # pixels 0-1 of row 0


def _dataset(tmp_path: Path) -> aw.Dataset:
    media = tmp_path / "media"
    media.mkdir()
    for k in range(4):
        Image.new("RGB", (W, H)).save(media / f"f{k}.jpg")
    m = np.zeros((H, W), bool)
    m[5:7, 8:11] = True
    rle = coco_encode(m)
    ann = [
        # polygon track 7: keyframes on 0 and 2 (1 interpolated), outside on 3
        dict(type="polygon", label="person", points=[1.0, 1.0, 4.0, 1.0, 4.0, 4.0, 1.0, 4.0], frame=0, item_id=0,
             track_id=7, keyframe=True),
        dict(type="polygon", label="person", points=[1.0, 1.0, 4.0, 1.0, 4.0, 4.0, 1.0, 4.0], frame=2, item_id=2,
             track_id=7, keyframe=True),
        dict(type="polygon", label="person", points=[1.0, 1.0, 4.0, 1.0, 4.0, 4.0, 1.0, 4.0], frame=3, item_id=3,
             track_id=7, keyframe=True, outside=True),
        # box track 12 on frame 1 only, with an attribute
        dict(type="bbox", label="car", x=6.0, y=0.0, w=3.0, h=2.0, frame=1, item_id=1, track_id=12, keyframe=True,
             attributes={"color": "red"}),
        dict(type="bbox", label="car", x=6.0, y=0.0, w=3.0, h=2.0, frame=2, item_id=2, track_id=12, keyframe=True,
             outside=True),
        # mask track 3 on frame 3
        dict(type="mask", label="car", mask=rle, x=8.0, y=5.0, w=3.0, h=2.0, frame=3, item_id=3, track_id=3,
             keyframe=True),
        # not tracks: lost
        dict(type="bbox", label="car", x=0.0, y=0.0, w=2.0, h=2.0, frame=0, item_id=0),
        dict(type="points", label="person", points=[1.0, 1.0], frame=1, item_id=1, track_id=20, keyframe=True),
    ]
    for i, r in enumerate(ann):
        r["ann_id"] = i
    items = [dict(item_id=k, name=f"f{k}.jpg", subset="train", frame=k, task=0, media=str(media / f"f{k}.jpg"),
                  width=W, height=H) for k in range(4)]
    tasks = [dict(task_id=0, name="t", mode="interpolation", size=4, start_frame=0, stop_frame=3)]
    return aw.Dataset(items=items, annotations=ann, labels=[dict(name="person"), dict(name="car")],
                      tasks=tasks).validate()


def test_round_trip_and_loss_report(tmp_path):
    ds = _dataset(tmp_path)
    res = _export(ds, tmp_path / "x", save_images=True)
    out = Path(res)
    assert (out / "train/instances/labels.txt").read_text() == "person\ncar"
    assert sorted(p.name for p in (out / "train/images").iterdir()) == ["f0.jpg", "f1.jpg", "f2.jpg", "f3.jpg"]
    png = np.asarray(Image.open(out / "train/instances/f1.png"))
    assert png.dtype == np.uint16 and sorted(np.unique(png).tolist()) == [0, 1007, 2012]

    reasons = {e.reason: sorted(e.rows) for e in res.loss.entries}
    assert reasons["MOTS PNG carries tracks only (CVAT exports only tracks): shapes outside a track are not "
                   "written"] == [6]
    assert reasons["points has no area to paint into a MOTS PNG mask"] == [7]
    raster_msg = "MOTS PNG stores pixels: the {} is rasterised and reads back as a mask (polygons with to_polygons=True)"
    assert reasons[raster_msg.format("polygon")] == [0, 1] and reasons[raster_msg.format("bbox")] == [3]
    assert reasons["attributes are not carried by MOTS PNG"] == [3]
    assert reasons["MOTS PNG has no keyframes: the frames between them are written interpolated and every row reads "
                   "back as a keyframe"] == [0, 1, 2]

    back = aw.load(str(out))
    assert back.info["format"] == "MOTS PNG 1.0"
    assert back.items["name"].tolist() == ["f0.jpg", "f1.jpg", "f2.jpg", "f3.jpg"]
    vis = back.annotations[~back.annotations["outside"]]
    got = sorted((r.frame, r.label, r.track_id) for r in vis.itertuples())
    assert got == [(0, "person", 7), (1, "car", 12), (1, "person", 7), (2, "person", 7), (3, "car", 3)]
    # the pixels are the rasterised shapes
    src = {(0, 7): raster.shape_mask("polygon", H, W, points=ds.annotations["points"].iloc[0]),
           (1, 12): raster.shape_mask("bbox", H, W, x=6.0, y=0.0, w=3.0, h=2.0),
           (3, 3): coco_decode(ds.annotations["mask"].iloc[5]).astype(bool)}
    for r in vis.itertuples():
        if (r.frame, r.track_id) in src:
            assert np.array_equal(coco_decode(r.mask).astype(bool), src[(r.frame, r.track_id)])
    outside = back.annotations[back.annotations["outside"]]
    assert sorted(zip(outside["track_id"], outside["frame"], strict=True)) == [(7, 3), (12, 2)]


def test_track_ids_beyond_999_are_renumbered_and_reported(tmp_path):
    ds = _dataset(tmp_path)
    a = ds.annotations.copy()
    a.loc[a["track_id"] == 7, "track_id"] = 5000
    ds = aw.Dataset(items=ds.items, annotations=a, labels=ds.labels, tasks=ds.tasks).validate()
    res = _export(ds, tmp_path / "z")
    reasons = {e.reason: sorted(e.rows) for e in res.loss.entries}
    assert reasons["track id outside MOTS' 0..999 instance range: tracks renumbered from 1 per label"] == [0, 1]
    back = aw.load(str(res))
    vis = back.annotations[~back.annotations["outside"]]
    inst = vis["extra"].map(lambda e: e["instance_id"])
    assert sorted(set(zip(vis["label"], inst, vis["track_id"], strict=True))) == [
        ("car", 1, 2), ("car", 2, 3), ("person", 1, 1)]


def test_detection_class_10_and_unknown_classes(tmp_path):
    root = tmp_path / "m"
    _png(root / "seq/instances/000.png", [[0, 1001, 10002, 7001]])
    (root / "seq/instances/labels.txt").write_text("person\ncar\n")
    ds = aw.load(str(root))
    assert ds.info["format"] == "MOTS PNG 1.0"
    a = ds.annotations
    assert sorted(zip(a["label"], a["z_order"], a["track_id"], strict=True)) == [("ignored", 1, 2), ("person", 0, 1)]
    assert "ignored" in ds.labels["name"].tolist()
    assert [(e.reason, list(e.rows)) for e in ds.loss.entries] == [
        ("pixels of class id 7 (not a line of labels.txt) read as background", [0])]
    # without labels.txt: detected by 16-bit class*1000+id values, MOTS' own classes
    (root / "seq/instances/labels.txt").unlink()
    ds = aw.load(str(root))
    assert ds.info["format"] == "MOTS PNG 1.0"
    assert sorted(ds.annotations["label"]) == ["car", "ignored"]


def test_malformed_files_name_file_and_line(tmp_path):
    root = tmp_path / "bad"
    _png(root / "train/instances/1.png", [[0, 1001]])
    (root / "train/instances/labels.txt").write_text("a\nb\na\n")
    with pytest.raises(aw.FormatError, match=r"labels\.txt:3: label 'a' is listed twice"):
        aw.load(str(root), format="MOTS PNG 1.0")
    (root / "train/instances/labels.txt").write_text("a\n")
    (root / "train/instances/1.png").write_bytes(b"not a png")
    with pytest.raises(aw.FormatError, match=r"1\.png.*not a readable PNG"):
        aw.load(str(root), format="mots")
    Image.new("RGB", (3, 3)).save(root / "train/instances/1.png")
    with pytest.raises(aw.FormatError, match=r"1\.png.*single-channel"):
        aw.load(str(root), format="mots")


def test_many_instances_decode_fast(tmp_path):
    import time

    rng = np.random.default_rng(0)
    ids = rng.integers(1, 900, size=(400, 400)) + 1000 * rng.integers(1, 3, size=(400, 400))
    _png(tmp_path / "s/instances/0.png", ids)
    (tmp_path / "s/instances/labels.txt").write_text("car\npedestrian\n")
    t = time.perf_counter()
    ds = aw.load(str(tmp_path / "s"))
    assert len(ds.annotations) == len(np.unique(ids))
    assert time.perf_counter() - t < 20


DM_READS_MOTS = textwrap.dedent("""
    import json, sys
    import numpy as np
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], "mots")
    labels = ds.categories()[AnnotationType.label]
    out = []
    for item in ds:
        for a in item.annotations:
            if a.type == AnnotationType.mask:
                out.append([item.subset, item.id, labels[a.label].name, int(a.attributes["track_id"]),
                            np.flatnonzero(a.image).tolist()])
    print(json.dumps(sorted(out)))
""")


@pytest.mark.oracle
def test_datumaro_imports_our_export(tmp_path, oracle):
    ds = _dataset(tmp_path)
    out = _export(ds, tmp_path / "x")
    got = oracle(DM_READS_MOTS, str(out))
    ours = aw.load(out)
    vis = ours.annotations[~ours.annotations["outside"]].merge(ours.items[["item_id", "name", "subset"]],
                                                                on="item_id")
    want = sorted([r.subset, r.name.rsplit(".", 1)[0], r.label, int(r.track_id),
                   np.flatnonzero(coco_decode(r.mask)).tolist()] for r in vis.itertuples())
    assert got == want and len(got) == 5


def test_copy_of_sample_detected_in_zip(tmp_path, datumaro_dir):
    src = datumaro_dir / SAMPLE
    shutil.make_archive(str(tmp_path / "mots"), "zip", src)
    ds = aw.load(str(tmp_path / "mots.zip"))
    assert ds.info["format"] == "MOTS PNG 1.0" and len(ds.items) == 3
    assert json.dumps(sorted(ds.items["subset"].unique().tolist())) == '["train", "val"]'


DM_WRITES_MOTS = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from datumaro.components.annotation import Mask
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image
    H, W = 4, 6
    def mask(y0, y1, x0, x1):
        m = np.zeros((H, W), np.uint8)
        m[y0:y1, x0:x1] = 1
        return m
    specs = [("train", "0", [(0, 1, mask(0, 2, 0, 3)), (1, 2, mask(2, 4, 0, 6))]),
             ("train", "1", [(0, 1, mask(0, 2, 1, 4))]),
             ("val", "2", [(1, 5, mask(1, 3, 2, 5))])]
    items = [DatasetItem(id=i, subset=s, media=Image.from_numpy(np.full((H, W, 3), 9, np.uint8)),
                         annotations=[Mask(m, label=l, attributes={"track_id": t}) for l, t, m in anns])
             for s, i, anns in specs]
    path = os.path.join(sys.argv[1], "mots")
    Dataset.from_iterable(items, categories=["car", "person"]).export(path, "mots_png", save_media=True)
    names = ["car", "person"]
    print(json.dumps({"path": path, "want": sorted([s, i, names[l], t, np.flatnonzero(m).tolist()]
                                                   for s, i, anns in specs for l, t, m in anns)}))
""")


@pytest.mark.oracle
def test_we_read_datumaro_export(tmp_path, oracle):
    got = oracle(DM_WRITES_MOTS, str(tmp_path))
    ds = aw.load(got["path"])
    assert ds.info["format"] == "MOTS PNG 1.0"
    assert ds.items["name"].tolist() == ["0.jpg", "1.jpg", "2.jpg"] and ds.items["media"].map(
        lambda m: Path(m).is_file()).all()
    vis = ds.annotations[~ds.annotations["outside"]].merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    mine = sorted([r.subset, r.name.rsplit(".", 1)[0], r.label, r.extra["instance_id"],
                   np.flatnonzero(coco_decode(r.mask)).tolist()] for r in vis.itertuples())
    assert mine == got["want"]
    # car track 1 is on frames 0 and 1: one track, ended by an outside keyframe on frame 2
    car = ds.annotations[ds.annotations["label"] == "car"]
    assert car["track_id"].nunique() == 1 and car["frame"].tolist() == [0, 1, 2] and car["outside"].tolist() == [
        False, False, True]


def test_hidden_interpolated_frame_is_reported_on_its_keyframe(tmp_path):
    ds = _dataset(tmp_path)
    a = ds.annotations
    # track 30 covers all of track 7's polygon on frame 1, where 7 is only interpolated
    cover = dict(ann_id=50, item_id=1, frame=1, type="bbox", label="car", x=0.0, y=0.0, w=6.0, h=6.0, z_order=2,
                 track_id=30, keyframe=True)
    end = {**cover, "ann_id": 51, "item_id": 2, "frame": 2, "outside": True}
    ds = aw.Dataset(items=ds.items, annotations=[*a[a["ann_id"] < 6].to_dict("records"), cover, end],
                    labels=ds.labels, tasks=ds.tasks).validate()
    res = _export(ds, tmp_path / "h")
    reasons = {e.reason: list(e.rows) for e in res.loss.entries}
    hidden = next(v for k, v in reasons.items() if k.startswith("no pixel of it left"))
    assert hidden == [0]  # the keyframe frame 1 was interpolated from, not a generated id
    assert all(r in set(ds.annotations["ann_id"]) for rows in reasons.values() for r in rows)
