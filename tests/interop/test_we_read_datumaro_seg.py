"""Datumaro (in the oracle venv) exports ImageNet (both layouts), CamVid and Cityscapes of a small
dataset it builds; our readers, with the format detected, find the same items, tags and pixels."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import annowidgets as aw
from annowidgets.core.masks import coco_decode

from . import peers

pytestmark = peers.needs_oracle

WRITE = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from datumaro.components.annotation import Label, Mask
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image
    root = sys.argv[1]
    labels = ["car", "road", "sky"]
    H, W = 6, 8
    def mask(y0, y1, x0, x1):
        m = np.zeros((H, W), np.uint8)
        m[y0:y1, x0:x1] = 1
        return m
    specs = [("train", "img_0", [(0, mask(0, 2, 0, 3)), (1, mask(3, 6, 0, 8))]),
             ("train", "img_1", [(2, mask(0, 3, 0, 8))]),
             ("val", "img_2", [])]
    tags = {"img_0": [0], "img_1": [1, 2], "img_2": []}
    seg, cls = [], []
    for subset, ident, masks in specs:
        img = Image.from_numpy(np.full((H, W, 3), 50, np.uint8))
        seg.append(DatasetItem(id=ident, subset=subset, media=img,
                               annotations=[Mask(m, label=l, id=k + 1) for k, (l, m) in enumerate(masks)]))
        cls.append(DatasetItem(id=ident, subset=subset, media=img, annotations=[Label(l) for l in tags[ident]]))
    out = {}
    for fmt, items in (("camvid", seg), ("cityscapes", seg), ("imagenet_txt", cls), ("imagenet", cls)):
        path = os.path.join(root, fmt)
        Dataset.from_iterable(items, categories=labels).export(path, fmt, save_media=True)
        out[fmt] = path
    truth = {ident: {labels[l]: np.flatnonzero(m).tolist() for l, m in masks} for _, ident, masks in specs}
    print(json.dumps({"paths": out, "masks": truth, "tags": {k: [labels[i] for i in v] for k, v in tags.items()}}))
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, oracle):
    return oracle(WRITE, str(tmp_path_factory.mktemp("dm_seg")))


def _pixels(ds: aw.Dataset) -> dict:
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    out: dict = {}
    for r in a.itertuples():
        stem = r.name.rsplit(".", 1)[0]
        out.setdefault(stem, {})[r.label] = np.flatnonzero(coco_decode(r.mask)).tolist()
    return out


@pytest.mark.parametrize("fmt,name", [("camvid", "CamVid 1.0"), ("cityscapes", "Cityscapes 1.0")])
def test_we_read_datumaro_masks(exported, fmt, name):
    ds = aw.load(exported["paths"][fmt])
    assert ds.info["format"] == name
    assert sorted(zip(ds.items["subset"], ds.items["name"].str.rsplit(".", n=1).str[0], strict=True)) == [
        ("train", "img_0"), ("train", "img_1"), ("val", "img_2")]
    want = {k: v for k, v in exported["masks"].items() if v}
    assert _pixels(ds) == want
    assert ds.items["media"].map(lambda m: m.endswith(".jpg") or m.endswith(".png")).all()


@pytest.mark.parametrize("fmt", ["imagenet_txt", "imagenet"])
def test_we_read_datumaro_tags(exported, fmt):
    ds = aw.load(exported["paths"][fmt])
    assert ds.info["format"] == "ImageNet 1.0"
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    got: dict = {stem: [] for stem in ds.items["name"].str.rsplit(".", n=1).str[0]}
    for r in a.itertuples():
        got[r.name.rsplit(".", 1)[0]].append(r.label)
    assert {k: sorted(v) for k, v in got.items()} == exported["tags"]
    assert json.dumps(sorted(ds.labels["name"])) == json.dumps(["car", "road", "sky"])
