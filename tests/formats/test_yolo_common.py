"""Shared YOLO parsing, keys and codecs: numbers, errors that name file and line, properties."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annowidgets.core import geometry
from annowidgets.core.errors import FormatError
from annowidgets.core.io import Source
from annowidgets.formats import yolo_codecs as codecs
from annowidgets.formats.yolo_common import item_keys, item_names, parse


def _src(tmp_path, files: dict[str, str]) -> Source:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return Source(str(tmp_path))


def test_parse_mixed_lines_keeps_line_numbers(tmp_path):
    src = _src(tmp_path, {"a.txt": "0 0.5 0.5 0.2 0.2\n\n1 0.1 0.2 0.3 0.4 0.5 0.6 0.7\n", "b.txt": "",
                          "c.txt": "  \n2 1 1 1 1 7"})
    lines = parse(src, ["a.txt", "b.txt", "c.txt"])
    assert lines.n.tolist() == [5, 8, 6]
    assert lines.line.tolist() == [1, 3, 2]
    assert [lines.rels[f] for f in lines.file] == ["a.txt", "a.txt", "c.txt"]
    assert lines.fixed(lines.n == 6, 6).tolist() == [[2, 1, 1, 1, 1, 7]]
    assert lines.ragged(lines.n == 8) == [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]]


def test_bad_number_names_file_and_line(tmp_path):
    src = _src(tmp_path, {"l/x.txt": "0 0.5 0.5 0.2 0.2\n0 0.5 abc 0.2 0.2\n"})
    with pytest.raises(FormatError) as e:
        parse(src, ["l/x.txt"])
    assert e.value.line == 2 and e.value.file.endswith("l/x.txt") and "'abc'" in str(e.value)


def test_nan_is_refused(tmp_path):
    src = _src(tmp_path, {"x.txt": "0 nan 0.5 0.2 0.2\n"})
    with pytest.raises(FormatError, match="finite"):
        parse(src, ["x.txt"])


def test_class_ids_out_of_range_and_fractional(tmp_path):
    src = _src(tmp_path, {"x.txt": "0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2 0.2\n"})
    lines = parse(src, ["x.txt"])
    with pytest.raises(FormatError) as e:
        lines.class_ids(3)
    assert e.value.line == 2 and "class id 3 out of range" in str(e.value)
    src = _src(tmp_path / "f", {"x.txt": "0.5 0.5 0.5 0.2 0.2\n"})
    with pytest.raises(FormatError, match="class id 0.5"):
        parse(src, ["x.txt"]).class_ids(3)


def test_keys_never_collide():
    items = pd.DataFrame({"item_id": [0, 1, 2, 3, 4], "name": ["a/img.jpg", "b/img.jpg", "", "../x.png", ""],
                          "media": [None, None, "http://h/p/img.jpg?x=1", None, None]})
    names = item_names(items)
    assert names.tolist() == ["a/img.jpg", "b/img.jpg", "img.jpg", "x.png", "item_4"]
    keys = item_keys(items, names)
    assert keys.tolist() == ["a/img", "b/img", "img", "x", "item_4"]
    dup = pd.DataFrame({"item_id": [7, 8], "name": ["/data/1/img.jpg", "/data/2/img.jpg"], "media": [None, None]})
    assert item_keys(dup, item_names(dup)).tolist() == ["img", "img__8"]


def _rows(x, y, w, h, rot, W, H):
    a = pd.DataFrame({"ann_id": np.arange(len(x)), "x": x, "y": y, "w": w, "h": h, "rotation": rot,
                      "type": "bbox"})
    return codecs.Rows(a, np.zeros(len(x), dtype=np.int64), np.asarray(W, float), np.asarray(H, float),
                       np.zeros(len(x), dtype=np.int64))


class _Ctx:
    format = "test"

    class report:  # noqa: N801 - a stand-in with the LossReport method the codec calls
        entries = []

        @classmethod
        def add(cls, table, rows, reason):
            cls.entries.append(reason)


def _lines_of(tmp_path, text):
    return parse(_src(tmp_path, {"l.txt": text}), ["l.txt"])


pos = st.floats(1, 4000)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(pos, pos, pos, pos, st.floats(0, 359.9), st.integers(16, 5000), st.integers(16, 5000)),
                min_size=1, max_size=8))
def test_obb_round_trip_in_pixels(tmp_path_factory, boxes):
    x, y, w, h, rot, W, H = (np.array(c, dtype=float) for c in zip(*boxes, strict=True))
    lines = _lines_of(tmp_path_factory.mktemp("obb"), "\n".join(codecs.encode_obb(_rows(x, y, w, h, rot, W, H))))
    back = codecs.decode_obb(lines, np.ones(len(x), bool), W, H)
    scale = np.maximum(W, H)
    np.testing.assert_allclose(back["w"], w, rtol=1e-6, atol=1e-6 * scale.max())
    np.testing.assert_allclose(back["h"], h, rtol=1e-6, atol=1e-6 * scale.max())
    np.testing.assert_allclose(back["x"], x, rtol=1e-6, atol=1e-6 * scale.max())
    np.testing.assert_allclose(back["y"], y, rtol=1e-6, atol=1e-6 * scale.max())
    d = np.abs((back["rotation"] - rot + 180) % 360 - 180)
    assert (d < 1e-4 * (1 + 1000 / np.minimum(w, h))).all()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(pos, pos, pos, pos, st.integers(16, 5000), st.integers(16, 5000)), min_size=1, max_size=8))
def test_box_round_trip(tmp_path_factory, boxes):
    x, y, w, h, W, H = (np.array(c, dtype=float) for c in zip(*boxes, strict=True))
    text = "\n".join(codecs.encode_boxes(_rows(x, y, w, h, np.zeros(len(x)), W, H), _Ctx))
    back = codecs.decode_boxes(_lines_of(tmp_path_factory.mktemp("box"), text), np.ones(len(x), bool), W, H)
    for k, v in (("x", x), ("y", y), ("w", w), ("h", h)):
        np.testing.assert_allclose(back[k], v, rtol=1e-6, atol=1e-6 * max(W.max(), H.max()))


def test_rotated_box_becomes_enclosing_box_in_pixels():
    _Ctx.report.entries = []
    r = _rows([10.0], [20.0], [40.0], [10.0], [30.0], [200.0], [100.0])
    (line,) = codecs.encode_boxes(r, _Ctx)
    ex, ey, ew, eh = geometry.enclosing_box(10, 20, 40, 10, 30)
    want = [(ex + ew / 2) / 200, (ey + eh / 2) / 100, ew / 200, eh / 100]
    np.testing.assert_allclose([float(v) for v in line.split()[1:]], np.ravel(want), rtol=1e-9)
    assert any("rotation approximated" in e for e in _Ctx.report.entries)


@pytest.mark.parametrize("fmt", ["YOLO 1.1", "Ultralytics YOLO Detection 1.0", "Ultralytics YOLO Oriented Bounding "
                                 "Boxes 1.0", "Ultralytics YOLO Segmentation 1.0", "Ultralytics YOLO Pose 1.0",
                                 "Ultralytics YOLO Classification 1.0", "YOLO", "YOLO_OBB"])
def test_items_without_annotations_round_trip_through_a_zip(tmp_path, fmt):
    import annowidgets as aw
    from annowidgets.core.dataset import Dataset

    from ._yolo_tables import export

    ds = Dataset(items=pd.DataFrame({"item_id": [0, 1], "name": ["x.jpg", "d/y.jpg"], "width": [10, 20],
                                     "height": [10, 5]}))
    back = aw.load(export(ds, tmp_path, fmt, archive=True, name="e.zip"), format=fmt)
    assert sorted(back.items["name"]) == ["d/y.jpg", "x.jpg"] and len(back.annotations) == 0
