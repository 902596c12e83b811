"""Pascal VOC 1.1: Datumaro's samples, round trips through our tables, one write per file,
collisions, rotated boxes and hostile input."""
from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core import raster
from annowidgets.core.io import Sink
from annowidgets.core.loss import LossWarning
from annowidgets.core.masks import coco_decode
from annowidgets.formats import registry


def _export(ds, tmp_path, fmt="PASCAL VOC 1.1", **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(tmp_path), format=fmt, archive=False, name="out", **options)


# -- Datumaro's samples -----------------------------------------------------------------------
def test_voc_dataset1_matches_datumaros_expectations(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "voc_dataset" / "voc_dataset1"))
    assert ds.info["format"] == "PASCAL VOC 1.1"
    items = ds.items.set_index("name")
    assert items.loc["2007_000001.jpg", "subset"] == "train" and items.loc["2007_000002.jpg", "subset"] == "test"
    assert (items["width"] == 20).all() and (items["height"] == 10).all()  # 000002 sized from its JPEG
    a = ds.annotations
    first = items.loc["2007_000001.jpg", "item_id"]
    # classification: labels with an odd VOC index are marked 1 (ignored = 21 included)
    tags = sorted(a.loc[a["type"] == "tag", "label"])
    assert tags == sorted(["aeroplane", "bird", "bottle", "car", "chair", "diningtable", "horse", "person",
                           "sheep", "train", "ignored"])
    boxes = a[a["type"] == "bbox"].set_index("label")
    assert boxes.loc["cat", ["x", "y", "w", "h"]].tolist() == [1, 2, 2, 2]
    assert boxes.loc["cat", "attributes"] == {"truncated": True, "difficult": False, "pose": "Unspecified"}
    person = boxes.loc["person"]
    assert person[["x", "y", "w", "h"]].tolist() == [4, 5, 2, 2]
    assert person["attributes"]["phoning"] is True and person["attributes"]["jumping"] is False
    head = boxes.loc["head"]
    assert head[["x", "y", "w", "h"]].tolist() == [5.5, 6, 2, 2]
    assert head["parent_id"] == a.loc[a["label"].eq("person") & a["type"].eq("bbox"), "ann_id"].iloc[0]
    (mask,) = a[a["type"] == "mask"].itertuples()
    assert mask.label == "bicycle" and mask.item_id == first
    assert coco_decode(mask.mask).all() and mask.mask["size"] == [10, 20]
    assert not ds.loss


def test_voc_dataset2_labelmap_subsets_and_empty_files(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "voc_dataset" / "voc_dataset2"))
    assert len(ds.items) == 5 and set(ds.items["subset"]) == {"trainval"}
    assert list(ds.labels["name"][:3]) == ["background", "aeroplane", "bicycle"]
    assert ds.labels.set_index("name").loc["ignored", "color"] == "#e0e0c0"
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    assert dict(zip(a["name"], a["label"], strict=True)) == {
        "a.jpg": "background", "b.jpg": "aeroplane", "c.jpg": "bicycle", "d.jpg": "bird"}
    assert a.set_index("name").loc["a.jpg", "occluded"] and not a.set_index("name").loc["c.jpg", "occluded"]
    assert a.set_index("name").loc["c.jpg", ["x", "y", "w", "h"]].tolist() == [3, 1, 8, 5]


def test_voc_dataset3_comment_in_subset_list(datumaro_dir):
    ds = aw.load(str(datumaro_dir / "voc_dataset" / "voc_dataset3"), format="voc")
    assert ds.items["name"].tolist() == ["2007_000001.jpg"] and ds.items["subset"].tolist() == ["train"]
    assert ds.items["media"].iloc[0].endswith("JPEGImages/2007_000001.jpg")
    assert len(ds.annotations) == 1


def test_detection(datumaro_dir):
    from annowidgets.core.io import Source

    with Source(str(datumaro_dir / "voc_dataset" / "voc_dataset1")) as src:
        assert registry.detect(src).name == "PASCAL VOC 1.1"


def test_sample_round_trips_through_our_writer(datumaro_dir, tmp_path):
    ds = aw.load(str(datumaro_dir / "voc_dataset" / "voc_dataset1"))
    out = _export(ds, tmp_path)
    assert not out.loss
    back = aw.load(out)
    cols = ["label", "type", "x", "y", "w", "h", "attributes", "occluded"]
    key = ["type", "label"]
    a = ds.annotations[cols].sort_values(key).reset_index(drop=True)
    b = back.annotations[cols].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert back.annotations.loc[back.annotations["label"] == "head", "parent_id"].notna().all()
    m1 = ds.annotations.loc[ds.annotations["type"] == "mask", "mask"].iloc[0]
    m2 = back.annotations.loc[back.annotations["type"] == "mask", "mask"].iloc[0]
    assert np.array_equal(coco_decode(m1), coco_decode(m2))
    assert sorted(back.items["subset"]) == ["test", "train"]


# -- our own tables ---------------------------------------------------------------------------
def _dataset():
    items = {"item_id": [10, 11, 12, 13], "name": ["a/img.jpg", "b/img.jpg", "img.jpg", "img.png"],
             "subset": ["train", "train", "val", "val"], "width": [100] * 4, "height": [80] * 4}
    ann = {
        "ann_id": [0, 1, 2, 3, 4, 5, 6],
        "item_id": [10, 10, 11, 12, 13, 13, 12],
        "label": ["car", "person & co", "car", "car", "person & co", "car", "car"],
        "type": ["bbox", "bbox", "bbox", "bbox", "bbox", "tag", "tag"],
        "x": [1.5, 10, 20, 30.25, 0, np.nan, np.nan], "y": [2, 10, 20, 30, 0, np.nan, np.nan],
        "w": [10, 20, 5, 6, 99, np.nan, np.nan], "h": [12, 20, 5, 7, 79, np.nan, np.nan],
        "occluded": [True, False, False, False, False, False, False],
        "attributes": [{"color": "red <dark>", "difficult": True}, {"truncated": True, "pose": "Left"},
                       None, {"parked": False}, None, None, None],
        "track_id": [None, None, 7, None, None, None, None],
        "keyframe": [False, False, True, False, False, False, False],
        "score": [np.nan, np.nan, np.nan, 0.75, np.nan, np.nan, np.nan],
        "source": ["annotation", "annotation", "annotation", "prediction", "annotation", "annotation",
                   "annotation"],
    }
    labels = {"name": ["car", "person & co"], "color": ["#ff0000", "#00ff00"]}
    return aw.Dataset(items=items, annotations=ann, labels=labels)


def test_round_trip_of_our_tables(tmp_path):
    ds = _dataset()
    out = _export(ds, tmp_path)
    assert [(e.rows, "collides" in e.reason) for e in out.loss.entries] == [([13], True)]
    back = aw.load(out)
    # same basename in two folders: kept apart; same stem with another extension: renamed? no -
    # img.jpg and img.png differ only by extension, so the second is written as img__2
    names = sorted(back.items["name"])
    assert names == ["a/img.jpg", "b/img.jpg", "img.jpg", "img__2.png"]
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    b = back.annotations.merge(back.items[["item_id", "name", "subset"]], on="item_id")
    b["name"] = b["name"].replace({"img__2.png": "img.png"})
    cols = ["name", "subset", "label", "type", "x", "y", "w", "h", "occluded", "track_id", "keyframe", "score",
            "source"]
    key = ["name", "type", "label", "x"]
    pd.testing.assert_frame_equal(a[cols].sort_values(key).reset_index(drop=True),
                                  b[cols].sort_values(key).reset_index(drop=True))
    attrs = dict(zip(b["x"], b["attributes"], strict=True))
    assert attrs[1.5] == {"color": "red <dark>", "difficult": True, "truncated": False}
    assert attrs[20.0] == {"truncated": False, "difficult": False}
    assert attrs[10.0] == {"truncated": True, "pose": "Left", "difficult": False}
    assert attrs[30.25] == {"parked": False, "truncated": False, "difficult": False}


def test_collision_is_reported(tmp_path):
    out = _export(_dataset(), tmp_path)
    with pytest.warns(LossWarning, match="collides"):
        _dataset().export(str(tmp_path), format="voc", archive=False, name="again")
    assert (tmp_path / "out" / "Annotations" / "a" / "img.xml").exists()
    assert (tmp_path / "out" / "Annotations" / "img__2.xml").exists()
    assert out


def test_every_annotation_file_is_opened_once(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    n_items, n_boxes = 50, 1000
    item_of = rng.integers(0, n_items, n_boxes)
    ds = aw.Dataset(
        items={"item_id": np.arange(n_items), "name": [f"im{i}.jpg" for i in range(n_items)],
               "width": 640, "height": 480},
        annotations={"ann_id": np.arange(n_boxes), "item_id": item_of, "label": rng.choice(["a", "b"], n_boxes),
                     "x": rng.uniform(0, 500, n_boxes), "y": rng.uniform(0, 400, n_boxes), "w": 20.0, "h": 30.0})
    opened = Counter()
    real_open = Sink.open

    def counting_open(self, rel, compress=True):
        opened[rel] += 1
        return real_open(self, rel, compress)

    monkeypatch.setattr(Sink, "open", counting_open)
    out = _export(ds, tmp_path)
    xml = {k: v for k, v in opened.items() if k.startswith("Annotations/")}
    assert len(xml) == n_items and set(xml.values()) == {1}
    assert max(opened.values()) == 1
    back = aw.load(out)
    assert len(back.annotations) == n_boxes
    assert back.annotations.groupby("item_id").size().sum() == n_boxes


def test_rotated_box_enclosing_by_default_and_exact_on_read(tmp_path):
    ds = aw.Dataset(items={"item_id": [0], "name": ["r.jpg"], "width": 100, "height": 100},
                    annotations={"ann_id": [0], "item_id": [0], "label": ["car"], "x": [20.0], "y": [30.0],
                                 "w": [40.0], "h": [10.0], "rotation": [30.0]})
    with pytest.warns(LossWarning, match="enclosing box"):
        out = ds.export(str(tmp_path), format="voc", archive=False, name="rot")
    text = (tmp_path / "rot" / "Annotations" / "r.xml").read_text()
    from annowidgets.core import geometry

    ex, ey, ew, eh = (float(v) for v in geometry.enclosing_box(20, 30, 40, 10, 30))
    assert f"<xmin>{ex!r}</xmin>" in text and "aw_rotated_box" in text and "<name>rotation</name>" not in text
    back = aw.load(out).annotations.iloc[0]
    assert [back.x, back.y, back.w, back.h, back.rotation] == [20, 30, 40, 10, 30]
    # CVAT's layout: the unrotated box and a rotation attribute, read back the same way
    out2 = _export(ds, tmp_path / "cvat", rotated="cvat")
    text2 = (tmp_path / "cvat" / "out" / "Annotations" / "r.xml").read_text()
    assert "<xmin>20</xmin>" in text2 and "<name>rotation</name>" in text2
    back2 = aw.load(out2).annotations.iloc[0]
    assert [back2.x, back2.y, back2.w, back2.h, back2.rotation] == [20, 30, 40, 10, 30]


def test_shapes_voc_cannot_carry_are_reported_or_rasterised(tmp_path):
    ds = aw.Dataset(items={"item_id": [0], "name": ["p.jpg"], "width": 20, "height": 20},
                    annotations={"ann_id": [0, 1, 2], "item_id": [0, 0, 0], "label": ["road", "road", "road"],
                                 "type": ["polygon", "polyline", "ellipse"],
                                 "points": [[0, 0, 10, 0, 10, 10], [0, 0, 5, 5], None],
                                 "x": [0, 0, 12], "y": [0, 0, 12], "w": [10, 5, 6], "h": [10, 5, 4]})
    with pytest.warns(LossWarning) as rec:
        out = ds.export(str(tmp_path), format="voc", archive=False, name="a")
    msg = str(rec[0].message)
    assert "polygon" in msg and "polyline" in msg and "ellipse" in msg
    assert sorted(id_ for e in out.loss.entries for id_ in e.rows) == [0, 1, 2]
    with pytest.warns(LossWarning, match="polyline"):
        out = ds.export(str(tmp_path), format="voc", archive=False, name="b", segmentation=True)
    assert [id_ for e in out.loss.entries for id_ in e.rows] == [1]
    back = aw.load(out)
    assert sorted(back.annotations["type"]) == ["mask", "mask"]
    areas = sorted(coco_decode(m).sum() for m in back.annotations["mask"])
    assert areas == sorted([raster.polygon_mask([0, 0, 10, 0, 10, 10], 20, 20).sum(),
                            raster.ellipse_mask(15, 14, 3, 2, 0, 20, 20).sum()])


def test_zip_archive_round_trip(tmp_path):
    ds = _dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path / "v.zip"), format="PASCAL VOC 1.1")
    back = aw.load(out)
    assert back.info["format"] == "PASCAL VOC 1.1" and len(back.annotations) == len(ds.annotations)


# -- hostile and broken input -------------------------------------------------------------------
def _tree(tmp_path, xml: str):
    d = tmp_path / "in"
    (d / "Annotations").mkdir(parents=True)
    (d / "Annotations" / "x.xml").write_text(xml)
    return str(d)


def test_entities_and_doctype_are_refused(tmp_path):
    xml = ('<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n'
           "<annotation><object><name>&b;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax>"
           "</bndbox></object></annotation>")
    with pytest.raises(aw.UnsafeInputError, match="DOCTYPE"):
        aw.load(_tree(tmp_path, xml), format="voc")


def test_external_entity_is_not_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xml = (f'<!DOCTYPE annotation [<!ENTITY x SYSTEM "file://{secret}">]>'
           "<annotation><filename>&x;</filename></annotation>")
    with pytest.raises(aw.UnsafeInputError) as err:
        aw.load(_tree(tmp_path, xml), format="voc")
    assert "TOPSECRET" not in str(err.value)


@pytest.mark.parametrize("xml, element, text", [
    ("<annotation><object><name>a</name></object>", None, "not well-formed"),
    ("<annotation><object><name>a</name></object></annotation>", "object", "missing <bndbox>"),
    ("<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>x</ymin><xmax>2</xmax><ymax>2</ymax>"
     "</bndbox></object></annotation>", "bndbox", "expected a number"),
    ("<annotation><object><bndbox/></object></annotation>", "object", "missing <name>"),
    ("<notvoc/>", "notvoc", "expected the root element"),
])
def test_errors_name_file_and_element(tmp_path, xml, element, text):
    with pytest.raises(aw.FormatError) as err:
        aw.load(_tree(tmp_path, xml), format="voc")
    assert "x.xml" in str(err.value) and text in str(err.value)
    if element:
        assert err.value.element == element


def test_xml_escaped_names_and_missing_optional_fields(tmp_path):
    xml = ("<annotation><filename>a &amp; b.jpg</filename><object><name>R&amp;D &lt;1&gt;</name>"
           "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>")
    ds = aw.load(_tree(tmp_path, xml), format="voc")
    assert ds.items["name"].tolist() == ["a & b.jpg"] and ds.items["width"].isna().all()
    row = ds.annotations.iloc[0]
    assert row.label == "R&D <1>" and row.attributes == {"truncated": False, "difficult": False}
    assert not row.occluded
    assert "R&D <1>" in set(ds.labels["name"])


_BOX = "<object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>"
_LABELME = ("<annotation><filename>x.png</filename><folder>s</folder><object><name>window</name><polygon>"
            "<pt><x>1</x><y>1</y></pt><pt><x>5</x><y>1</y></pt><pt><x>5</x><y>4</y></pt></polygon></object>"
            "<imagesize><nrows>7</nrows><ncols>9</ncols></imagesize></annotation>")


def test_detection_needs_voc_structure_not_any_annotation_xml(tmp_path, datumaro_dir):
    assert aw.load(_tree(tmp_path / "box", f"<annotation>{_BOX}</annotation>")).info["format"] == "PASCAL VOC 1.1"
    plain = "<annotation><filename>x.jpg</filename><size><width>9</width><height>7</height></size></annotation>"
    no_layout = _tree(tmp_path / "plain", plain)  # an <annotation> without boxes or VOC folders proves nothing
    with pytest.raises(aw.UnknownFormatError, match="no reader recognises"):
        aw.load(no_layout)
    (tmp_path / "plain/in/ImageSets/Main").mkdir(parents=True)
    (tmp_path / "plain/in/ImageSets/Main/train.txt").write_text("x\n")
    assert aw.load(no_layout).info["format"] == "PASCAL VOC 1.1"
    # LabelMe 3.0: Annotations/*.xml with an <annotation> root, polygons and <imagesize>: not VOC
    for d, images in (("lm", "Images"), ("lm_ls", "images"), ("lm_voc", "JPEGImages")):
        path = _tree(tmp_path / d, _LABELME)
        (tmp_path / d / "in" / images).mkdir()
        (tmp_path / d / "in" / images / "x.png").write_bytes(b"")
        assert aw.load(path).info["format"] == "LabelMe 3.0"
    assert aw.load(str(datumaro_dir / "labelme_dataset")).info["format"] == "LabelMe 3.0"
