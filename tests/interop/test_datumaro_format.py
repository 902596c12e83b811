"""Datumaro's own "datumaro" format, with the real Datumaro (oracle venv) on the other side:
it imports our "Datumaro 1.0" export with the same items, labels, shapes, masks and attributes,
and we read its export of a dataset it builds into the same tables.

Datumaro keeps shape coordinates as float32 rounded to 2 decimals, so its view of our shapes is
compared at that precision; our own reader gets the exact values back (checked too).
"""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core.masks import coco_decode

from . import peers

pytestmark = peers.needs_oracle

READ = textwrap.dedent("""
    import json, sys
    import numpy as np
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], "datumaro")
    names = [c.name for c in ds.categories()[AnnotationType.label]]
    out = {"labels": names, "items": [], "anns": []}
    for item in ds:
        out["items"].append([item.subset, item.id, list(item.media.size) if item.media.has_size else None,
                             item.media.path.rsplit("/", 3)[-3:]])
        for a in item.annotations:
            d = {"image": item.id, "type": a.type.name, "label": names[a.label] if a.label is not None else None,
                 "group": a.group, "attributes": a.attributes, "z_order": getattr(a, "z_order", None)}
            if a.type == AnnotationType.bbox:
                d["box"] = [a.x, a.y, a.w, a.h]
            elif a.type in (AnnotationType.polygon, AnnotationType.polyline, AnnotationType.points):
                d["points"] = [float(v) for v in a.points]
            elif a.type == AnnotationType.mask:
                ys, xs = np.nonzero(a.image)
                d["shape"] = list(a.image.shape)
                d["pixels"] = (ys * a.image.shape[1] + xs).tolist()
            out["anns"].append(d)
    print(json.dumps(out))
""")

WRITE = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from datumaro.components.annotation import Bbox, Ellipse, Label, Mask, Points, Polygon, PolyLine
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image
    root = sys.argv[1]
    m = np.zeros((40, 50), np.uint8)
    m[10:30, 20:45] = 1
    m[15:20, 30:35] = 0
    items = [
        DatasetItem(id="a", subset="train", media=Image.from_numpy(np.zeros((40, 50, 3), np.uint8)), annotations=[
            Bbox(1.25, 2.5, 10.0, 5.75, label=0, id=1, group=3, z_order=2, attributes={"occluded": True, "kind": "suv"}),
            Polygon([2.5, 3.25, 18.75, 4.0, 10.0, 20.5], label=1, id=2, group=3),
            PolyLine([0.0, 1.0, 5.0, 6.0, 9.5, 1.5], label=2, id=3),
            Points([4.0, 5.0, 6.5, 7.0], label=1, id=4),
            Ellipse(30.0, 2.0, 40.0, 8.0, label=0, id=5, attributes={"rotation": 20.0}),
            Mask(m, label=2, id=6, z_order=1),
            Label(1, id=7, attributes={"weather": "rain"}),
        ]),
        DatasetItem(id="b", subset="val", media=Image.from_numpy(np.zeros((30, 20, 3), np.uint8)), annotations=[
            Bbox(0.5, 0.5, 3.0, 4.0, label=1, id=1, attributes={"track_id": 7, "keyframe": True}),
        ]),
        DatasetItem(id="empty", subset="val", media=Image.from_numpy(np.zeros((10, 10, 3), np.uint8))),
    ]
    ds = Dataset.from_iterable(items, categories=["car", "person", "road"])
    path = os.path.join(root, "dm")
    ds.export(path, "datumaro", save_media=True)
    print(json.dumps({"path": path, "mask": np.flatnonzero(m).tolist()}))
""")


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    root = tmp_path_factory.mktemp("dm_format")
    ds = peers.make_dataset(root / "media")
    a = ds.annotations
    a.at[0, "attributes"] = {"kind": "suv"}
    a.loc[0, "group"] = 5
    a.loc[1, "z_order"] = 3
    return ds, peers.export(ds, root / "out", "Datumaro 1.0", save_images=True)


def test_datumaro_reads_our_export(ours, oracle):
    ds, out = ours
    assert not out.loss
    got = oracle(READ, str(out))
    assert got["labels"][:4] == peers.LABELS
    want_items = sorted((s, n.removesuffix(".png"), [h, w]) for s, n, w, h in
                        zip(ds.items["subset"], ds.items["name"], ds.items["width"], ds.items["height"], strict=True))
    assert sorted((s, i, size) for s, i, size, _ in got["items"]) == want_items
    assert all(p[0] == "images" for *_, p in got["items"])  # it found the images we saved
    src = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    src["image"] = src["name"].str.removesuffix(".png")
    theirs = {}
    for d in got["anns"]:
        theirs.setdefault((d["image"], d["type"], d["label"]), []).append(d)
    assert sum(map(len, theirs.values())) == len(src)
    dm_type = {"bbox": "bbox", "polygon": "polygon", "mask": "mask"}
    for r in src.itertuples():
        (d,) = theirs[(r.image, dm_type[r.type], r.label)]
        if r.type == "bbox":
            want = np.asarray([r.x, r.y, r.x + r.w, r.y + r.h], dtype=np.float32).round(2)
            b = d["box"]
            assert np.abs(np.asarray([b[0], b[1], b[0] + b[2], b[1] + b[3]]) - want).max() <= peers.TOL
        elif r.type == "polygon":
            assert np.abs(np.asarray(d["points"]) - np.asarray(r.points, dtype=np.float32).round(2)).max() <= peers.TOL
        else:
            src_mask = coco_decode(r.mask)
            assert d["shape"] == list(src_mask.shape) and d["pixels"] == np.flatnonzero(src_mask).tolist()
        assert d["z_order"] == r.z_order
        assert d["group"] == (0 if pd.isna(r.group) else r.group)
        user = {k: v for k, v in d["attributes"].items() if k not in ("occluded", "rotation")}
        assert user == (r.attributes or {})
    # our reader gets the exact values back
    back = aw.load(str(out))
    peers.assert_same_boxes(peers.our_boxes(back), peers.our_boxes(ds))


def test_we_read_datumaros_export(tmp_path, oracle):
    w = oracle(WRITE, str(tmp_path))
    ds = aw.load(w["path"])
    assert ds.info["format"] == "Datumaro 1.0"  # detected
    it = ds.items.set_index(ds.items["extra"].map(lambda e: e["id"]) if ds.items["extra"].notna().all()
                            else ds.items["name"].str.rsplit(".", n=1).str[0])
    assert sorted(zip(it.index, it["subset"], it["width"], it["height"], strict=True)) == \
        [("a", "train", 50, 40), ("b", "val", 20, 30), ("empty", "val", 10, 10)]
    for media in ds.items["media"]:
        assert media.startswith(w["path"])  # the saved images, found under images/<subset>/
    a = ds.annotations.merge(ds.items[["item_id", "subset"]], on="item_id")
    a = a[a["subset"] == "train"].set_index("type")
    assert sorted(a.index) == ["bbox", "ellipse", "mask", "points", "polygon", "polyline", "tag"]
    box = a.loc["bbox"]
    assert [box[k] for k in "xywh"] == [1.25, 2.5, 10.0, 5.75] and box["label"] == "car"
    assert box["group"] == 3 and box["z_order"] == 2 and box["occluded"] and box["attributes"] == {"kind": "suv"}
    assert a.loc["polygon", "points"] == [2.5, 3.25, 18.75, 4.0, 10.0, 20.5] and a.loc["polygon", "group"] == 3
    assert a.loc["polyline", "points"] == [0.0, 1.0, 5.0, 6.0, 9.5, 1.5] and a.loc["polyline", "label"] == "road"
    assert a.loc["points", "points"] == [4.0, 5.0, 6.5, 7.0]
    ell = a.loc["ellipse"]
    assert [ell[k] for k in ("x", "y", "w", "h", "rotation")] == [30.0, 2.0, 10.0, 6.0, 20.0]
    mask = a.loc["mask"]
    assert np.flatnonzero(coco_decode(mask["mask"])).tolist() == w["mask"] and mask["z_order"] == 1
    assert [mask[k] for k in "xywh"] == [20.0, 10.0, 25.0, 20.0]
    assert a.loc["tag", "label"] == "person" and a.loc["tag", "attributes"] == {"weather": "rain"}
    trk = ds.annotations[ds.annotations["track_id"].notna()]
    assert trk["track_id"].tolist() == [7] and trk["keyframe"].tolist() == [True]
    # and what we write of it, Datumaro reads back as it wrote it
    out = peers.export(ds, tmp_path / "again", "Datumaro 1.0")
    assert not out.loss
    again = oracle(READ, str(out))
    assert sorted(d["type"] for d in again["anns"]) == sorted(
        ["bbox", "polygon", "polyline", "points", "ellipse", "mask", "label", "bbox"])
    assert json.dumps(sorted(again["labels"])) == json.dumps(["car", "person", "road"])
