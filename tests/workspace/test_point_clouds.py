"""Point-cloud tasks as CVAT makes them: ``.pcd`` files (or KITTI ``.bin`` scans) with their camera
images in ``related_images/<name>_pcd/``, and 3D cuboids stored and read back unchanged."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw

from .conftest import make_images

PCD = b"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 1\nHEIGHT 1\n" \
      b"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS 1\nDATA ascii\n1 2 3\n"


@pytest.fixture
def clouds(tmp_path):
    root = tmp_path / "scene"
    root.mkdir()
    for name in ("frame10.pcd", "frame2.pcd", "frame1.pcd"):
        (root / name).write_bytes(PCD)
    make_images(root / "related_images" / "frame1_pcd", 2, prefix="cam")
    make_images(root / "related_images" / "frame10_pcd", 1, prefix="cam")
    (root / "stray.bin").write_bytes(b"\0" * 16)  # beside .pcd files a .bin is not a scan
    return root


def test_folder_of_point_clouds_gives_a_point_cloud_task(ws, clouds):
    task = ws.create_project("lidar", labels=["car"]).create_task("drive", clouds)
    items = task.items
    assert items["name"].tolist() == ["frame1.pcd", "frame2.pcd", "frame10.pcd"]  # natural order
    assert set(items["kind"]) == {"point_cloud"} and items["width"].isna().all()
    related = [(e or {}).get("related_images", []) for e in items["extra"]]
    assert [[p.split("/")[-2:] for p in r] for r in related] == [
        [["frame1_pcd", "cam000.png"], ["frame1_pcd", "cam001.png"]], [], [["frame10_pcd", "cam000.png"]]]


def test_copied_point_clouds_bring_their_related_images(ws, clouds):
    task = ws.create_project("lidar", labels=["car"]).create_task("drive", clouds, copy=True)
    items = task.items
    assert all(str(m).startswith(str(ws.path)) for m in items["media"])
    (first, *_) = items["extra"]
    assert len(first["related_images"]) == 2
    assert all(p.startswith(str(ws.path)) and p.endswith(".png") for p in first["related_images"])
    assert open(first["related_images"][0], "rb").read(4) == b"\x89PNG"


def test_kitti_scans_count_when_the_folder_has_nothing_else(ws, tmp_path):
    velo = tmp_path / "velodyne_points" / "data"
    velo.mkdir(parents=True)
    for i in range(3):
        np.zeros((4, 4), np.float32).tofile(velo / f"{i:010d}.bin")
    task = ws.create_project("kitti", labels=["car"]).create_task("raw", tmp_path / "velodyne_points")
    assert task.items["name"].tolist() == [f"{i:010d}.bin" for i in range(3)]
    assert set(task.items["kind"]) == {"point_cloud"}


def test_images_and_point_clouds_do_not_mix(ws, clouds, tmp_path):
    (img,) = make_images(tmp_path / "img", 1)
    with pytest.raises(ValueError, match="point clouds or images/videos, not both"):
        ws.create_project("p", labels=["car"]).create_task("t", [clouds / "frame1.pcd", img])


def test_an_image_folder_with_a_stray_bin_stays_an_image_task(ws, images):
    (images / "weights.bin").write_bytes(b"\0" * 8)
    task = ws.create_project("p", labels=["car"]).create_task("t", images)
    assert set(task.items["kind"]) == {"image"} and len(task.items) == 10


def test_cuboids_and_related_images_survive_the_workspace(ws, clouds):
    media = [str(clouds / n) for n in ("frame1.pcd", "frame2.pcd")]
    cam = str(clouds / "related_images" / "frame1_pcd" / "cam000.png")
    items = pd.DataFrame({"item_id": [0, 1], "name": ["frame1.pcd", "frame2.pcd"], "media": media, "frame": [0, 1],
                          "kind": "point_cloud", "extra": [{"related_images": [cam]}, None]})
    cube = [1.5, -2.0, 0.25, 0.0, 0.0, 1.2, 4.0, 1.8, 1.6]
    ann = pd.DataFrame([dict(ann_id=0, item_id=0, frame=0, label="car", type="cuboid_3d", points=cube,
                             attributes={"parked": True}, track_id=3, keyframe=True)])
    ds = aw.Dataset(items=items, annotations=ann, labels=pd.DataFrame({"name": ["car"]})).validate()
    task = ws.create_project_from(ds, name="lidar").tasks[0]
    (row,) = task.annotations.itertuples()
    assert (row.type, row.points, row.attributes, row.track_id) == ("cuboid_3d", cube, {"parked": True}, 3)
    back = task.dataset().items
    assert set(back["kind"]) == {"point_cloud"}
    assert back["extra"].iloc[0]["related_images"] == [cam]


def test_relative_related_images_are_resolved_and_copied_with_the_media(ws, clouds):
    items = pd.DataFrame({"item_id": [0], "name": ["frame1.pcd"], "media": ["frame1.pcd"], "frame": [0],
                          "kind": "point_cloud",
                          "extra": [{"related_images": ["related_images/frame1_pcd/cam001.png"]}]})
    ds = aw.Dataset(items=items, labels=pd.DataFrame({"name": ["car"]})).validate()
    ds.media_root = str(clouds)
    task = ws.create_project_from(ds, name="lidar", copy_media=True).tasks[0]
    (extra,) = task.dataset().items["extra"]
    (copied,) = extra["related_images"]
    assert copied.startswith(str(ws.path)) and copied.endswith("cam001.png")
    assert open(copied, "rb").read() == (clouds / "related_images/frame1_pcd/cam001.png").read_bytes()
    assert ds.items["extra"].iloc[0]["related_images"] == ["related_images/frame1_pcd/cam001.png"]  # input unchanged


def test_related_images_inside_an_archive_keep_their_names(ws, clouds, tmp_path):
    import zipfile

    archive = tmp_path / "scene.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(clouds / "frame1.pcd", "frame1.pcd")
        z.write(clouds / "related_images/frame1_pcd/cam001.png", "related_images/frame1_pcd/cam001.png")
    items = pd.DataFrame({"item_id": [0], "name": ["frame1.pcd"], "media": ["frame1.pcd"], "frame": [0],
                          "kind": "point_cloud",
                          "extra": [{"related_images": ["related_images/frame1_pcd/cam001.png"]}]})
    ds = aw.Dataset(items=items, labels=pd.DataFrame({"name": ["car"]})).validate()
    ds.media_root = f"zip://::{archive}"
    task = ws.create_project_from(ds, name="lidar").tasks[0]  # media in an archive: copied by default
    (copied,) = task.dataset().items["extra"].iloc[0]["related_images"]
    assert copied.startswith(str(ws.path)) and copied.endswith("/frame1/cam001.png")
