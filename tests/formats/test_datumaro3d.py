"""CVAT's "Datumaro 3D 1.0": point clouds with related images and 3D cuboids, through our tables
and through the real Datumaro (oracle venv) both ways; detection against the 2D format; bad input."""
from __future__ import annotations

import json
import shutil
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annowidgets as aw
from annowidgets.core.errors import FormatError
from annowidgets.core.io import Source
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry

FMT = "Datumaro 3D 1.0"
PCD = "# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 2\nHEIGHT 1\n" \
      "VIEWPOINT 0 0 0 1 0 0 0\nPOINTS 2\nDATA ascii\n0 0 0\n1 2 3\n"
# (subset, cloud, number of related images)
CLOUDS = [("train", "000001.pcd", 2), ("train", "000002.pcd", 1), ("train", "000003.pcd", 0), ("val", "000004.pcd", 1)]


def _media(folder: Path) -> tuple[list[str], list[list[str]]]:
    folder.mkdir(parents=True, exist_ok=True)
    clouds, related = [], []
    for k, (_, name, n_rel) in enumerate(CLOUDS):
        (folder / name).write_text(PCD)
        clouds.append(str(folder / name))
        rel = []
        for i in range(n_rel):
            p = folder / f"{name[:-4]}_cam{i}.png"
            Image.new("RGB", (6 + i, 4), (20 * k, 40 * i, 90)).save(p)
            rel.append(str(p))
        related.append(rel)
    return clouds, related


def make_dataset(folder: Path) -> aw.Dataset:
    """Four clouds in two subsets with related images; cuboids with attributes, a two-frame track, a tag.

    Numbers have at most 2 decimals: Datumaro rounds every cuboid number to 2 (``Cuboid3d``'s
    validator), so finer values could not be compared with it to 1e-6."""
    clouds, related = _media(folder)
    items = pd.DataFrame({"item_id": range(4), "name": [c[1] for c in CLOUDS], "subset": [c[0] for c in CLOUDS],
                          "frame": range(4), "media": clouds, "kind": "point_cloud",
                          "extra": [{"related_images": r} if r else None for r in related]})
    cub = [
        dict(item_id=0, label="car", points=[1.5, 2.25, 0.25, 0.0, 0.0, 0.3, 4.0, 1.8, 1.5],
             attributes={"color": "red", "parked": True}, occluded=True),
        dict(item_id=0, label="pedestrian", points=[-3.0, 0.5, 1.0, 0.1, -0.2, 1.2, 0.6, 0.6, 1.8], group=1),
        dict(item_id=1, label="car", points=[1.75, 2.5, 0.25, 0.0, 0.0, 0.35, 4.0, 1.8, 1.5], track_id=7,
             keyframe=True, attributes={"color": "red"}),
        dict(item_id=2, label="car", points=[2.0, 2.75, 0.25, 0.0, 0.0, 0.4, 4.0, 1.8, 1.5], track_id=7,
             keyframe=False, attributes={"color": "red"}),
        dict(item_id=3, label="pedestrian", points=[0.0, 0.0, 0.0, 0.0, 0.0, -3.1, 0.5, 0.5, 1.75]),
    ]
    for c in cub:
        c["type"] = "cuboid_3d"
    ann = pd.DataFrame([*cub, dict(item_id=3, label="night", type="tag")])
    ann.insert(0, "ann_id", range(len(ann)))
    labels = [{"name": "car"}, {"name": "pedestrian"}, {"name": "night"}]
    return aw.Dataset(items=items, annotations=ann, labels=labels).validate()


def _export(ds, folder: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return ds.export(str(folder), format=FMT, archive=False, name="out", **kw)


def _cuboids(ds: aw.Dataset) -> pd.DataFrame:
    a = ds.annotations.merge(ds.items[["item_id", "name", "subset"]], on="item_id")
    a = a[a["type"] == "cuboid_3d"].sort_values(["subset", "name", "label"]).reset_index(drop=True)
    return a


# -- through our tables --------------------------------------------------------------------------
def test_round_trip_keeps_clouds_related_images_cuboids_and_tracks(tmp_path):
    ds = make_dataset(tmp_path / "media")
    ds.annotations.at[1, "points"] = [-3.0, 1 / 3, 1e-9, 0.1, -0.2, np.pi / 7, 0.6, 0.6, 1.8]  # exact in our files
    out = _export(ds, tmp_path, save_images=True)
    assert not out.loss, out.loss.summary()
    back = aw.load(str(out))
    assert back.info["format"] == FMT
    cols = ["item_id", "label", "type", "attributes", "group", "track_id", "keyframe", "occluded", "outside"]
    pd.testing.assert_frame_equal(back.annotations[cols], ds.annotations[cols], check_dtype=False)
    got = np.array(back.annotations["points"].iloc[:5].tolist())
    assert np.array_equal(got, np.array(ds.annotations["points"].iloc[:5].tolist()))
    assert back.annotations[["x", "y", "w", "h"]].isna().all().all()
    assert back.items[["name", "subset", "frame", "kind"]].equals(ds.items[["name", "subset", "frame", "kind"]])
    # the copies sit where CVAT's Datumaro puts them, byte for byte
    for media, src, sub in zip(back.items["media"], ds.items["media"], back.items["subset"], strict=True):
        assert Path(media).read_bytes() == Path(src).read_bytes()
        assert Path(media).parent == Path(str(out)) / "point_clouds" / sub
    for sub, name, ex, ex0 in zip(back.items["subset"], back.items["name"], back.items["extra"], ds.items["extra"],
                                  strict=True):
        want = (ex0 or {}).get("related_images", [])
        got = (ex or {}).get("related_images", [])
        assert [Path(p).read_bytes() for p in got] == [Path(p).read_bytes() for p in want]
        assert all(Path(p).parent == Path(str(out)) / "related_images" / sub / name[:-4] for p in got)


def test_written_json_is_cvats_layout(tmp_path):
    out = _export(make_dataset(tmp_path / "media"), tmp_path, save_images=True)
    doc = json.loads((Path(out) / "annotations" / "train.json").read_text())
    assert doc["media_type"] == 6 and "dm_format_version" not in doc
    it = doc["items"][0]
    assert it["id"] == "000001" and it["point_cloud"] == {"path": "000001.pcd"} and it["attr"] == {"frame": 0}
    assert it["related_images"] == [{"path": "image_0.png"}, {"path": "image_1.png"}]
    car = it["annotations"][0]
    assert car["type"] == "cuboid_3d" and "z_order" not in car and "points" not in car
    assert (car["position"], car["rotation"], car["scale"]) == ([1.5, 2.25, 0.25], [0.0, 0.0, 0.3], [4.0, 1.8, 1.5])
    assert car["attributes"] == {"color": "red", "parked": True, "occluded": True}
    track = doc["items"][1]["annotations"][0]["attributes"]
    assert track["track_id"] == 7 and track["keyframe"] is True
    assert (Path(out) / "point_clouds/val/000004.pcd").is_file()
    assert (Path(out) / "related_images/train/000001/image_1.png").is_file()


def test_what_a_point_cloud_export_cannot_carry_is_reported(tmp_path):
    ds = make_dataset(tmp_path / "media")
    a = pd.concat([ds.annotations, pd.DataFrame([
        dict(ann_id=10, item_id=0, type="bbox", label="car", x=1.0, y=2.0, w=3.0, h=4.0),
        dict(ann_id=11, item_id=1, type="cuboid_3d", label="car", points=[1.0] * 8),
        dict(ann_id=12, item_id=2, type="cuboid_3d", label="car", points=[1.0, 2, 3, 0, 0, 0, 1, 1, 1],
             track_id=9, outside=True)])], ignore_index=True)
    items = pd.concat([ds.items, pd.DataFrame([dict(item_id=4, name="photo.jpg", kind="image")])], ignore_index=True)
    ds2 = aw.Dataset(items=items, annotations=a, labels=ds.labels).validate()
    out = _export(ds2, tmp_path)
    rows = {(e.table, r): e.reason for e in out.loss.entries for r in e.rows}
    assert "2D shapes" in rows[("annotations", 10)]
    assert "9 finite numbers" in rows[("annotations", 11)]
    assert "outside" in rows[("annotations", 12)]
    assert "not a point cloud" in rows[("items", 4)]
    back = aw.load(str(out), format=FMT)
    assert len(back.annotations) == len(ds.annotations) and len(back.items) == 5


def test_2d_format_reports_cuboids_and_clouds(tmp_path):
    ds = make_dataset(tmp_path / "media")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path), format="Datumaro 1.0", archive=False, name="flat")
    reasons = {e.reason for e in out.loss.entries}
    assert any("Datumaro 3D 1.0" in r and "3D cuboids" in r for r in reasons)
    assert any("point clouds belong" in r for r in reasons)


# -- detection and names ------------------------------------------------------------------------
def test_detection_tells_3d_from_2d(tmp_path):
    ds = make_dataset(tmp_path / "media")
    assert aw.load(str(_export(ds, tmp_path / "a"))).info["format"] == FMT  # annotations only
    assert aw.load(str(_export(ds, tmp_path / "b", save_images=True))).info["format"] == FMT
    # a 3D export whose JSON says nothing 3D still has its point_clouds/ folder
    only_tags = aw.Dataset(items=ds.items, annotations=ds.annotations[ds.annotations["type"] == "tag"],
                           labels=ds.labels)
    out = Path(_export(only_tags, tmp_path / "c", save_images=True))
    for p in (out / "annotations").glob("*.json"):
        doc = json.loads(p.read_text())
        doc.pop("media_type")
        for it in doc["items"]:
            it.pop("point_cloud", None)
        p.write_text(json.dumps(doc))
    assert aw.load(str(out)).info["format"] == FMT
    # and a 2D export stays 2D
    items = pd.DataFrame({"item_id": [0], "name": ["a.png"], "width": [4], "height": [3]})
    flat = aw.Dataset(items=items, annotations=pd.DataFrame([dict(ann_id=0, item_id=0, type="bbox", label="car",
                                                                 x=0.0, y=0.0, w=1.0, h=1.0)]))
    d2 = flat.export(str(tmp_path / "d"), format="Datumaro 1.0", archive=False, name="out")
    assert aw.load(str(d2)).info["format"] == "Datumaro 1.0"
    with Source(str(d2)) as src:
        assert registry.get("datumaro_3d").detect(src) == 0.0


def test_cvat_default_archive_name_loads(tmp_path):
    ds = make_dataset(tmp_path / "media")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path / "exp"), format=FMT, save_images=True)
    name = Path(out).name
    assert name.startswith("task_0_dataset_") and name.endswith("_datumaro 3d 1.0.zip")
    assert registry.format_from_filename(name).name == FMT
    renamed = tmp_path / "job_5_annotations_2026_01_02_03_04_05_datumaro 3d 1.0.zip"
    shutil.copy(out, renamed)
    back = aw.load(str(renamed))
    assert back.info["format"] == FMT and len(_cuboids(back)) == 5


# -- bad input ----------------------------------------------------------------------------------
def _doc(item: dict) -> dict:
    return {"info": {}, "categories": {"label": {"labels": [{"name": "car", "parent": ""}]}}, "items": [item]}


CUBE = {"id": 1, "type": "cuboid_3d", "label_id": 0, "position": [0, 0, 0], "rotation": [0, 0, 0],
        "scale": [1, 1, 1]}


@pytest.mark.parametrize("item, msg", [
    ({"id": "a", "point_cloud": {"path": "a.pcd"}, "annotations": [{**CUBE, "scale": [1, 1]}]},
     r"annotation id 1: cuboid_3d 'scale' must be 3 numbers, got \[1, 1\]"),
    ({"id": "a", "point_cloud": {"path": "a.pcd"}, "annotations": [{**CUBE, "position": None}]},
     "cuboid_3d 'position' must be 3 numbers"),
    ({"id": "a", "point_cloud": {"path": "a.pcd"}, "annotations": [{**CUBE, "rotation": [0, "x", 0]}]},
     "cuboid_3d 'rotation' must be 3 numbers"),
    ({"id": "a", "point_cloud": {}, "annotations": []}, "item 'a': 'point_cloud' must be an object with a non-empty"),
    ({"id": "a", "point_cloud": {"path": "a.pcd"}, "related_images": [{"size": [2, 3]}], "annotations": []},
     "item 'a': 'related_images' must be a list of objects with a 'path'"),
    ({"id": "a", "image": {"path": "a.png"}, "point_cloud": {"path": "a.pcd"}, "annotations": []},
     "both 'image' and 'point_cloud'"),
])
def test_bad_input_names_file_and_element(tmp_path, item, msg):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.json").write_text(json.dumps(_doc(item)))
    with pytest.raises(FormatError, match=msg) as info:
        aw.load(str(tmp_path), format=FMT)
    assert info.value.file.endswith("annotations/train.json") and info.value.element


# -- the real Datumaro ---------------------------------------------------------------------------
DM_WRITE = textwrap.dedent("""
    import json, sys
    import datumaro as dm
    from datumaro.components.media import Image, PointCloud
    spec = json.loads(sys.argv[2])
    items = []
    for it in spec["items"]:
        anns = [dm.Cuboid3d(a["position"], a["rotation"], a["scale"], label=a["label"], id=a["id"],
                            attributes=a["attributes"], group=a["group"]) for a in it["cuboids"]]
        anns += [dm.Label(t, id=99) for t in it["tags"]]
        media = PointCloud.from_file(it["cloud"], extra_images=[Image.from_file(p) for p in it["related"]])
        items.append(dm.DatasetItem(id=it["id"], subset=it["subset"], media=media, annotations=anns,
                                    attributes={"frame": it["frame"]}))
    ds = dm.Dataset.from_iterable(items, categories=spec["labels"], media_type=PointCloud)
    ds.export(sys.argv[1], "datumaro", save_media=True)
    print(json.dumps({"ok": True}))
""")

DM_READ_3D = textwrap.dedent("""
    import json, sys
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], "datumaro")
    names = [c.name for c in ds.categories()[AnnotationType.label]]
    out = {"items": [], "cuboids": [], "tags": [], "media_type": ds.media_type().__name__}
    for item in ds:
        out["items"].append({"subset": item.subset, "id": item.id, "cloud": item.media.path,
                             "related": [i.path for i in item.media.extra_images], "attr": item.attributes})
        for a in item.annotations:
            if a.type == AnnotationType.cuboid_3d:
                out["cuboids"].append({"subset": item.subset, "id": item.id, "label": names[a.label],
                                       "points": [*a.position, *a.rotation, *a.scale], "attributes": a.attributes,
                                       "group": a.group})
            elif a.type == AnnotationType.label:
                out["tags"].append([item.subset, item.id, names[a.label]])
    print(json.dumps(out))
""")


def _spec(ds: aw.Dataset) -> dict:
    a = ds.annotations
    labels = ds.labels["name"].tolist()
    items = []
    for it, name, sub, fr, media, ex in zip(ds.items["item_id"], ds.items["name"], ds.items["subset"],
                                            ds.items["frame"], ds.items["media"], ds.items["extra"], strict=True):
        mine = a[a["item_id"] == it]
        cub = []
        for rid, (_, r) in enumerate(mine[mine["type"] == "cuboid_3d"].iterrows()):
            attrs = dict(r["attributes"] or {}, occluded=bool(r["occluded"]))
            if pd.notna(r["track_id"]):
                attrs.update(track_id=int(r["track_id"]), keyframe=bool(r["keyframe"]))
            p = [float(v) for v in r["points"]]
            cub.append(dict(position=p[:3], rotation=p[3:6], scale=p[6:], label=labels.index(r["label"]), id=rid,
                            attributes=attrs, group=0 if pd.isna(r["group"]) else int(r["group"])))
        tags = [labels.index(lab) for lab in mine.loc[mine["type"] == "tag", "label"]]
        items.append(dict(id=name[:-4], subset=sub, frame=int(fr), cloud=media, cuboids=cub, tags=tags,
                          related=(ex or {}).get("related_images", [])))
    return {"items": items, "labels": labels}


def _ours(ds: aw.Dataset) -> list:
    a = _cuboids(ds)
    return [(s, n[:-4], lab, tuple(np.round(p, 6))) for s, n, lab, p in
            zip(a["subset"], a["name"], a["label"], a["points"], strict=True)]


@pytest.mark.oracle
def test_we_read_what_datumaro_writes(tmp_path, oracle):
    ds = make_dataset(tmp_path / "media")
    oracle(DM_WRITE, str(tmp_path / "dm"), json.dumps(_spec(ds)))
    back = aw.load(str(tmp_path / "dm"))
    assert back.info["format"] == FMT
    assert sorted(_ours(back)) == sorted(_ours(ds))
    got, want = _cuboids(back), _cuboids(ds)
    assert np.abs(np.array(got["points"].tolist()) - np.array(want["points"].tolist())).max() <= 1e-6
    assert got["attributes"].tolist() == want["attributes"].tolist()
    assert got["track_id"].tolist() == want["track_id"].tolist() and got["occluded"].tolist() == want["occluded"].tolist()
    assert set(back.labels["name"]) == {"car", "pedestrian", "night"}
    tags = back.annotations[back.annotations["type"] == "tag"].merge(back.items, on="item_id")
    assert tags[["name", "label"]].values.tolist() == [["000004.pcd", "night"]]
    pd.testing.assert_frame_equal(back.items[["name", "subset", "frame", "kind"]].sort_values("name").reset_index(drop=True),
                                  ds.items[["name", "subset", "frame", "kind"]].sort_values("name").reset_index(drop=True),
                                  check_dtype=False)
    for media, ex, src, ex0 in zip(back.items["media"], back.items["extra"], ds.items["media"], ds.items["extra"],
                                   strict=True):  # upstream's images/<subset>/<id>/extra_image_<i>.png
        assert Path(media).read_bytes() == Path(src).read_bytes()
        got_rel = (ex or {}).get("related_images", [])
        assert [Path(p).read_bytes() for p in got_rel] == [Path(p).read_bytes() for p in (ex0 or {}).get(
            "related_images", [])]


@pytest.mark.oracle
def test_datumaro_reads_what_we_write(tmp_path, oracle):
    ds = make_dataset(tmp_path / "media")
    out = _export(ds, tmp_path, save_images=True)
    theirs = oracle(DM_READ_3D, str(out))
    assert theirs["media_type"] == "PointCloud"
    got = sorted((c["subset"], c["id"], c["label"], tuple(np.round(c["points"], 6))) for c in theirs["cuboids"])
    assert got == sorted(_ours(ds))
    want_attrs = sorted(json.dumps({**(at or {}), "occluded": bool(o), **({"track_id": int(t), "keyframe": bool(k)}
                                                                             if pd.notna(t) else {})}, sort_keys=True)
                        for at, o, t, k in zip(ds.annotations["attributes"][:5], ds.annotations["occluded"][:5],
                                               ds.annotations["track_id"][:5], ds.annotations["keyframe"][:5],
                                               strict=True))
    assert sorted(json.dumps(c["attributes"], sort_keys=True) for c in theirs["cuboids"]) == want_attrs
    assert theirs["tags"] == [["val", "000004", "night"]]
    items = {(i["subset"], i["id"]): i for i in theirs["items"]}
    assert sorted(items) == sorted((s, n[:-4]) for s, n in zip(ds.items["subset"], ds.items["name"], strict=True))
    for (sub, iid), it in items.items():
        assert Path(it["cloud"]) == Path(str(out)) / "point_clouds" / sub / f"{iid}.pcd" and Path(it["cloud"]).is_file()
        assert it["attr"]["frame"] == int(iid) - 1
        n_rel = dict(((c[0], c[1][:-4]), c[2]) for c in CLOUDS)[(sub, iid)]
        # upstream looks for related images under images/<subset>/, CVAT's fork (whose layout we write)
        # under related_images/<subset>/<id>/: the entries are all there, the files in CVAT's place
        assert [Path(p).name for p in it["related"]] == [f"image_{i}.png" for i in range(n_rel)]
        assert all((Path(str(out)) / "related_images" / sub / iid / f"image_{i}.png").is_file() for i in range(n_rel))
