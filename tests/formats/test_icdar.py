"""ICDAR Recognition / Localization / Segmentation 1.0: Datumaro's samples, round trips, the loss
report, detection, bad input, and Datumaro reading our exports."""
from __future__ import annotations

import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode, coco_encode

REC, LOC, SEG = "ICDAR Recognition 1.0", "ICDAR Localization 1.0", "ICDAR Segmentation 1.0"


def _export(ds, path, fmt, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format=fmt, archive=False, name="out", **kw)


def _items(tmp_path, sizes=((20, 10), (16, 12), (8, 8))):
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    items = []
    for i, (w, h) in enumerate(sizes):
        name = f"img_{i}.png"
        Image.new("RGB", (w, h), (10, 20, 30)).save(media / name)
        items.append(dict(item_id=i, name=name, subset="train" if i < 2 else "test", media=str(media / name),
                          width=w, height=h))
    return items


def _ds(items, rows):
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", range(len(ann)))
    return aw.Dataset(items=items, annotations=ann, labels=[{"name": "icdar"}]).validate()


# -- samples -----------------------------------------------------------------------------------
@pytest.mark.fixtures
def test_samples_load_as_cvat_reads_them(datumaro_dir):
    rec = aw.load(str(datumaro_dir / "icdar_dataset/word_recognition"))
    assert rec.info["format"] == REC
    assert rec.items[["name", "subset"]].values.tolist() == [["word_1.png", "train"], ["word_2.png", "train"]]
    assert [(t, d) for t, d in zip(rec.annotations["type"], rec.annotations["attributes"], strict=True)] == \
        [("tag", {"text": "PROPER"}), ("tag", {"text": "Canon"})]
    assert set(rec.annotations["label"]) == {"icdar"}

    loc = aw.load(str(datumaro_dir / "icdar_dataset/text_localization"))
    assert loc.info["format"] == LOC
    a = loc.annotations.merge(loc.items[["item_id", "name"]], on="item_id")
    poly = a[a["name"] == "img_1.png"].iloc[0]
    assert poly["type"] == "polygon" and poly["points"] == [0, 0, 3, 1, 4, 6, 1, 7]
    assert poly["attributes"] == {"text": "FOOD"}
    boxes = a[a["name"] == "img_2.png"]
    assert boxes[["x", "y", "w", "h"]].values.tolist() == [[0, 0, 2, 3], [3, 3, 2, 3]]
    assert [d["text"] for d in boxes["attributes"]] == ["RED", "LION"]

    seg = aw.load(str(datumaro_dir / "icdar_dataset/text_segmentation"))
    assert seg.info["format"] == SEG
    m = seg.annotations
    assert [d["text"] for d in m["attributes"]] == ["F", "T", "h"]
    assert m["attributes"].iloc[1] == {"index": 1, "color": "82 174 214", "text": "T", "center": "1 3"}
    # "F" is a word alone (no group); "T" and "h" are one word
    assert m["group"].isna().tolist() == [True, False, False] and m["group"].iloc[1] == m["group"].iloc[2]
    assert [np.flatnonzero(coco_decode(r)).tolist() for r in m["mask"]] == [[1, 2], [3, 8], [9]]


@pytest.mark.fixtures
def test_mixed_icdar_root_is_refused_but_reads_with_a_format(datumaro_dir):
    root = str(datumaro_dir / "icdar_dataset")
    with pytest.raises(aw.UnknownFormatError, match="no reader recognises"):
        aw.load(root)
    assert len(aw.load(root, format=LOC).annotations) == 3


# -- round trips ---------------------------------------------------------------------------------
def test_recognition_round_trip(tmp_path):
    items = _items(tmp_path)
    ds = _ds(items, [dict(item_id=0, type="tag", label="icdar", attributes={"text": 'say "hi"'}),
                     dict(item_id=1, type="tag", label="icdar", attributes={"text": "Canon"})])
    out = _export(ds, tmp_path / "rec", REC, save_images=True)
    assert (tmp_path / "rec/out/train/gt.txt").read_text() == \
        'img_0.png, "say \\"hi\\""\nimg_1.png, "Canon"\n'
    assert (tmp_path / "rec/out/test/gt.txt").read_text() == "img_2.png, \n"
    back = aw.load(str(out))
    assert back.info["format"] == REC and len(back.items) == 3
    assert back.annotations["attributes"].tolist() == ds.annotations["attributes"].tolist()
    assert sorted(back.items[["name", "subset", "width"]].values.tolist()) == \
        ds.items[["name", "subset", "width"]].values.tolist()
    assert not out.loss


def test_localization_round_trip(tmp_path):
    items = _items(tmp_path)
    ds = _ds(items, [
        dict(item_id=0, type="bbox", label="icdar", x=1.5, y=2.0, w=4.0, h=3.25, attributes={"text": "RED"}),
        dict(item_id=0, type="polygon", label="icdar", points=[0.0, 0.0, 3.0, 1.0, 4.0, 6.0, 1.0, 7.0, 0.5, 3.0],
             x=0.0, y=0.0, w=4.0, h=7.0, attributes={"text": "a, b"}),
        dict(item_id=1, type="bbox", label="icdar", x=0.0, y=0.0, w=2.0, h=2.0, attributes={}),
    ])
    out = _export(ds, tmp_path / "loc", LOC)
    assert (tmp_path / "loc/out/train/gt_img_0.txt").read_text() == \
        '1.5 2 5.5 5.25 "RED"\n0,0,3,1,4,6,1,7,0.5,3,"a, b"\n'
    assert (tmp_path / "loc/out/test/gt_img_2.txt").read_text() == ""
    back = aw.load(str(out))
    assert back.info["format"] == LOC and len(back.items) == 3
    cols = ["name", "type", "label", "x", "y", "w", "h", "points", "attributes"]
    got = back.annotations.merge(back.items[["item_id", "name"]], on="item_id")
    want = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    assert got[cols].values.tolist() == want[cols].values.tolist()
    assert not out.loss


def test_segmentation_round_trip(tmp_path):
    items = _items(tmp_path)
    m1 = np.zeros((10, 20), bool)
    m1[2:5, 1:4] = True
    m2 = np.zeros((10, 20), bool)
    m2[2:6, 6:8] = True
    ds = _ds(items, [
        dict(item_id=0, type="mask", label="icdar", mask=coco_encode(m1), x=1.0, y=2.0, w=3.0, h=3.0, group=7,
             attributes={"index": 0, "color": "10 20 30", "text": "O", "center": "3 2"}),
        dict(item_id=0, type="mask", label="icdar", mask=coco_encode(m2), x=6.0, y=2.0, w=2.0, h=4.0, group=7,
             attributes={"index": 1, "color": "200 0 0", "text": "K", "center": "4 7"}),
        dict(item_id=1, type="bbox", label="icdar", x=2.0, y=2.0, w=3.0, h=4.0, attributes={"text": " "}),
    ])
    out = _export(ds, tmp_path / "seg", SEG)
    assert (tmp_path / "seg/out/train/img_0_GT.txt").read_text() == \
        '10 20 30 3 2 1 2 4 5 "O"\n200 0 0 4 7 6 2 8 6 "K"\n'
    back = aw.load(str(out))
    assert back.info["format"] == SEG and len(back.items) == 3
    b = back.annotations
    assert [coco_decode(r).sum() for r in b["mask"]] == [9, 8, 12]
    assert (coco_decode(b["mask"].iloc[0]) == m1).all() and (coco_decode(b["mask"].iloc[1]) == m2).all()
    assert b["attributes"].iloc[:2].tolist() == ds.annotations["attributes"].iloc[:2].tolist()
    assert b["attributes"].iloc[2]["text"] == " "  # the '#' line: a space character
    assert b["group"].iloc[0] == b["group"].iloc[1] and pd.isna(b["group"].iloc[2])
    assert [e.rows for e in out.loss.entries] == [[2]]  # the box, painted: comes back as a mask


# -- loss report ---------------------------------------------------------------------------------
def test_loss_reports_name_what_each_cannot_carry(tmp_path):
    items = _items(tmp_path)
    rows = [
        dict(item_id=0, type="tag", label="icdar", attributes={"text": "one"}),
        dict(item_id=0, type="tag", label="icdar", attributes={"text": "two"}),
        dict(item_id=0, type="bbox", label="car", x=1.0, y=1.0, w=4.0, h=4.0, attributes={"text": "x", "font": "serif"}),
        dict(item_id=1, type="points", label="icdar", points=[1.0, 1.0], x=1.0, y=1.0, w=0.0, h=0.0),
        dict(item_id=1, type="bbox", label="icdar", x=1.0, y=1.0, w=4.0, h=4.0, rotation=20.0),
    ]
    ds = _ds(items, rows)
    rec = {r: e.reason for e in _export(ds, tmp_path / "r", REC).loss.entries for r in e.rows}
    assert "one word per image" in rec[1] and "only words" in rec[3]
    loc = {r: e.reason for e in _export(ds, tmp_path / "l", LOC).loss.entries for r in e.rows}
    assert "not tag" in loc[0] and "not points" in loc[3] and "rotated box" in loc[4]
    assert any("read back as 'icdar'" in e.reason and 2 in e.rows for e in _export(ds, tmp_path / "l2", LOC).loss.entries)
    seg = _export(ds, tmp_path / "s", SEG).loss
    assert any("only index, color, text and center" in e.reason and e.rows == [2] for e in seg.entries)


# -- bad input -------------------------------------------------------------------------------------
def test_malformed_lines_name_file_and_line(tmp_path):
    d = tmp_path / "rec" / "train"
    d.mkdir(parents=True)
    (d / "gt.txt").write_text('a.png, "ok"\nb.png, unquoted\n')
    with pytest.raises(aw.FormatError, match=r"gt\.txt:2: expected '<image file>, \"<word>\"'"):
        aw.load(str(tmp_path / "rec"), format=REC)
    d = tmp_path / "loc" / "train"
    d.mkdir(parents=True)
    (d / "gt_a.txt").write_text('0 0 2 3 "RED"\n0 0 2 "X"\n')
    with pytest.raises(aw.FormatError, match=r"gt_a\.txt:2: 3 coordinates"):
        aw.load(str(tmp_path / "loc"))
    d = tmp_path / "seg" / "train"
    d.mkdir(parents=True)
    (d / "a_GT.txt").write_text('1 2 3 0 0 0 0 1 1 "a"\n1 2 3 0 0 0 0 1 "b"\n')
    Image.new("RGB", (2, 2), (255, 255, 255)).save(d / "a_GT.bmp")
    with pytest.raises(aw.FormatError, match=r"a_GT\.txt:2: expected 10 fields"):
        aw.load(str(tmp_path / "seg"))
    (d / "a_GT.txt").write_text('1 2 3 0 0 0 0 1 1 "a"\n')
    Image.new("RGB", (2, 2), (9, 9, 9)).save(d / "a_GT.bmp")
    with pytest.raises(aw.FormatError, match=r"a_GT\.bmp: colour\(s\) \[\(9, 9, 9\)\] are not listed"):
        aw.load(str(tmp_path / "seg"))


# -- Datumaro reads ours ---------------------------------------------------------------------------
DM = textwrap.dedent("""
    import json, sys
    import numpy as np
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    out = {}
    for key, path, fmt in json.loads(sys.argv[1]):
        ds = Dataset.import_from(path, fmt)
        rows = []
        for item in ds:
            for a in item.annotations:
                r = {"item": item.id, "subset": item.subset, "type": a.type.name, "attributes": a.attributes}
                if a.type == AnnotationType.caption:
                    r["caption"] = a.caption
                elif a.type in (AnnotationType.bbox, AnnotationType.polygon):
                    r["points"] = [float(v) for v in a.points]
                elif a.type == AnnotationType.mask:
                    r["pixels"] = np.flatnonzero(a.image).tolist()
                    r["group"] = a.group
                rows.append(r)
        out[key] = rows
    print(json.dumps(out))
""")


@pytest.mark.oracle
def test_datumaro_reads_our_icdar_exports(tmp_path, oracle):
    import json

    items = _items(tmp_path)
    m1 = np.zeros((10, 20), bool)
    m1[2:5, 1:4] = True
    rec = _ds(items, [dict(item_id=0, type="tag", label="icdar", attributes={"text": "PROPER"})])
    loc = _ds(items, [dict(item_id=0, type="bbox", label="icdar", x=1.5, y=2.0, w=4.0, h=3.25,
                           attributes={"text": "RED"}),
                      dict(item_id=1, type="polygon", label="icdar", points=[0.0, 0.0, 3.0, 1.0, 4.0, 6.0, 1.0, 7.0],
                           x=0.0, y=0.0, w=4.0, h=7.0, attributes={"text": "FOOD"})])
    seg = _ds(items, [dict(item_id=0, type="mask", label="icdar", mask=coco_encode(m1), x=1.0, y=2.0, w=3.0,
                           h=3.0, attributes={"text": "O"}),
                      dict(item_id=0, type="bbox", label="icdar", x=6.0, y=2.0, w=2.0, h=4.0,
                           attributes={"text": "K"})])
    paths = {f: _export(d, tmp_path / f[:9].replace(" ", ""), f) for f, d in ((REC, rec), (LOC, loc), (SEG, seg))}
    jobs = [["rec", paths[REC], "icdar_word_recognition"], ["loc", paths[LOC], "icdar_text_localization"],
            ["seg", paths[SEG], "icdar_text_segmentation"]]
    got = oracle(DM, json.dumps(jobs))
    assert [(r["item"], r["caption"]) for r in got["rec"]] == [("img_0", "PROPER")]
    assert sorted((r["item"], r["type"], r["points"], r["attributes"]["text"]) for r in got["loc"]) == [
        ("img_0", "bbox", [1.5, 2.0, 5.5, 5.25], "RED"), ("img_1", "polygon", [0, 0, 3, 1, 4, 6, 1, 7], "FOOD")]
    chars = sorted((r["attributes"]["text"], r["pixels"]) for r in got["seg"])
    box = np.zeros((10, 20), bool)
    box[2:6, 6:8] = True
    assert chars == [("K", np.flatnonzero(box).tolist()), ("O", np.flatnonzero(m1).tolist())]


def test_localization_pads_a_triangle_to_the_four_points_icdar_needs(tmp_path):
    ds = _ds(_items(tmp_path), [dict(item_id=0, type="polygon", label="icdar", points=[1.0, 1.0, 9.0, 1.0, 5.0, 7.0],
                                     x=1.0, y=1.0, w=8.0, h=6.0)])
    out = _export(ds, tmp_path / "tri", LOC)
    assert (tmp_path / "tri/out/train/gt_img_0.txt").read_text() == "1,1,9,1,5,7,5,7\n"
    assert [e.rows for e in out.loss.entries] == [[0]] and "last point repeated" in out.loss.entries[0].reason
    assert aw.load(str(out)).annotations["points"].iloc[0] == [1, 1, 9, 1, 5, 7, 5, 7]
