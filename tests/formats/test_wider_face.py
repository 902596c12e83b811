"""WiderFace 1.0: Datumaro's sample, round trips, the loss report, detection, malformed files and
Datumaro (the peer) importing our export."""
from __future__ import annotations

import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.loss import LossWarning

FMT = "WiderFace 1.0"


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format=FMT, archive=False, name="out", **kw)


def _faces(tmp_path) -> aw.Dataset:
    """Three images in two subsets: tags, fractional boxes with WIDER attributes, occluded flags,
    a non-face label, an untagged image without boxes."""
    media = tmp_path / "media"
    media.mkdir()
    items = []
    for i, (subset, name) in enumerate([("train", "a.jpg"), ("train", "b.png"), ("val", "c.jpg")]):
        Image.new("RGB", (40 + i, 30), (10 * i, 0, 0)).save(media / name)
        items.append({"item_id": i, "name": name, "subset": subset, "media": str(media / name),
                      "width": 40 + i, "height": 30})
    full = {"blur": "2", "expression": "0", "illumination": "1", "pose": "0", "invalid": "False"}
    ann = pd.DataFrame([
        {"item_id": 0, "type": "tag", "label": "Parade"},
        {"item_id": 0, "type": "bbox", "label": "face", "x": 1.25, "y": 2.5, "w": 10.125, "h": 7.0,
         "attributes": full, "occluded": True},
        {"item_id": 0, "type": "bbox", "label": "face", "x": 20, "y": 3, "w": 5, "h": 6, "attributes": {}},
        {"item_id": 1, "type": "tag", "label": "Handshaking"},
        {"item_id": 1, "type": "bbox", "label": "hand", "x": 0.5, "y": 0.75, "w": 3.333, "h": 4,
         "attributes": {"blur": "1", "occluded": "2"}},
    ])
    ann.insert(0, "ann_id", range(len(ann)))
    return aw.Dataset(items=items, annotations=ann,
                      labels=[{"name": n} for n in ("Parade", "Handshaking", "face", "hand")]).validate()


def _table(ds) -> list[tuple]:
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    rows = []
    for r in a.itertuples():
        attrs = tuple(sorted((r.attributes or {}).items()))
        geo = (r.x, r.y, r.w, r.h) if r.type == "bbox" else ()
        rows.append((r.subset, r.name, r.type, r.label, geo, bool(r.occluded), attrs))
    return sorted(rows, key=repr)


# -- Datumaro's sample ------------------------------------------------------------------------
def test_datumaro_sample_loads(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "widerface_dataset"))
    assert ds.info["format"] == FMT
    it = ds.items.set_index("name")
    assert it["subset"].to_dict() == {"0_Parade_image_01.jpg": "train", "1_Handshaking_image_02.jpg": "train",
                                      "0_Parade_image_03.jpg": "val"}
    assert it["media"].notna().all() and (it["width"] > 0).all()
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    tags = a[a["type"] == "tag"].set_index("name")["label"].to_dict()
    assert tags == {"0_Parade_image_01.jpg": "Parade", "1_Handshaking_image_02.jpg": "Handshaking",
                    "0_Parade_image_03.jpg": "Parade"}
    boxes = a[a["type"] == "bbox"]
    assert len(boxes) == 6 and set(boxes["label"]) == {"face"}
    val = boxes[boxes["name"] == "0_Parade_image_03.jpg"]
    assert val[list("xywh")].values.tolist() == [[0, 0, 1, 1], [3, 2, 1, 2], [5, 6, 1, 1]]
    # "0 0 1 1 2 0 0 0 2 0": blur expression illumination occluded pose invalid (Datumaro's order)
    assert val["attributes"].iloc[0] == {"blur": "2", "expression": "0", "illumination": "0", "occluded": "0",
                                         "pose": "2", "invalid": "0"}
    assert ds.labels["name"].tolist() == ["Parade", "Handshaking", "face"]  # dataset_meta.json's label_map first


def test_sample_round_trips_to_the_same_files(datumaro_dir, tmp_path):
    src = datumaro_dir / "widerface_dataset"
    out = _export(aw.load(str(src)), tmp_path)
    for f in ("wider_face_train_bbx_gt.txt", "wider_face_val_bbx_gt.txt"):
        assert (out_path := (tmp_path / "out" / "wider_face_split" / f)).read_text() == \
            (src / "wider_face_split" / f).read_text(), out_path
    assert out.loss.entries == []


# -- round trip, loss, detection --------------------------------------------------------------
def test_round_trip_keeps_what_wider_face_carries(tmp_path):
    ds = _faces(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True)
    assert out.loss.entries == []
    files = sorted(p.relative_to(tmp_path / "x" / "out").as_posix() for p in (tmp_path / "x" / "out").rglob("*")
                   if p.is_file())
    assert files == ["WIDER_train/images/0--Parade/a.jpg", "WIDER_train/images/1--Handshaking/b.png",
                     "WIDER_val/images/no_label/c.jpg", "labels.txt", "wider_face_split/wider_face_train_bbx_gt.txt",
                     "wider_face_split/wider_face_val_bbx_gt.txt"]
    back = aw.load(str(out))  # detected by content
    assert back.info["format"] == FMT
    assert _table(back) == _table(ds)
    assert back.items.set_index("name")[["width", "height"]].to_dict() == \
        ds.items.set_index("name")[["width", "height"]].to_dict()  # from the saved images
    assert back.labels["name"].tolist() == ["Parade", "Handshaking", "face", "hand"]


def test_zip_with_a_neutral_name_is_detected(tmp_path):
    ds = _faces(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path / "plain.zip"), format=FMT)
    back = aw.load(str(out))
    assert back.info["format"] == FMT and _table(back) == _table(ds)


def test_loss_report_names_what_wider_face_cannot_carry(tmp_path):
    ds = _faces(tmp_path)
    extra = pd.DataFrame([
        {"ann_id": 10, "item_id": 0, "type": "polygon", "label": "face", "points": [0, 0, 5, 0, 5, 5]},
        {"ann_id": 11, "item_id": 0, "type": "tag", "label": "Handshaking"},
        {"ann_id": 14, "item_id": 2, "type": "tag", "label": "street/left side"},
        {"ann_id": 15, "item_id": 2, "type": "bbox", "label": "face", "x": 3, "y": 3, "w": 2, "h": 2,
         "occluded": True, "attributes": {"occluded": "1"}},
        {"ann_id": 12, "item_id": 2, "type": "bbox", "label": "face", "x": 1, "y": 1, "w": 2, "h": 2,
         "rotation": 30.0, "attributes": {"mood": "happy"}, "score": 0.5},
    ])
    ds = aw.Dataset(items=ds.items, annotations=pd.concat([ds.annotations, extra], ignore_index=True),
                    labels=ds.labels)
    with pytest.warns(LossWarning):
        out = ds.export(str(tmp_path / "y"), format=FMT, archive=False, name="out")
    lost = {e.reason: e.rows for e in out.loss.entries}
    assert lost == {"WiderFace carries only boxes and tags": [10],
                    "WiderFace has no rotation: written unrotated": [12],
                    "WiderFace boxes carry only the attributes blur, expression, illumination, occluded, pose, "
                    "invalid": [12],
                    "scores are not carried by WiderFace": [12],
                    "WiderFace keeps one tag per image (its folder): later tags dropped": [11],
                    "a WiderFace tag is a folder name: '/', '\\' and spaces written as '_'": [14],
                    "WiderFace has one occluded field: the occluded attribute is written, not the flag": [15]}
    gt = (tmp_path / "y" / "out" / "wider_face_split" / "wider_face_val_bbx_gt.txt").read_text()
    assert gt == "4--street_left_side/c.jpg\n2\n3 3 2 2 - - - 1 - -\n1 1 2 2 - - - False - -\n"  # unrotated


def test_no_faces_placeholder_and_unlabelled_images(tmp_path):
    root = tmp_path / "w" / "wider_face_split"
    root.mkdir(parents=True)
    (root / "wider_face_val_bbx_gt.txt").write_text(
        "1--Handshaking/x.jpg\n0\n0 0 0 0 0 0 0 0 0 0\nno_label/y.jpg\nplain/z.jpg\n1\n1 2 3 4 person\n")
    ds = aw.load(str(tmp_path / "w"))
    assert ds.info["format"] == FMT
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    assert sorted(zip(a["name"], a["type"], a["label"], strict=True)) == [
        ("x.jpg", "tag", "Handshaking"), ("z.jpg", "bbox", "person"), ("z.jpg", "tag", "plain")]
    assert ds.items["name"].tolist() == ["x.jpg", "y.jpg", "z.jpg"] and set(ds.items["subset"]) == {"val"}


@pytest.mark.parametrize("text, line, message", [
    ("a/x.jpg\n2\n1 2 3 4\n", 4, "announces 2 boxes, found 1"),
    ("a/x.jpg\n1\n1 2 3\n", 3, "4, 5, 10 or 11 fields"),
    ("a/x.jpg\n1\n1 2 three 4\n", 3, "must be numbers"),
    ("a/x.jpg\nmany\n", 2, "expected the number of boxes"),
    ("a/x.jpg\n1\n1 2 3 4\n7 8 9 10\n", 4, "expected an image path"),
])
def test_malformed_file_names_file_and_line(tmp_path, text, line, message):
    root = tmp_path / "w" / "wider_face_split"
    root.mkdir(parents=True)
    (root / "wider_face_train_bbx_gt.txt").write_text(text)
    with pytest.raises(aw.FormatError, match=message) as e:
        aw.load(str(tmp_path / "w"), format=FMT)
    assert f"wider_face_train_bbx_gt.txt:{line}:" in str(e.value)


def test_wrong_input_is_refused(datumaro_dir):
    with pytest.raises(aw.FormatError, match="no WiderFace annotations here"):
        aw.load(str(datumaro_dir / "vgg_face2_dataset"), format=FMT)


# -- Datumaro imports our export --------------------------------------------------------------
DM_READ = textwrap.dedent("""
    import json, sys
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], "wider_face")
    names = [c.name for c in ds.categories()[AnnotationType.label]]
    out = []
    for item in ds:
        for a in item.annotations:
            lab = names[a.label] if a.label is not None else None
            if a.type == AnnotationType.bbox:
                out.append([item.subset, item.id, "bbox", lab, [a.x, a.y, a.w, a.h],
                            {k: str(v) for k, v in a.attributes.items()}])
            elif a.type == AnnotationType.label:
                out.append([item.subset, item.id, "tag", lab, [], {}])
        if not item.annotations:
            out.append([item.subset, item.id, None, None, [], {}])
    print(json.dumps({"labels": names, "rows": out}))
""")


@pytest.mark.oracle
def test_datumaro_reads_our_export(tmp_path, oracle):
    ds = _faces(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True)
    got = oracle(DM_READ, str(out))
    assert got["labels"] == ["Parade", "Handshaking", "face", "hand"]
    theirs = sorted((((s, i, t, lab, sorted(attrs.items())), g) for s, i, t, lab, g, attrs in got["rows"]), key=repr)
    want = []
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    for r in a.itertuples():
        stem = r.name.rsplit(".", 1)[0]
        if r.type == "tag":
            want.append(((r.subset, stem, "tag", r.label, []), []))
        else:
            attrs = {**r.attributes}
            attrs.setdefault("occluded", str(bool(r.occluded)))
            want.append(((r.subset, stem, "bbox", r.label, sorted(attrs.items())), [r.x, r.y, r.w, r.h]))
    want.append((("val", "c", None, None, []), []))
    want.sort(key=repr)
    assert [k for k, _ in theirs] == [k for k, _ in want]
    for (_, g1), (_, g2) in zip(theirs, want, strict=True):  # Datumaro keeps 2 decimals (float32)
        assert np.allclose(g1, g2, atol=0.006), (g1, g2)

