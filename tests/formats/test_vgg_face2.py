"""VGGFace2 1.0: Datumaro's sample, round trips, the loss report, detection, malformed files and
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

FMT = "VGGFace2 1.0"
PTS = [[10.5, 12.25, 20.125, 12.0, 15.0, 18.5, 11.0, 24.0, 19.75, 24.5],
       [1.0, 2.0, 3.0, 2.0, 2.0, 3.0, 1.0, 4.0, 3.0, 4.0]]


def _export(ds, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format=FMT, archive=False, name="out", **kw)


def _faces(tmp_path) -> aw.Dataset:
    """Items named <identity>/<image>, as VGGFace2 names them: box + landmarks, landmarks only,
    box only, a tag only, and an image without annotations."""
    media = tmp_path / "media"
    media.mkdir()
    rows = [("train", "n001/0001_01.jpg"), ("train", "n002/0001_01.jpg"), ("train", "n002/0002_01.png"),
            ("val", "n003/0001_01.jpg"), ("val", "no_label/0009_01.jpg")]
    items = []
    for i, (subset, name) in enumerate(rows):
        f = media / name.replace("/", "_")
        Image.new("RGB", (32, 30 + i)).save(f)
        items.append({"item_id": i, "name": name, "subset": subset, "media": str(f), "width": 32, "height": 30 + i})
    ann = [
        {"item_id": 0, "type": "bbox", "label": "n001", "x": 8.5, "y": 9.25, "w": 14.125, "h": 17.0},
        {"item_id": 0, "type": "points", "label": "n001", "points": PTS[0]},
        {"item_id": 1, "type": "points", "label": "n002", "points": PTS[1]},
        {"item_id": 2, "type": "bbox", "label": "n002", "x": 1, "y": 2, "w": 3, "h": 4},
        {"item_id": 3, "type": "tag", "label": "n003"},
    ]
    for r in ann:
        if r["type"] == "points":
            xs, ys = r["points"][0::2], r["points"][1::2]
            r.update(x=min(xs), y=min(ys), w=max(xs) - min(xs), h=max(ys) - min(ys))
    ann = pd.DataFrame(ann)
    ann.insert(0, "ann_id", range(len(ann)))
    labels = [{"name": "n001", "extra": {"class_name": "Ann"}}, {"name": "n002", "extra": {"class_name": "Bo"}},
              {"name": "n003"}]
    return aw.Dataset(items=items, annotations=ann, labels=labels).validate()


def _table(ds) -> list[tuple]:
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    rows = [(r.subset, r.name, r.type, r.label, (r.x, r.y, r.w, r.h) if r.type != "tag" else (),
             tuple(r.points) if r.type == "points" else ()) for r in a.itertuples()]
    return sorted(rows, key=repr)


# -- Datumaro's sample ------------------------------------------------------------------------
def test_datumaro_sample_loads(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "vgg_face2_dataset"))
    assert ds.info["format"] == FMT
    assert sorted(zip(ds.items["subset"], ds.items["name"], strict=True)) == [
        ("test", "n000003/0003_01.jpg"), ("train", "n000001/0001_01.jpg"), ("train", "n000002/0001_01.jpg"),
        ("train", "n000002/0002_01.jpg")]
    assert ds.items["media"].notna().all() and (ds.items["width"] > 0).all()
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id").set_index(["name", "type"])
    assert len(a) == 8 and a.index.get_level_values("type").value_counts().to_dict() == {"points": 4, "bbox": 4}
    assert a.loc[("n000001/0001_01.jpg", "bbox"), ["label", "x", "y", "w", "h"]].tolist() == ["n000001", 2, 2, 1, 2]
    pts = a.loc[("n000003/0003_01.jpg", "points")]
    assert pts["label"] == "n000003" and pts["points"] == [0.2, 2.8, 0.8, 2.9, 0.5, 2.6, 0.4, 2.3, 0.6, 2.3]
    assert (pts["x"], pts["y"]) == (0.2, 2.3)
    assert ds.labels["name"].tolist() == ["n000001", "n000002", "n000003"]
    assert ds.labels["extra"].tolist() == [{"class_name": "Karl"}, {"class_name": "Jay"}, {"class_name": "Pol"}]


def test_sample_round_trips_to_the_same_files(datumaro_dir, tmp_path):
    src = datumaro_dir / "vgg_face2_dataset"
    out = _export(aw.load(str(src)), tmp_path)
    for f in ("bb_landmark/loose_bb_train.csv", "bb_landmark/loose_landmark_test.csv", "labels.txt"):
        assert (tmp_path / "out" / f).read_text().strip() == (src / f).read_text().strip(), f
    assert out.loss.entries == []


# -- round trip, loss, detection --------------------------------------------------------------
def test_round_trip_keeps_what_vgg_face2_carries(tmp_path):
    ds = _faces(tmp_path)
    out = _export(ds, tmp_path / "x", save_images=True)
    assert out.loss.entries == []
    root = tmp_path / "x" / "out"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "bb_landmark/loose_bb_train.csv", "bb_landmark/loose_landmark_train.csv", "bb_landmark/loose_landmark_val.csv",
        "labels.txt", "train/n001/0001_01.jpg", "train/n002/0001_01.jpg", "train/n002/0002_01.png",
        "val/n003/0001_01.jpg", "val/no_label/0009_01.jpg"]
    assert (root / "labels.txt").read_text() == "n001 Ann\nn002 Bo\nn003\n"
    back = aw.load(str(out))
    assert back.info["format"] == FMT
    assert _table(back) == _table(ds)
    assert back.items.set_index("name")["height"].to_dict() == ds.items.set_index("name")["height"].to_dict()
    assert back.labels["extra"].tolist()[:2] == [{"class_name": "Ann"}, {"class_name": "Bo"}]


def test_names_get_their_identity_folder(tmp_path):
    items = [{"item_id": 0, "name": "a.jpg"}, {"item_id": 1, "name": "b.jpg"}]
    ann = pd.DataFrame([{"ann_id": 0, "item_id": 0, "type": "bbox", "label": "n7", "x": 1, "y": 1, "w": 2, "h": 2}])
    out = _export(aw.Dataset(items=items, annotations=ann), tmp_path)
    back = aw.load(str(out), format=FMT)
    assert sorted(back.items["name"]) == ["n7/a.jpg", "no_label/b.jpg"]
    assert _export(back, tmp_path / "again").loss.entries == []
    again = aw.load(str(tmp_path / "again" / "out"))
    assert sorted(again.items["name"]) == ["n7/a.jpg", "no_label/b.jpg"]  # stable from then on


def test_names_without_the_label_folder_as_cvat_task_import(tmp_path):
    root = tmp_path / "v" / "bb_landmark"
    root.mkdir(parents=True)
    (root / "loose_bb_train.csv").write_text("NAME_ID,X,Y,W,H\nn1/0001_01,1,2,3,4\nn2/0001_01,1,2,3,4\n"
                                             "n2/0002_01,5,6,7,8\n")
    ds = aw.load(str(tmp_path / "v"), format=FMT, strip_label_folder=True)
    # 0001_01 is an image of both identities: those keep the folder that tells them apart
    assert ds.items["name"].tolist() == ["n1/0001_01.jpg", "n2/0001_01.jpg", "0002_01.jpg"]
    assert ds.annotations["label"].tolist() == ["n1", "n2", "n2"]
    assert aw.load(str(tmp_path / "v"), format=FMT).items["name"].tolist()[2] == "n2/0002_01.jpg"


def test_loss_report_names_what_vgg_face2_cannot_carry(tmp_path):
    ds = _faces(tmp_path)
    extra = pd.DataFrame([
        {"ann_id": 10, "item_id": 0, "type": "bbox", "label": "n001", "x": 0, "y": 0, "w": 1, "h": 1},
        {"ann_id": 11, "item_id": 0, "type": "points", "label": "n001", "points": [1.0, 2.0], "x": 1, "y": 2,
         "w": 0, "h": 0},
        {"ann_id": 12, "item_id": 0, "type": "polygon", "label": "n001", "points": [0, 0, 4, 0, 4, 4]},
        {"ann_id": 13, "item_id": 0, "type": "tag", "label": "n001"},
        {"ann_id": 14, "item_id": 2, "type": "points", "label": "n009", "points": PTS[1], "score": 0.4,
         "attributes": {"q": 1}, "x": 1, "y": 2, "w": 2, "h": 2},
        {"ann_id": 15, "item_id": 3, "type": "tag", "label": "n004"},
        {"ann_id": 16, "item_id": 4, "type": "points", "label": "n004", "points": PTS[0], "outside": True,
         "x": 10, "y": 12, "w": 10, "h": 12},
        {"ann_id": 17, "item_id": 4, "type": "skeleton", "label": "face", "x": 0, "y": 0, "w": 30, "h": 30},
        {"ann_id": 18, "item_id": 4, "type": "points", "label": "n004", "points": PTS[1], "parent_id": 17,
         "x": 1, "y": 2, "w": 2, "h": 2},
    ])
    ds = aw.Dataset(items=ds.items, annotations=pd.concat([ds.annotations, extra], ignore_index=True),
                    labels=ds.labels)
    with pytest.warns(LossWarning):
        out = ds.export(str(tmp_path / "y"), format=FMT, archive=False, name="out")
    lost = {e.reason: e.rows for e in out.loss.entries}
    assert lost == {
        "VGGFace2 landmarks are exactly 5 points": [11],
        "VGGFace2 carries only one box, 5 landmarks and an identity per image": [12, 17],
        "VGGFace2 has no invisible landmarks: outside points not written": [16],
        "VGGFace2 has no skeletons: the point is written as landmarks of its own": [18],
        "VGGFace2 keeps one box and one set of landmarks per image": [10],
        "VGGFace2 keeps one tag (identity) per image": [15],
        "VGGFace2 has no separate tag on an image with landmarks (the landmarks carry its identity)": [13],
        "attributes are not carried by VGGFace2": [14],
        "scores are not carried by VGGFace2": [14],
        "VGGFace2 has one identity per image (the NAME_ID folder): this row's label is written as the image's "
        "first label": [14],
    }


@pytest.mark.parametrize("name, text, line, message", [
    ("loose_bb_train.csv", "NAME_ID,X,Y,W,H\na/1,1,2,3,4\na/2,1,2,x,4\n", 3, "W must be a number, got 'x'"),
    ("loose_bb_train.csv", "NAME_ID,X,Y,W,H\na/1,1,2,3,4\na/2,1,2,3,4,5,6\n", 3, "comma-separated fields"),
    ("loose_bb_train.csv", "NAME,X,Y,W,H\na/1,1,2,3,4\n", 1, "header lacks NAME_ID"),
    ("loose_landmark_train.csv", "NAME_ID,P1X,P1Y,P2X,P2Y,P3X,P3Y,P4X,P4Y,P5X,P5Y\na/1,1,1,1,1,1,1,1,1,1,1\n"
                                 "a/1,1,1,1,1,1,1,1,1,1,1\n", 3, "only one set of landmarks"),
])
def test_malformed_file_names_file_and_line(tmp_path, name, text, line, message):
    root = tmp_path / "v" / "bb_landmark"
    root.mkdir(parents=True)
    (root / name).write_text(text)
    with pytest.raises(aw.FormatError, match=message) as e:
        aw.load(str(tmp_path / "v"), format=FMT)
    assert f"{name}:{line}:" in str(e.value)


def test_wrong_input_is_refused(datumaro_dir):
    with pytest.raises(aw.FormatError, match="no VGGFace2 annotations here"):
        aw.load(str(datumaro_dir / "widerface_dataset"), format=FMT)


# -- Datumaro imports our export --------------------------------------------------------------
DM_READ = textwrap.dedent("""
    import json, sys
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], "vgg_face2")
    names = [c.name for c in ds.categories()[AnnotationType.label]]
    out = []
    for item in ds:
        for a in item.annotations:
            lab = names[a.label] if a.label is not None else None
            geo = {AnnotationType.bbox: lambda: [a.x, a.y, a.w, a.h], AnnotationType.points: lambda: list(a.points),
                   AnnotationType.label: lambda: []}[a.type]()
            out.append([item.subset, item.id, a.type.name, lab, [float(v) for v in geo]])
        if not item.annotations:
            out.append([item.subset, item.id, None, None, []])
    print(json.dumps({"labels": names, "rows": out}))
""")


@pytest.mark.oracle
def test_datumaro_reads_our_export(tmp_path, oracle):
    ds = _faces(tmp_path)
    got = oracle(DM_READ, str(_export(ds, tmp_path / "x", save_images=True)))
    assert got["labels"] == ["n001", "n002", "n003"]
    kinds = {"bbox": "bbox", "points": "points", "tag": "label"}
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    want = [((r.subset, r.name.rsplit(".", 1)[0], kinds[r.type], r.label),
             [r.x, r.y, r.w, r.h] if r.type == "bbox" else list(r.points) if r.type == "points" else [])
            for r in a.itertuples()]
    want.append((("val", "no_label/0009_01", None, None), []))
    theirs = sorted((((s, i, t, lab), g) for s, i, t, lab, g in got["rows"]), key=repr)
    want.sort(key=repr)
    assert [k for k, _ in theirs] == [k for k, _ in want]
    for (_, g1), (_, g2) in zip(theirs, want, strict=True):  # Datumaro keeps 2 decimals (float32)
        assert np.allclose(g1, g2, atol=0.006), (g1, g2)
