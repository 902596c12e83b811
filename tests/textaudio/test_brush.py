"""BRUSH_TO_NUMPY / BRUSH_TO_PNG: the reference converter's files, pixel for pixel, and round trips."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils

import annowidgets as aw
from annowidgets.core import brush as ls_brush
from annowidgets.core.dataset import Dataset
from annowidgets.core.errors import FormatError
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry
from tests.conftest import LABEL_STUDIO

needs_fixtures = pytest.mark.skipif(not LABEL_STUDIO.exists(), reason="Label Studio samples not found")

SKY = "task-101-annotation-5001-by-1-mask-Sky-0"
ROAD = "task-102-annotation-5003-by-ann@example.com-mask-Road-0"


def rle(mask: np.ndarray) -> dict:
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(r["size"]), "counts": r["counts"].decode()}


def reference(ls_dir, fmt: str, stem: str) -> np.ndarray:
    folder = ls_dir / "output" / "image_det" / fmt
    if fmt == "BRUSH_TO_NUMPY":
        return np.load(folder / f"{stem}.npy")
    with Image.open(folder / f"{stem}.png") as im:
        assert im.mode == "L"
        return np.asarray(im)


def fixture_dataset(ls_dir, with_rle: bool = False) -> Dataset:
    """The image_det brush regions as the LS reader gives them (masks from the reference's alpha > 0)."""
    sky = reference(ls_dir, "BRUSH_TO_NUMPY", SKY)
    road = reference(ls_dir, "BRUSH_TO_NUMPY", ROAD)
    media = ls_dir / "input" / "media" / "upload" / "1"
    items = {"item_id": [101, 102], "name": ["a1b2c3d4-street.png", "e5f6a7b8-park.png"],
             "media": [str(media / "a1b2c3d4-street.png"), str(media / "e5f6a7b8-park.png")],
             "width": [120, 120], "height": [80, 80]}
    sets = {"set_id": [5001, 5003], "item_id": [101, 102], "annotator": ["1", "ann@example.com"]}
    extra = [{"rle": ls_brush.encode(sky)}, {"rle": ls_brush.encode(road)}] if with_rle else [None, None]
    ann = {"ann_id": [0, 1, 2], "item_id": [101, 102, 101], "set_id": [5001, 5003, 5001],
           "label": ["Sky", "Road", "Car"], "type": ["mask", "mask", "bbox"],
           "from_name": ["mask", "mask", "bbox"], "to_name": "image", "region_id": ["b1", "b2", "r1"],
           "mask": [rle(sky > 0), rle(road > 0), None], "x": [0, 0, 12], "y": [0, 0, 16], "w": [120, 120, 36],
           "h": [20, 20, 40], "extra": extra + [None]}
    return Dataset(items=items, sets=sets, annotations=ann, labels={"name": ["Car", "Road", "Sky"]})


def export(ds: Dataset, tmp_path, fmt: str, **kw) -> dict[str, bytes]:
    path = ds.export(str(tmp_path), format=fmt, name="out.zip", **kw)
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}, path


def load_bytes(name: str, data: bytes) -> np.ndarray:
    if name.endswith(".npy"):
        return np.load(io.BytesIO(data))
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


@needs_fixtures
@pytest.mark.parametrize("fmt,ext", [("BRUSH_TO_NUMPY", "npy"), ("BRUSH_TO_PNG", "png")])
def test_matches_reference_files(ls_dir, tmp_path, fmt, ext):
    ds = fixture_dataset(ls_dir)
    with pytest.warns(LossWarning, match="not a mask region"):
        files, path = export(ds, tmp_path, fmt)
    assert path.loss.entries[0].rows == [2]  # the box, reported rather than dropped
    region_files = sorted(n for n in files if not n.startswith("combined/"))
    assert region_files == [f"{SKY}.{ext}", f"{ROAD}.{ext}"]
    sky = load_bytes(f"{SKY}.{ext}", files[f"{SKY}.{ext}"])
    assert sky.dtype == np.uint8 and sky.shape == (80, 120)
    np.testing.assert_array_equal(sky, reference(ls_dir, fmt, SKY))
    road, ref = load_bytes(f"{ROAD}.{ext}", files[f"{ROAD}.{ext}"]), reference(ls_dir, fmt, ROAD)
    # without the brush alpha the one anti-aliased pixel (128 in the reference) is plain foreground
    np.testing.assert_array_equal(road > 0, ref > 0)
    np.testing.assert_array_equal(road[ref != 128], ref[ref != 128])
    if ext == "png":
        with Image.open(io.BytesIO(files[f"{SKY}.png"])) as im:
            assert im.mode == "L"


@needs_fixtures
def test_brush_alpha_kept_from_the_rle(ls_dir, tmp_path):
    """With extra['rle'] (Label Studio's brush RLE) the soft edge survives, pixel for pixel."""
    refs = {"sky-rle": reference(ls_dir, "BRUSH_TO_NUMPY", SKY), "road-rle": reference(ls_dir, "BRUSH_TO_NUMPY", ROAD)}
    ds = fixture_dataset(ls_dir, with_rle=True)
    ds.annotations = ds.annotations[ds.annotations["type"] == "mask"]
    files, _ = export(ds, tmp_path, "BRUSH_TO_NUMPY")
    np.testing.assert_array_equal(load_bytes("x.npy", files[f"{ROAD}.npy"]), refs["road-rle"])
    np.testing.assert_array_equal(load_bytes("x.npy", files[f"{SKY}.npy"]), refs["sky-rle"])


@needs_fixtures
def test_combined_class_index_mask(ls_dir, tmp_path):
    ds = fixture_dataset(ls_dir)
    ds.annotations = ds.annotations[ds.annotations["type"] == "mask"]
    files, _ = export(ds, tmp_path, "BRUSH_TO_PNG")
    classes = orjson.loads(files["combined/classes.json"])
    assert classes == {"0": "background", "1": "Road", "2": "Sky"}  # the dataset's label order
    street = load_bytes("a.png", files["combined/101-a1b2c3d4-street.png"])
    np.testing.assert_array_equal(street, np.where(reference(ls_dir, "BRUSH_TO_NUMPY", SKY) > 0, 2, 0))
    np.testing.assert_array_equal(load_bytes("a.npy", files["combined/101-a1b2c3d4-street.npy"]), street)


def test_combined_later_z_order_wins(tmp_path):
    a = np.zeros((4, 5), bool)
    a[:, :3] = True
    b = np.zeros((4, 5), bool)
    b[:, 2:] = True
    ds = Dataset(items={"item_id": [0], "name": ["x.jpg"]},
                 annotations={"ann_id": [0, 1], "item_id": [0, 0], "label": ["top", "under"], "type": "mask",
                              "mask": [rle(a), rle(b)], "z_order": [2, 1]})
    files, _ = export(ds, tmp_path, "BRUSH_TO_NUMPY")
    combined = load_bytes("c.npy", files["combined/0-x.npy"])
    assert combined[:, 2].tolist() == [1, 1, 1, 1]  # "top" (index 1) drawn last
    assert combined[0].tolist() == [1, 1, 1, 2, 2]


def test_names_never_collide_and_are_sanitised(tmp_path):
    m = np.zeros((3, 3), bool)
    m[1, 1] = True
    ds = Dataset(items={"item_id": [7]},
                 sets={"set_id": [9], "item_id": [7], "annotator": ["Zoë Lee <zoe+x@ex.com>"]},
                 annotations={"ann_id": [0, 1, 2, 3, 4], "item_id": 7, "set_id": 9, "type": "mask",
                              "label": ["a/b", "a/b", "c", "d", ""], "from_name": "tag/x",
                              "region_id": ["r1", "r2", "r3", "r3", "r4"], "mask": [rle(m)] * 5})
    files, _ = export(ds, tmp_path, "BRUSH_TO_NUMPY")
    names = sorted(n for n in files if not n.startswith("combined/"))
    assert names == ["task-7-annotation-9-by-ZoëLeezoex@ex.com-tag-x-a-b-0.npy",  # str.isalnum, as LS filters
                     "task-7-annotation-9-by-ZoëLeezoex@ex.com-tag-x-a-b-1.npy",
                     "task-7-annotation-9-by-ZoëLeezoex@ex.com-tag-x-c-d-0.npy",
                     "task-7-annotation-9-by-ZoëLeezoex@ex.com-tag-x-no_label-0.npy"]  # LS's name for no label
    back = aw.load(str(tmp_path / "out.zip"), format="BRUSH_TO_NUMPY").annotations
    assert sorted(back["label"]) == ["", "a/b", "a/b", "c", "d"]  # names restored via combined/classes.json
    assert set(back["from_name"]) == {"tag-x"}
    assert set(back["annotator"]) == {"ZoëLeezoex@ex.com"}


@needs_fixtures
@pytest.mark.parametrize("fmt", ["BRUSH_TO_NUMPY", "BRUSH_TO_PNG"])
def test_round_trip(ls_dir, tmp_path, fmt):
    ds = fixture_dataset(ls_dir)
    ds.annotations = ds.annotations[ds.annotations["type"] == "mask"]
    _, path = export(ds, tmp_path, fmt)
    back = aw.load(path)  # detected
    assert back.info["format"] == fmt
    a = back.annotations.sort_values("item_id").reset_index(drop=True)
    assert a["item_id"].tolist() == [101, 102]
    assert a["set_id"].tolist() == [5001, 5003]
    assert a["annotator"].tolist() == ["1", "ann@example.com"]
    assert a["label"].tolist() == ["Sky", "Road"]
    assert a["from_name"].tolist() == ["mask", "mask"]
    assert a["mask"].tolist() == ds.annotations.sort_values("item_id")["mask"].tolist()
    sky = reference(ls_dir, "BRUSH_TO_NUMPY", SKY) > 0
    ys, xs = np.nonzero(sky)
    assert (a.loc[0, ["x", "y", "w", "h"]].tolist()
            == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1])
    back.validate()


@needs_fixtures
def test_reads_reference_output_and_splits_dashed_labels(ls_dir, tmp_path):
    back = registry.read(str(ls_dir / "output" / "image_det" / "BRUSH_TO_PNG"), format="BRUSH_TO_PNG")
    road = back.annotations[back.annotations["label"] == "Road"].iloc[0]
    assert (road["item_id"], road["set_id"], road["annotator"]) == (102, 5003, "ann@example.com")
    assert road["extra"]["alpha_values"] == [128, 255]  # the soft edge is noted, the mask is alpha > 0
    assert mask_utils.area({"size": road["mask"]["size"], "counts": road["mask"]["counts"].encode()}) == 2000
    m = np.ones((2, 2), bool)
    ds = Dataset(items={"item_id": [1]}, labels={"name": ["traffic-light", "car"]},
                 annotations={"ann_id": [0, 1], "item_id": 1, "set_id": 3, "type": "mask", "region_id": "r",
                              "label": ["traffic-light", "car"], "from_name": "brush-tool", "mask": [rle(m)] * 2})
    _, path = export(ds, tmp_path, "BRUSH_TO_PNG")
    back = aw.load(path, format="BRUSH_TO_PNG")
    assert back.annotations["label"].tolist() == ["traffic-light", "car"]  # via combined/classes.json
    assert back.annotations["from_name"].tolist() == ["brush-tool", "brush-tool"]
    assert back.annotations["region_id"].nunique() == 1


def test_combined_only_input(tmp_path):
    folder = tmp_path / "in" / "combined"
    folder.mkdir(parents=True)
    arr = np.array([[0, 1, 1], [2, 2, 0]], np.uint8)
    Image.fromarray(arr, mode="L").save(folder / "img.png")
    (folder / "classes.json").write_bytes(orjson.dumps({"0": "background", "1": "cat", "2": "dog"}))
    ds = aw.load(str(tmp_path / "in"), format="BRUSH_TO_PNG")
    assert ds.annotations["label"].tolist() == ["cat", "dog"]
    assert ds.items["name"].tolist() == ["img"]
    (folder / "classes.json").write_bytes(orjson.dumps({"0": "background", "1": "cat"}))
    with pytest.raises(FormatError, match="class index 2"):
        aw.load(str(tmp_path / "in"), format="BRUSH_TO_PNG")


def test_bad_input_is_a_format_error(tmp_path):
    (tmp_path / "task-1-annotation-2-by-x-mask-A-0.npy").write_bytes(b"not numpy")
    with pytest.raises(FormatError, match="task-1-annotation-2"):
        aw.load(str(tmp_path), format="BRUSH_TO_NUMPY")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    with pytest.raises(FormatError, match="no brush mask files"):
        aw.load(str(empty), format="BRUSH_TO_NUMPY")


def test_spec_declares_shapes():
    t = aw.formats().set_index("name")
    for name in ("BRUSH_TO_NUMPY", "BRUSH_TO_PNG"):
        assert t.loc[name, "shapes"] == ["mask"] and t.loc[name, "media"] == ["image"]
        assert t.loc[name, "import"] and t.loc[name, "export"]
    assert registry.get("brush_to_png").name == "BRUSH_TO_PNG"


def test_empty_dataset_writes_nothing_but_does_not_fail(tmp_path):
    files, _ = export(Dataset(items=pd.DataFrame({"item_id": [1]})), tmp_path, "BRUSH_TO_PNG")
    assert files == {}


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 3), st.data())
def test_random_masks_round_trip(tmp_path_factory, h, w, n, data):
    """Any masks (holes, several blobs, empty) come back bit for bit, with labels and sets."""
    masks = [np.array(data.draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))).reshape(h, w)
             for _ in range(n)]
    labels = [data.draw(st.sampled_from(["cat", "dog-x", "a/b"])) for _ in range(n)]
    ds = Dataset(items={"item_id": [4]}, sets={"set_id": [8], "item_id": [4], "annotator": ["u@x.org"]},
                 labels={"name": ["cat", "dog-x", "a/b"]},
                 annotations={"ann_id": range(n), "item_id": 4, "set_id": 8, "type": "mask", "label": labels,
                              "from_name": "brush", "mask": [rle(m) for m in masks]})
    tmp = tmp_path_factory.mktemp("brush")
    for fmt in ("BRUSH_TO_NUMPY", "BRUSH_TO_PNG"):
        _, path = export(ds, tmp, fmt)
        back = aw.load(path, format=fmt).annotations
        got = sorted((lb, m["counts"]) for lb, m in zip(back["label"], back["mask"], strict=True))
        want = sorted((lb, rle(m)["counts"]) for lb, m in zip(labels, masks, strict=True))
        assert got == want
        assert set(back["set_id"]) == {8} and set(back["annotator"]) == {"u@x.org"}


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    from annowidgets.core.errors import UnsafeInputError

    Image.fromarray(np.zeros((64, 64), np.uint8), mode="L").save(tmp_path / "task-1-annotation-2-by-x-mask-A-0.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 4096 px is then over twice the limit
    with pytest.raises(UnsafeInputError, match="too large"):
        aw.load(str(tmp_path), format="BRUSH_TO_PNG")
