"""Datumaro (in the oracle venv) writes WiderFace, VGGFace2, Market-1501 and LFW datasets it builds,
as CVAT's exports do; our readers, with the format detected, get the same items and annotations."""
from __future__ import annotations

import textwrap

import pytest

import annowidgets as aw

from . import peers

pytestmark = peers.needs_oracle

WRITE = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from datumaro.components.annotation import AnnotationType, Bbox, Label, LabelCategories, Points
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image
    root = sys.argv[1]
    img = lambda h: Image.from_numpy(np.zeros((h, 12, 3), np.uint8))
    pts = [1.5, 2.25, 6.75, 2.0, 4.0, 4.5, 2.0, 6.0, 6.0, 6.25]
    out = {}
    ds = Dataset.from_iterable([
        DatasetItem(id="img1", subset="train", media=img(10), annotations=[
            Label(1),
            Bbox(1.5, 2.25, 3, 4, label=0, attributes={"blur": "1", "expression": "0", "illumination": "0",
                                                        "occluded": False, "pose": "2", "invalid": "0"}),
            Bbox(5, 6, 2.5, 1, label=2)]),
        DatasetItem(id="img2", subset="val", media=img(11), annotations=[Bbox(0, 0, 1, 1, label=0)]),
    ], categories=["face", "Parade", "hand"])
    out["wider_face"] = os.path.join(root, "wider_face")
    ds.export(out["wider_face"], "wider_face", save_media=True)
    cats = LabelCategories()
    cats.add("n001", parent="Karl")
    cats.add("n002")
    ds = Dataset.from_iterable([
        DatasetItem(id="n001/0001_01", subset="train", media=img(12), annotations=[
            Bbox(2.5, 3, 4, 5.25, label=0), Points(pts, label=0)]),
        DatasetItem(id="n002/0002_01", subset="train", media=img(13), annotations=[Label(1)]),
        DatasetItem(id="0003_01", subset="test", media=img(14)),
    ], categories={AnnotationType.label: cats})
    out["vgg_face2"] = os.path.join(root, "vgg_face2")
    ds.export(out["vgg_face2"], "vgg_face2", save_media=True)
    ds = Dataset.from_iterable([
        DatasetItem(id="0001_c1s1_000001_00", subset="train", media=img(15), attributes={
            "person_id": "0001", "camera_id": 0, "track_id": 1, "frame_id": 1, "bbox_id": 0, "query": False}),
        DatasetItem(id="q1", subset="test", media=img(16), attributes={
            "person_id": "0002", "camera_id": 2, "track_id": 1, "frame_id": 5, "bbox_id": 0, "query": True}),
    ])
    out["market1501"] = os.path.join(root, "market1501")
    ds.export(out["market1501"], "market1501", save_media=True)
    ds = Dataset.from_iterable([
        DatasetItem(id="name0_0001", subset="test", media=img(17), annotations=[
            Label(0, attributes={"positive_pairs": ["name0/name0_0002"], "negative_pairs": ["name1/name1_0001"]}),
            Points(pts, label=0)]),
        DatasetItem(id="name0_0002", subset="test", media=img(18), annotations=[Label(0)]),
        DatasetItem(id="name1_0001", subset="test", media=img(19), annotations=[Label(1)]),
    ], categories=["name0", "name1"])
    out["lfw"] = os.path.join(root, "lfw")
    ds.export(out["lfw"], "lfw", save_media=True)
    print(json.dumps(out))
""")
PTS = [1.5, 2.25, 6.75, 2.0, 4.0, 4.5, 2.0, 6.0, 6.0, 6.25]  # 2-decimal values: Datumaro rounds coordinates to 2 decimals (float32)


@pytest.fixture(scope="module")
def written(tmp_path_factory, oracle):
    return oracle(WRITE, str(tmp_path_factory.mktemp("dm_faces")))


def _rows(ds) -> list[tuple]:
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id", how="right")
    out = []
    for r in a.itertuples():
        if not isinstance(r.type, str):
            out.append((r.subset, r.name, None, None, (), ()))
            continue
        geo = (r.x, r.y, r.w, r.h) if r.type == "bbox" else tuple(r.points) if r.type == "points" else ()
        attrs = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (r.attributes or {}).items()))
        out.append((r.subset, r.name, r.type, r.label, geo, attrs))
    return sorted(out, key=repr)


def _load(path, fmt):
    ds = aw.load(path)
    assert ds.info["format"] == fmt  # detected, not told
    assert ds.items["media"].notna().all() and ds.items["height"].notna().all()
    return ds


def test_we_read_datumaro_wider_face(written):
    ds = _load(written["wider_face"], "WiderFace 1.0")
    attrs = (("blur", "1"), ("expression", "0"), ("illumination", "0"), ("invalid", "0"), ("pose", "2"))
    assert _rows(ds) == sorted([
        ("train", "img1.jpg", "tag", "Parade", (), ()),
        ("train", "img1.jpg", "bbox", "face", (1.5, 2.25, 3.0, 4.0), attrs),  # occluded False: the flag
        ("train", "img1.jpg", "bbox", "hand", (5.0, 6.0, 2.5, 1.0), ()),
        ("val", "img2.jpg", "bbox", "face", (0.0, 0.0, 1.0, 1.0), ()),
    ], key=repr)
    assert ds.labels["name"].tolist() == ["face", "Parade", "hand"]


def test_we_read_datumaro_vgg_face2(written):
    ds = _load(written["vgg_face2"], "VGGFace2 1.0")
    assert _rows(ds) == sorted([
        ("train", "n001/0001_01.jpg", "bbox", "n001", (2.5, 3.0, 4.0, 5.25), ()),
        ("train", "n001/0001_01.jpg", "points", "n001", tuple(PTS), ()),
        ("train", "n002/0002_01.jpg", "tag", "n002", (), ()),
        ("test", "no_label/0003_01.jpg", None, None, (), ()),
    ], key=repr)
    assert ds.labels["extra"].tolist()[0] == {"class_name": "Karl"}


def test_we_read_datumaro_market1501(written):
    ds = _load(written["market1501"], "Market-1501 1.0")
    fields = lambda pid, cam, frame, query: (("bbox_id", 0), ("camera_id", cam), ("frame_id", frame),  # noqa: E731
                                             ("person_id", pid), ("query", query), ("track_id", 1))
    # Datumaro names q1 by its fields only (it drops the id), and files it under query/
    assert _rows(ds) == sorted([
        ("train", "0001_c1s1_000001_00.jpg", "tag", "market-1501", (), fields("0001", 0, 1, False)),
        ("test", "0002_c3s1_000005_00.jpg", "tag", "market-1501", (), fields("0002", 2, 5, True)),
    ], key=repr)


def test_we_read_datumaro_lfw(written):
    ds = _load(written["lfw"], "LFW 1.0")
    assert _rows(ds) == sorted([
        ("test", "name0_0001.jpg", "tag", "name0", (), (("negative_pairs", ("name1/name1_0001",)),
                                                         ("positive_pairs", ("name0/name0_0002",)))),
        ("test", "name0_0001.jpg", "points", "name0", tuple(PTS), ()),  # the person from pairs.txt
        ("test", "name0_0002.jpg", "tag", "name0", (), ()),
        ("test", "name1_0001.jpg", "tag", "name1", (), ()),
    ], key=repr)
