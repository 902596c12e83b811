"""Sly Point Cloud Format 1.0: our round trip, Datumaro's ``sly_pointcloud`` both ways, detection,
CVAT's archive name and bad input."""
from __future__ import annotations

import json
import shutil
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core import tracks
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry

FMT = "Sly Point Cloud Format 1.0"


def _cloud_dataset(folder: Path) -> aw.Dataset:
    """Four clouds; a car track on frames 0 and 2 (interpolated at 1) ending outside on 3, a
    pedestrian on frame 1 with attributes, a related image with sensor data on frame 0."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        (folder / f"f{i}.pcd").write_text(f"# cloud {i}\n")
    (folder / "cam.png").write_bytes(b"\x89PNG fake")
    sensors = {"meta": {"sensorsData": {"extrinsicMatrix": list(range(12)), "intrinsicMatrix": list(range(9))}}}
    items = pd.DataFrame({"item_id": range(4), "name": [f"f{i}.pcd" for i in range(4)], "frame": range(4),
                          "kind": "point_cloud", "media": [f"f{i}.pcd" for i in range(4)],
                          "extra": [{"related_images": ["cam.png"], "related_images_json": [sensors]}, None, None,
                                    None]})
    car = dict(type="cuboid_3d", label="car", track_id=7, keyframe=True, attributes={"color": "red", "doors": 3})
    ann = pd.DataFrame([
        dict(car, ann_id=0, item_id=0, points=[1.0, 2.0, 3.0, 0.0, 0.0, 3.0, 4.0, 2.0, 1.5]),
        dict(car, ann_id=1, item_id=2, points=[3.0, 2.5, 3.0, 0.0, 0.0, -3.0, 4.0, 2.0, 1.5]),
        dict(car, ann_id=2, item_id=3, points=[3.0, 2.5, 3.0, 0.0, 0.0, -3.0, 4.0, 2.0, 1.5], outside=True),
        dict(ann_id=3, item_id=1, type="cuboid_3d", label="ped", points=[0.5, 0.25, 0.0, 0.1, 0.2, 0.3, 1.0, 1.0, 2.0],
             attributes={"walking": True}, occluded=True),
    ])
    return aw.Dataset(items=items, annotations=ann, media_root=str(folder)).validate()


def _export(ds: aw.Dataset, folder: Path, **kw) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        return str(ds.export(str(folder), format=FMT, archive=False, name="out", **kw))


def _key(a: pd.DataFrame) -> list:
    a = a[~a["outside"]].sort_values(["item_id", "label"])  # item i is frame i
    return [(int(i), lab, [round(float(v), 9) for v in p]) for i, lab, p in zip(a["item_id"], a["label"], a["points"],
                                                                               strict=True)]


def test_round_trip_keeps_cuboids_tracks_attributes_and_related_images(tmp_path):
    ds = _cloud_dataset(tmp_path / "media")
    out = _export(ds, tmp_path / "x", save_images=True)
    assert (Path(out) / "ds0/pointcloud/f2.pcd").read_text() == "# cloud 2\n"
    assert (Path(out) / "ds0/related_images/f0_pcd/cam.png").exists()
    back = aw.load(out)
    assert back.info["format"] == FMT
    b = back.annotations
    kf = tracks.keyframes_only(b)
    assert _key(kf) == _key(ds.annotations)
    mid = b[(b["frame"] == 1) & (b["label"] == "car")].iloc[0]  # written interpolated, keyframe tag false
    assert not mid["keyframe"] and np.allclose(mid["points"], [2.0, 2.25, 3.0, 0, 0, np.pi, 4, 2, 1.5])
    car = b[b["label"] == "car"]
    assert car["track_id"].nunique() == 1 and int(car["track_id"].iloc[0]) == 7
    assert car.loc[car["outside"], "frame"].tolist() == [3]  # CVAT's closing outside keyframe comes back
    ped = b[b["label"] == "ped"].iloc[0]
    assert ped["attributes"] == {"walking": True} and ped["occluded"] and pd.isna(ped["track_id"])
    assert car.iloc[0]["attributes"] == {"color": "red", "doors": 3}
    it = back.items.set_index("name")
    assert it.loc["f0.pcd", "extra"]["related_images"] == ["ds0/related_images/f0_pcd/cam.png"]
    assert it.loc["f0.pcd", "extra"]["related_images_json"][0]["meta"]["sensorsData"]["intrinsicMatrix"] == list(
        range(9))
    assert back.media_url(it.loc["f3.pcd", "media"]).endswith("ds0/pointcloud/f3.pcd")
    # a second export of what was read keeps the keys (so the files are the same)
    again = _export(back, tmp_path / "y")
    assert json.loads((Path(again) / "ds0/ann/f1.pcd.json").read_text()) == json.loads(
        (Path(out) / "ds0/ann/f1.pcd.json").read_text())
    maps = [json.loads((Path(p) / "key_id_map.json").read_text()) for p in (out, again)]
    assert maps[0]["objects"] == maps[1]["objects"] and maps[0]["videos"] == maps[1]["videos"]
    assert set(maps[0]["figures"]) == set(maps[1]["figures"])


def test_other_shapes_and_scores_are_reported(tmp_path):
    ds = _cloud_dataset(tmp_path / "media")
    a = pd.concat([ds.annotations, pd.DataFrame([dict(ann_id=9, item_id=1, type="bbox", label="ped", x=1.0, y=1.0,
                                                      w=2.0, h=2.0)])], ignore_index=True)
    a.loc[a["ann_id"] == 3, "score"] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        res = aw.Dataset(items=ds.items, annotations=a).export(str(tmp_path), format=FMT, archive=False, name="o")
    reasons = {r: e.reason for e in res.loss.entries if e.table == "annotations" for r in e.rows}
    assert "only 3D cuboids" in reasons[9] and "score" in reasons[3]


def test_detection_and_cvat_default_archive_name(tmp_path):
    out = _export(_cloud_dataset(tmp_path / "media"), tmp_path / "x")
    assert aw.load(out).info["format"] == FMT
    arc = Path(shutil.make_archive(str(tmp_path / "plain"), "zip", out))
    assert len(aw.load(str(arc)).items) == 4
    name = f"task_3_annotations_2026_01_02_03_04_05_{FMT.lower()}.zip"
    assert registry.format_from_filename(name).name == FMT
    named = tmp_path / name
    shutil.copy(arc, named)
    ds = aw.load(str(named))
    assert ds.info["format"] == FMT and len(ds.annotations[~ds.annotations["outside"]]) == 4


def _write(root: Path, ann: dict | str, key_map: dict | None = None) -> Path:
    (root / "ds0/ann").mkdir(parents=True, exist_ok=True)
    (root / "meta.json").write_text(json.dumps({"classes": [{"title": "car"}], "tags": []}))
    (root / "key_id_map.json").write_text(json.dumps(key_map or {"videos": {"v1": 0}, "objects": {}, "figures": {}}))
    (root / "ds0/ann/a.pcd.json").write_text(ann if isinstance(ann, str) else json.dumps(ann))
    return root


GEOM = {"position": {"x": 1, "y": 2, "z": 3}, "rotation": {"x": 0, "y": 0, "z": 0},
        "dimensions": {"x": 1, "y": 1, "z": 1}}


def test_bad_input_names_file_element_and_expectation(tmp_path):
    obj = {"key": "o1", "classTitle": "car", "tags": []}
    fig = {"key": "f1", "objectKey": "o2", "geometryType": "cuboid_3d", "geometry": GEOM}
    _write(tmp_path / "a", {"key": "v1", "tags": [], "objects": [obj], "figures": [fig]})
    with pytest.raises(aw.FormatError, match=r"a\.pcd\.json: <figures\[0\]\.objectKey>: objectKey 'o2' is not the key"):
        aw.load(str(tmp_path / "a"), format=FMT)
    no_pos = dict(fig, objectKey="o1", geometry={k: v for k, v in GEOM.items() if k != "position"})
    _write(tmp_path / "b", {"key": "v1", "tags": [], "objects": [obj], "figures": [no_pos]})
    with pytest.raises(aw.FormatError, match=r"a\.pcd\.json: <figures\[0\]\.geometry\.position>: geometry has no "
                                             r"'position'"):
        aw.load(str(tmp_path / "b"), format=FMT)
    _write(tmp_path / "c", '{"key": "v1", "objects": [')
    with pytest.raises(aw.FormatError, match=r"a\.pcd\.json:1 \(char \d+\): not valid JSON") as info:
        aw.load(str(tmp_path / "c"), format=FMT)
    assert info.value.position is not None
    _write(tmp_path / "d", {"key": "v9", "tags": [], "objects": [], "figures": []})
    with pytest.raises(aw.FormatError, match=r"a\.pcd\.json: <key>: key 'v9' is not in key_id_map\.json"):
        aw.load(str(tmp_path / "d"), format=FMT)


# -- Datumaro as the oracle ------------------------------------------------------------------------
DM_WRITE = textwrap.dedent("""
    import json, os, sys
    from datumaro.components.annotation import Cuboid3d
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image, PointCloud
    import numpy as np
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(src, exist_ok=True)
    def cloud(name):
        p = os.path.join(src, name + ".pcd")
        open(p, "w").write("# " + name)
        return p
    img = os.path.join(src, "front.png")
    Image.from_numpy(np.zeros((4, 6, 3), np.uint8)).save(img)
    def cub(pos, rot, scale, label, tid, **attrs):
        return Cuboid3d(position=pos, rotation=rot, scale=scale, label=label,
                        attributes={"track_id": tid, "color": "red", "parked": False, **attrs})
    items = [
        DatasetItem(id="scan_a", media=PointCloud.from_file(cloud("scan_a"), extra_images=[Image.from_file(img)]),
                    attributes={"frame": 0},
                    annotations=[cub([1.5, 2.25, 0.125], [0, 0, 0.5], [4.0, 1.75, 1.5], 0, 1),
                                 cub([-3.0, 7.0, 1.0], [0.1, 0.2, 0.3], [0.5, 0.5, 1.8], 1, 2, color="blue")]),
        DatasetItem(id="scan_b", media=PointCloud.from_file(cloud("scan_b"), extra_images=[Image.from_file(img)]),
                    attributes={"frame": 1},
                    annotations=[cub([1.75, 2.5, 0.125], [0, 0, 0.625], [4.0, 1.75, 1.5], 0, 1, parked=True)]),
        DatasetItem(id="scan_c", media=PointCloud.from_file(cloud("scan_c")), attributes={"frame": 2},
                    annotations=[cub([9.0, 1.0, 0.0], [0, 0, -1.0], [2.0, 2.0, 2.0], 1, 3)]),
    ]
    ds = Dataset.from_iterable(items, categories=["car", "pedestrian"], media_type=PointCloud)
    ds.export(out, "sly_pointcloud", save_media=True, allow_undeclared_attrs=True)
    print(json.dumps({"ok": True}))
""")

DM_READ = textwrap.dedent("""
    import json, sys
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    ds = Dataset.import_from(sys.argv[1], "sly_pointcloud")
    names = [c.name for c in ds.categories()[AnnotationType.label]]
    out = []
    for item in ds:
        for a in item.annotations:
            out.append({"item": item.id, "frame": item.attributes.get("frame"), "label": names[a.label],
                        "points": [float(v) for v in list(a.position) + list(a.rotation) + list(a.scale)],
                        "attributes": {k: v for k, v in a.attributes.items()},
                        "related": len(item.media.extra_images or [])})
    print(json.dumps(out))
""")

SPECIAL = ("track_id", "occluded", "keyframe")


def _ours(ds: aw.Dataset) -> list[dict]:
    a = ds.annotations[~ds.annotations["outside"]].merge(ds.items[["item_id", "name", "extra"]], on="item_id")
    return sorted(({"item": n[:-4], "frame": int(f), "label": lab, "points": list(map(float, p)),
                    "attributes": dict(at or {})}
                   for n, f, lab, p, at in zip(a["name"], a["frame"], a["label"], a["points"], a["attributes"],
                                               strict=True)), key=lambda r: (r["frame"], r["label"]))


def _theirs(rows: list[dict]) -> list[dict]:
    out = [{"item": r["item"], "frame": int(r["frame"]), "label": r["label"], "points": r["points"],
            "attributes": {k: v for k, v in r["attributes"].items() if k not in SPECIAL}} for r in rows]
    return sorted(out, key=lambda r: (r["frame"], r["label"]))


def _same(got: list[dict], want: list[dict]) -> None:
    assert [(r["item"], r["frame"], r["label"], r["attributes"]) for r in got] == \
           [(r["item"], r["frame"], r["label"], r["attributes"]) for r in want]
    assert np.abs(np.array([r["points"] for r in got]) - np.array([r["points"] for r in want])).max() <= 1e-6


@pytest.mark.oracle
def test_we_read_what_datumaro_writes(tmp_path, oracle):
    oracle(DM_WRITE, str(tmp_path / "src"), str(tmp_path / "dm"))
    ds = aw.load(str(tmp_path / "dm"))
    assert ds.info["format"] == FMT
    theirs = oracle(DM_READ, str(tmp_path / "dm"))
    _same(_ours(ds), _theirs(theirs))
    a = ds.annotations
    car = a[a["label"] == "car"]  # object 1 spans frames 0-1: one track, closed by an outside row on frame 2
    assert car["track_id"].nunique() == 1 and car.loc[car["outside"], "frame"].tolist() == [2]
    assert a.loc[a["label"] == "pedestrian", "track_id"].isna().all()  # one frame each: plain cuboids
    rel = ds.items.set_index("name")["extra"]
    assert [len(rel[n].get("related_images", [])) for n in ("scan_a.pcd", "scan_b.pcd", "scan_c.pcd")] == [1, 1, 0]
    assert rel["scan_a.pcd"]["related_images_json"][0]["meta"]["sensorsData"]["intrinsicMatrix"] == [0] * 9


@pytest.mark.oracle
def test_datumaro_reads_what_we_write(tmp_path, oracle):
    oracle(DM_WRITE, str(tmp_path / "src"), str(tmp_path / "dm"))
    ds = aw.load(str(tmp_path / "dm"))
    out = _export(ds, tmp_path / "ours", save_images=True)
    theirs = oracle(DM_READ, out)
    _same(_theirs(theirs), _ours(ds))
    by_item = {r["item"]: r["related"] for r in theirs}
    assert by_item == {"scan_a": 1, "scan_b": 1, "scan_c": 0}
    # the track: Datumaro gives both frames of object 1 the same track id, CVAT's keyframe tag on each
    car = [r for r in theirs if r["label"] == "car"]
    assert len({r["attributes"]["track_id"] for r in car}) == 1 and all(r["attributes"]["keyframe"] for r in car)
    ped = [r["attributes"]["track_id"] for r in theirs if r["label"] == "pedestrian"]
    assert len(set(ped)) == 2 and not set(ped) & {car[0]["attributes"]["track_id"]}
