"""Conversions between formats through the CLI, compared on the tables (issue 2, "done means").

Each round trip is run with ``annowidgets convert`` (``cli.main``, plus one real subprocess);
the tables before and after are compared column by column, and what the middle format cannot
carry must be exactly what its loss report says: every reported row differs only in the
reported field, every other row is equal.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.cli import main
from annowidgets.core.loss import LossWarning

pytestmark = pytest.mark.fixtures
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def task_xml(datumaro_dir) -> str:
    return str(datumaro_dir / "cvat_dataset" / "for_images" / "export_task" / "train.xml")


@pytest.fixture(scope="module")
def video_xml(datumaro_dir) -> str:
    return str(datumaro_dir / "cvat_dataset" / "for_video" / "annotations.xml")


def convert(capsys, src: str, dst: Path, fmt: str) -> tuple[str, list[str]]:
    """Run ``annowidgets convert``; return the archive path and the warning lines."""
    rc = main(["convert", str(src), str(dst), "--to", fmt, "--name", "out"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    path = cap.out.strip().splitlines()[-1]
    assert path == str(dst / "out.zip") and Path(path).exists()
    return path, [line for line in cap.err.splitlines() if line.startswith("warning:")]


def losses(src: str, fmt: str, tmp: Path) -> dict[tuple[str, str], list]:
    """The structured loss report of the same conversion: {(table, reason prefix): rows}."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        res = aw.convert(src, str(tmp), to=fmt, name="report")
    return {(e.table, e.reason): e.rows for e in res.loss.entries}


def pick(report: dict, table: str, reason: str) -> list:
    hits = [rows for (t, r), rows in report.items() if t == table and reason in r]
    assert len(hits) == 1, (table, reason, report)
    return hits[0]


def ann_view(ds: aw.Dataset) -> pd.DataFrame:
    """Annotations with their item's name, in item then row order (ids renumbered on the way)."""
    a = ds.to_dataframe()
    # CVAT writes an item's shapes in z order, so ids alone do not pair rows: pair by kind first
    rank = a["type"].map({"bbox": 0, "polyline": 1, "polygon": 2, "points": 3}).fillna(9)
    a = a.assign(_rank=rank).sort_values(["item_name", "_rank", "ann_id"], kind="stable")
    return a.drop(columns="_rank").reset_index(drop=True)


def same_geometry(a: pd.DataFrame, b: pd.DataFrame) -> None:
    for col in [c for c in ("x", "y", "w", "h", "rotation") if c in a.columns]:
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), atol=0.005, err_msg=col)


# -- CVAT for images -> Label Studio JSON -> CVAT for images -----------------------------------------
def test_cvat_task_to_label_studio_and_back(task_xml, tmp_path, capsys):
    ls, warned = convert(capsys, task_xml, tmp_path / "ls", "JSON")
    back, warned_back = convert(capsys, ls, tmp_path / "back", "CVAT for images 1.1")
    assert warned_back == []  # nothing more is lost on the way back
    report = losses(task_xml, "Label Studio JSON", tmp_path / "r")
    # what Label Studio JSON cannot carry, exactly (z_order and occluded travel in the region's meta.cvat)
    assert pick(report, "annotations", "keypoint holds one point") == [3]
    assert pick(report, "tasks", "no tasks") == ["row 0"]
    assert pick(report, "labels", "attribute specs") == ["label1"]
    assert len(report) == 3, report
    assert len(warned) == 1 and "keypoint holds one point" in warned[0] and "z_order" not in warned[0]

    a, b = aw.load(task_xml), aw.load(back)
    assert b.info["format"] == "CVAT for images 1.1"
    cols = ["name", "width", "height", "subset", "frame"]
    pd.testing.assert_frame_equal(a.items[cols], b.items[cols])
    pa, pb = ann_view(a), ann_view(b)
    assert len(pa) == len(pb) == 4
    for col in ("item_name", "label", "type", "group", "outside"):
        assert pa[col].tolist() == pb[col].tolist(), col
    same_geometry(pa[:3], pb[:3])
    same_geometry(pa[3:][["x", "y", "rotation"]], pb[3:][["x", "y", "rotation"]])  # w/h: see the points below
    assert pa["attributes"].tolist() == pb["attributes"].tolist()
    # polylines stay polylines, polygons polygons (an open LS polygon is read as a polyline)
    assert pb["type"].tolist() == ["bbox", "polyline", "polygon", "points"]
    for i in (1, 2):
        assert pa["points"][i] == pytest.approx(pb["points"][i])
    # z_order and occluded come back equal (the source has both set on some rows)
    assert pa["z_order"].tolist() == pb["z_order"].tolist() and (pa["z_order"] != 0).any()
    assert pa["occluded"].tolist() == pb["occluded"].tolist() and pa["occluded"].any()
    # reported rows: exactly the reported field is gone, nothing else
    assert pb["points"][3] == pa["points"][3][:2]  # the first point of the three, as reported
    # labels: names kept; attribute specs were reported
    assert set(b.labels["name"]) == set(a.labels["name"])
    assert a.labels.set_index("name").loc["label1", "attributes"] and not any(b.labels["attributes"])


def test_cli_runs_as_a_module(task_xml, tmp_path):
    """The real command line (``python -m annowidgets``) in a subprocess, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "annowidgets", "convert", task_xml, str(tmp_path), "--to",
                           "Label Studio JSON", "--name", "x"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "x.zip")
    assert proc.stderr.count("warning: Label Studio JSON could not carry") == 1
    back = aw.load(str(tmp_path / "x.zip"))
    assert back.info["format"] == "Label Studio JSON" and len(back.annotations) == 4


# -- CVAT for video -> Label Studio JSON -> CVAT for video -------------------------------------------
def test_cvat_video_to_label_studio_and_back(video_xml, tmp_path, capsys):
    ls, warned = convert(capsys, video_xml, tmp_path / "ls", "JSON")
    back, warned_back = convert(capsys, ls, tmp_path / "back", "CVAT for video 1.1")
    assert warned_back == []
    report = losses(video_xml, "JSON", tmp_path / "r")
    assert pick(report, "annotations", "video holds rectangles only") == [3, 4, 5, 6]  # points, polyline tracks
    assert pick(report, "annotations", "occluded of a track keyframe") == [0]  # a sequence has one meta
    assert pick(report, "tasks", "no tasks") == [5]
    assert pick(report, "jobs", "no jobs") == [3, 4]
    assert pick(report, "labels", "attribute specs") == ["klhg"]
    assert pick(report, "labels", "no region uses") == ["z U k"]
    assert len(report) == 6, report
    assert len(warned) == 1

    ls_ds = aw.load(ls)
    assert ls_ds.items["kind"].tolist() == ["video"] and ls_ds.items["name"].tolist() == ["t.mp4"]
    seq = ls_ds.annotations.sort_values("frame")
    assert seq["frame"].tolist() == [10, 13, 16]  # CVAT's absolute frames (LS writes them 1-based)
    assert seq["outside"].tolist() == [False, True, True]

    a, b = aw.load(video_xml), aw.load(back)
    # every frame of the source is still a frame, with its size
    fa = a.items.set_index("frame")[["width", "height"]]
    fb = b.items.set_index("frame")[["width", "height"]]
    pd.testing.assert_frame_equal(fa, fb.loc[fa.index])
    # the box track's keyframes are equal (frame, geometry, outside); occluded was reported
    ka = a.annotations[(a.annotations["type"] == "bbox")].sort_values("frame").reset_index(drop=True)
    kb = b.annotations[(b.annotations["type"] == "bbox") & b.annotations["keyframe"]].sort_values(
        "frame").reset_index(drop=True)
    assert ka["frame"].tolist() == kb["frame"].tolist() == [10, 13, 16]
    assert ka["outside"].tolist() == kb["outside"].tolist()
    assert ka["label"].tolist() == kb["label"].tolist()
    same_geometry(ka, kb)
    assert ka["occluded"].tolist() == [True, False, False] and not kb["occluded"].any()
    assert kb["track_id"].nunique() == 1


# -- CVAT -> COCO -> CVAT ----------------------------------------------------------------------------
def test_cvat_task_to_coco_and_back(task_xml, tmp_path, capsys):
    coco, warned = convert(capsys, task_xml, tmp_path / "coco", "COCO 1.0")
    back, warned_back = convert(capsys, coco, tmp_path / "back", "CVAT for images 1.1")
    assert warned_back == []
    report = losses(task_xml, "COCO 1.0", tmp_path / "r")
    assert pick(report, "annotations", "polyline rows") == [1]
    assert pick(report, "annotations", "points rows") == [3]
    assert pick(report, "annotations", "z_order") == [0, 2]
    assert len(report) == 3, report
    assert len(warned) == 1
    a, b = aw.load(task_xml), aw.load(back)
    cols = ["name", "width", "height"]
    pd.testing.assert_frame_equal(a.items[cols], b.items[cols])
    pa = ann_view(a)
    pa = pa[pa["type"].isin(["bbox", "polygon"])].reset_index(drop=True)
    pb = ann_view(b)
    for col in ("item_name", "label", "type", "occluded", "attributes"):
        assert pa[col].tolist() == pb[col].tolist(), col
    same_geometry(pa, pb)
    assert pa["points"][1] == pytest.approx(pb["points"][1])
    assert pb["z_order"].tolist() == [0, 0]


# -- Label Studio -> CVAT -> Label Studio -----------------------------------------------------------
def test_label_studio_image_project_to_cvat_and_back(ls_dir, tmp_path, capsys):
    src = str(ls_dir / "input" / "image_det")
    cvat, warned = convert(capsys, src, tmp_path / "cvat", "CVAT for images 1.1")
    back, _ = convert(capsys, cvat, tmp_path / "back", "JSON")
    a = aw.load(src)
    report = losses(src, "CVAT for images 1.1", tmp_path / "r")
    # Label Studio's annotation sets, relations and prediction scores have no CVAT element
    said = pick(report, "sets", "annotation sets")
    assert sorted(said) == sorted(a.sets["set_id"].tolist())
    assert pick(report, "relations", "no relations") == list(range(len(a.relations)))
    scored = a.annotations.loc[a.annotations["score"].notna(), "ann_id"].tolist()
    assert scored and pick(report, "annotations", "score") == scored
    assert len(report) == 3, report
    assert len(warned) == 1
    b = aw.load(back)
    assert a.items["name"].tolist() == b.items["name"].tolist()
    # CVAT writes tags after shapes and skeleton points inside their parent: compare in a canonical order
    key = ["item_name", "type", "label", "x", "y", "w"]
    pa = ann_view(a).sort_values(key, kind="stable").reset_index(drop=True)
    pb = ann_view(b).sort_values(key, kind="stable").reset_index(drop=True)
    for col in ("item_name", "label", "type"):
        assert pa[col].tolist() == pb[col].tolist(), col
    same_geometry(pa, pb)
    masks_a = [m["counts"] for m in pa["mask"] if m is not None]
    assert masks_a and masks_a == [m["counts"] for m in pb["mask"] if m is not None]
    # a prediction without an origin is written as CVAT model output (source="auto")
    assert (pb["origin"] == "auto").sum() == ((pa["source"] == "prediction") & pa["origin"].isna()).sum() == 1
    assert (pb["source"] == "annotation").all()  # CVAT has no predictions: reported with the sets above
