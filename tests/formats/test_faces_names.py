"""The face/person formats name images by id (file name without extension, Datumaro's item id):
two items that would share one are kept apart and reported, never written into one id."""
from __future__ import annotations

import posixpath
import warnings

import pytest

import annowidgets as aw
from annowidgets.core.loss import LossWarning

ITEMS = [{"item_id": 0, "name": "a.jpg", "subset": "train"}, {"item_id": 1, "name": "a.png", "subset": "train"},
         {"item_id": 2, "name": "A.jpg", "subset": "val"}]


def _export(ds, path, fmt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(path), format=fmt, archive=False, name="out")


@pytest.mark.parametrize("fmt", ["WiderFace 1.0", "VGGFace2 1.0", "LFW 1.0"])
def test_items_sharing_an_id_are_kept_apart(tmp_path, fmt):
    ann = [{"ann_id": i, "item_id": i, "type": "bbox" if fmt != "LFW 1.0" else "tag", "label": "n1",
            "x": 1, "y": 1, "w": 2, "h": 2} for i in range(3)]
    out = _export(aw.Dataset(items=ITEMS, annotations=ann), tmp_path, fmt)
    assert [(e.table, e.rows) for e in out.loss.entries] == [("items", [1])]
    assert "written as <id>__<item_id>" in out.loss.entries[0].reason
    back = aw.load(str(out), format=fmt)
    stems = sorted(zip(back.items["subset"], back.items["name"].map(lambda n: posixpath.splitext(n)[0].split("/")[-1]),
                       strict=True))
    assert stems == [("train", "a"), ("train", "a__1"), ("val", "A")]  # other subsets are apart already
    assert len(back.annotations) == 3


def test_market1501_does_not_write_one_file_twice(tmp_path):
    items = [{"item_id": 0, "name": "x/p.jpg"}, {"item_id": 1, "name": "y/p.jpg"}, {"item_id": 2, "name": "q.jpg"}]
    out = _export(aw.Dataset(items=items), tmp_path, "Market-1501 1.0")
    assert [(e.table, e.rows) for e in out.loss.entries] == [("items", [1])]
    assert (tmp_path / "out" / "images_default.txt").read_text() == "bounding_box_default/p.jpg\n" \
                                                                   "bounding_box_default/q.jpg\n"
