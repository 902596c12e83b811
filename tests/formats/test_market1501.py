"""Market-1501 1.0: Datumaro's sample, round trips, the loss report, detection, malformed files and
Datumaro (the peer) importing our export."""
from __future__ import annotations

import textwrap
import warnings

import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.loss import LossWarning

FMT = "Market-1501 1.0"
TAG = "market-1501"


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format=FMT, archive=False, name="out", **kw)


def _people(tmp_path) -> aw.Dataset:
    """A gallery image named by its code, a query image, one with its own name after the code,
    attributes as CVAT's text inputs give them (strings), and an image without the tag."""
    media = tmp_path / "media"
    media.mkdir()
    names = ["0007_c2s1_000123_01.jpg", "q.jpg", "walker.png", "plain.jpg"]
    items = []
    for i, (n, s) in enumerate(zip(names, ["train", "test", "train", "test"], strict=True)):
        Image.new("RGB", (8, 16 + i)).save(media / n)
        items.append({"item_id": i, "name": n, "subset": s, "media": str(media / n), "width": 8, "height": 16 + i})
    ann = pd.DataFrame([
        {"item_id": 0, "type": "tag", "label": TAG, "attributes": {
            "person_id": "0007", "camera_id": 1, "track_id": 1, "frame_id": 123, "bbox_id": 1, "query": False}},
        {"item_id": 1, "type": "tag", "label": TAG, "attributes": {
            "person_id": "0007", "camera_id": 4, "track_id": 2, "frame_id": 9, "bbox_id": 0, "query": True}},
        {"item_id": 2, "type": "tag", "label": TAG, "attributes": {
            "person_id": "-1", "camera_id": 0, "track_id": 1, "frame_id": 5, "bbox_id": 0, "query": False}},
    ])
    ann.insert(0, "ann_id", range(len(ann)))
    return aw.Dataset(items=items, annotations=ann, labels=[{"name": TAG, "type": "tag"}]).validate()


def _table(ds) -> list[tuple]:
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id", how="right")
    return sorted(((r.subset, r.name, r.label if isinstance(r.label, str) else None,
                    tuple(sorted((r.attributes or {}).items())) if isinstance(r.attributes, dict) else ())
                   for r in a.itertuples()), key=repr)


# -- Datumaro's sample ------------------------------------------------------------------------
def test_datumaro_sample_loads(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "market1501_dataset"))
    assert ds.info["format"] == FMT
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id").set_index("name")
    assert a["subset"].to_dict() == {"0001_c2s3_000111_00.jpg": "query", "0001_c1s1_001051_00.jpg": "test",
                                     "0002_c1s3_000151_00.jpg": "train"}
    assert set(a["type"]) == {"tag"} and set(a["label"]) == {TAG}
    assert a.loc["0001_c2s3_000111_00.jpg", "attributes"] == {
        "person_id": "0001", "camera_id": 1, "track_id": 3, "frame_id": 111, "bbox_id": 0, "query": True}
    assert a.loc["0002_c1s3_000151_00.jpg", "attributes"]["query"] is False
    assert ds.items["media"].notna().all() and (ds.items["width"] > 0).all()


def test_sample_round_trips_to_the_same_layout(datumaro_dir, tmp_path):
    out = _export(aw.load(str(datumaro_dir / "market1501_dataset")), tmp_path, save_images=True)
    root = tmp_path / "out"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg")) == sorted(
        p.relative_to(datumaro_dir / "market1501_dataset").as_posix()
        for p in (datumaro_dir / "market1501_dataset").rglob("*.jpg"))
    assert (root / "images_query.txt").read_text() == "query/0001_c2s3_000111_00.jpg\n"
    assert out.loss.entries == []


# -- round trip, loss, detection --------------------------------------------------------------
def test_round_trip_keeps_the_fields(tmp_path):
    ds = _people(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True)
    assert out.loss.entries == []
    root = tmp_path / "x" / "out"
    assert (root / "images_train.txt").read_text() == \
        "bounding_box_train/0007_c2s1_000123_01.jpg\nbounding_box_train/-1_c1s1_000005_00walker.png\n"
    assert (root / "images_test.txt").read_text() == "query/0007_c5s2_000009_00q.jpg\nbounding_box_test/plain.jpg\n"
    back = aw.load(str(out))
    assert back.info["format"] == FMT
    assert _table(back) == _table(ds)
    assert back.items.set_index("name").loc["walker.png", "height"] == 18


def test_missing_fields_are_filled_like_datumaro(tmp_path):
    items = [{"item_id": i, "name": f"p{i}.jpg"} for i in range(3)] + [{"item_id": 3, "name": "42.jpg"}]
    ann = pd.DataFrame([{"ann_id": i, "item_id": i, "type": "tag", "label": TAG,
                         "attributes": {"person_id": "12", "camera_id": "2", "query": "false"}} for i in range(2)]
                       + [{"ann_id": 2, "item_id": 2, "type": "tag", "label": TAG,
                           "attributes": {"person_id": "12", "query": "True"}},
                          {"ann_id": 3, "item_id": 3, "type": "tag", "label": TAG,
                           "attributes": {"person_id": "5", "frame_id": 7}}])
    out = _export(aw.Dataset(items=items, annotations=ann), tmp_path)
    assert (tmp_path / "out" / "images_default.txt").read_text().splitlines() == [
        "bounding_box_default/12_c3s1_000000_00p0.jpg", "bounding_box_default/12_c3s1_000001_00p1.jpg",
        "query/12_c1s1_000000_00p2.jpg", "bounding_box_default/5_c1s1_000007_00.jpg"]
    assert [(e.table, e.rows) for e in out.loss.entries] == [("items", [3])]  # '42' cannot follow the fields
    assert "name starting with a digit" in out.loss.entries[0].reason


def test_loss_report_names_what_market1501_cannot_carry(tmp_path):
    ds = _people(tmp_path)
    extra = pd.DataFrame([
        {"ann_id": 10, "item_id": 3, "type": "bbox", "label": "person", "x": 1, "y": 1, "w": 2, "h": 2},
        {"ann_id": 11, "item_id": 3, "type": "tag", "label": "walking"},
        {"ann_id": 12, "item_id": 0, "type": "tag", "label": TAG, "attributes": {"person_id": "1"}},
        {"ann_id": 13, "item_id": 3, "type": "tag", "label": TAG, "attributes": {"person_id": "3", "hat": "yes"}},
    ])
    ds = aw.Dataset(items=ds.items, annotations=pd.concat([ds.annotations, extra], ignore_index=True))
    with pytest.warns(LossWarning):
        out = ds.export(str(tmp_path / "y"), format=FMT, archive=False, name="out")
    assert {e.reason: e.rows for e in out.loss.entries} == {
        "Market-1501 carries only its 'market-1501' tag (the fields of the file name)": [10, 11],
        "Market-1501 holds one 'market-1501' tag per image": [12],
        "Market-1501 file names carry only person_id, camera_id, track_id, frame_id, bbox_id, query": [13],
    }


def test_malformed_list_names_file_and_line(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "images_train.txt").write_text("bounding_box_train/0001_c1s1_000001_00.jpg\n../etc/passwd\n")
    with pytest.raises(aw.FormatError, match="expected an image path") as e:
        aw.load(str(tmp_path / "m"), format=FMT)
    assert "images_train.txt:2:" in str(e.value)


def test_wrong_input_is_refused(datumaro_dir):
    with pytest.raises(aw.FormatError, match="no Market-1501 layout here"):
        aw.load(str(datumaro_dir / "widerface_dataset"), format=FMT)


# -- Datumaro imports our export --------------------------------------------------------------
DM_READ = textwrap.dedent("""
    import json, sys
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], "market1501")
    print(json.dumps([[item.subset, item.id, item.attributes] for item in ds]))
""")


@pytest.mark.oracle
def test_datumaro_reads_our_export(tmp_path, oracle):
    """An annotations-only export, as CVAT's "export annotations" makes it: Datumaro reads every
    item and its fields from the list files, except ``query``, which it takes from the subset
    name ('query') rather than the image's folder, so it reports False for our query image."""
    ds = _people(tmp_path)
    got = oracle(DM_READ, str(_export(ds, tmp_path / "x")))
    theirs = sorted((s, i, sorted(a.items())) for s, i, a in got)
    want = [("test", "plain", [])]
    for r in ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id").itertuples():
        want.append((r.subset, r.name.rsplit(".", 1)[0], sorted({**r.attributes, "query": False}.items())))
    assert theirs == sorted(want)
