"""Every registered writer either carries the sample project or names what it dropped.

The sample dataset (GT boxes with attributes, polygons, masks, two models' scored predictions)
plus one row each of the other image shapes (rotated box, ellipse, points, polyline, tag) is
exported to every format that can write. For each:
- the format declares what it carries (``FormatSpec.shapes``), in the schema's type names;
- every row of a type it does not declare is named in the loss report;
- where the format can also be read, what comes back accounts for everything not reported:
  as many rows as were not dropped, the attributes, scores and predictions not reported lost,
  and every label of a kept row.
A report entry whose reason says the row was still written ("written as …", or only its
attributes / score not carried) counts as a field loss, not a dropped row.
"""
from __future__ import annotations

import re
import warnings

import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core.loss import LossWarning
from annowidgets.core.schema import ANNOTATION_TYPES
from annowidgets.formats import registry
from annowidgets.sample import sample_dataset


def _ours(spec) -> bool:
    """Formats of the package (other tests register throwaway ones in the same registry)."""
    fn = spec.write or spec.read
    return getattr(fn, "__module__", "").startswith("annowidgets.formats.")


WRITERS = [s for s in registry.all_formats() if s.can_export and _ours(s)]
# The CSV reader needs the label config to tell a single Choices value from a data column
# (ls_flat's docs); these are the control names our Label Studio writer uses by default.
LS_CONFIG = ('<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image"/>'
             '<PolygonLabels name="polygon" toName="image"/><BrushLabels name="brush" toName="image"/>'
             '<EllipseLabels name="ellipse" toName="image"/><KeyPointLabels name="keypoint" toName="image"/>'
             '<Choices name="choice" toName="image"/></View>')
FIELD_ONLY = re.compile(r"written as|attributes|scores? (are )?not|carries no attributes|links? (are|is) not kept")


def sample_with_every_shape() -> aw.Dataset:
    """The sample project plus a rotated box, an ellipse, points, a polyline, a tag and a 3D cuboid on item 1."""
    ds = sample_dataset()
    a = ds.annotations
    base = dict(item_id=1, frame=1, set_id=int(a.loc[a["item_id"] == 1, "set_id"].iloc[0]), source="annotation",
                annotator="alice")
    extra = [dict(base, type="bbox", label="car", x=20.0, y=30.0, w=40.0, h=20.0, rotation=30.0,
                  attributes={"color": "blue"}),
             dict(base, type="ellipse", label="tree", x=200.0, y=20.0, w=30.0, h=16.0, rotation=15.0),
             dict(base, type="points", label="person", points=[10.0, 12.0, 30.5, 40.25], x=10.0, y=12.0, w=20.5, h=28.25),
             dict(base, type="polyline", label="road", points=[0.0, 200.0, 100.0, 190.0, 300.0, 210.0], x=0.0, y=190.0,
                  w=300.0, h=20.0),
             dict(base, type="tag", label="car"),
             dict(base, type="cuboid_3d", label="car", points=[1.0, 2.0, 0.5, 0.0, 0.0, 0.3, 4.0, 1.8, 1.5])]
    extra = pd.DataFrame(extra)
    extra.insert(0, "ann_id", range(int(a["ann_id"].max()) + 1, int(a["ann_id"].max()) + 1 + len(extra)))
    return aw.Dataset(items=ds.items, sets=ds.sets, annotations=pd.concat([a, extra], ignore_index=True),
                      labels=ds.labels, tasks=ds.tasks, info=dict(ds.info)).validate()


@pytest.fixture(scope="module")
def dataset() -> aw.Dataset:
    return sample_with_every_shape()


def test_every_format_declares_what_it_carries():
    specs = [s for s in registry.all_formats() if _ours(s)]
    assert len(specs) >= 25
    for spec in specs:
        assert spec.shapes, f"{spec.name} declares no shapes"
        assert set(spec.shapes) <= set(ANNOTATION_TYPES), f"{spec.name}: {set(spec.shapes) - set(ANNOTATION_TYPES)}"
        assert spec.media and set(spec.media) <= {"image", "video", "audio", "text", "point_cloud"}, spec.name


@pytest.mark.parametrize("spec", WRITERS, ids=[s.name for s in WRITERS])
def test_export_carries_everything_or_reports_it(spec, dataset, tmp_path):
    a = dataset.annotations
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = dataset.export(str(tmp_path), format=spec.name, archive=False, name="out")
    entries = [e for e in out.loss.entries if e.table == "annotations"]
    named = {r for e in entries for r in e.rows}
    dropped = {r for e in entries if not FIELD_ONLY.search(e.reason) for r in e.rows}
    assert all(e.reason.strip() for e in out.loss.entries)
    unknown = named - set(a["ann_id"])
    assert not unknown, f"report names rows that do not exist: {sorted(unknown)[:5]}"

    not_declared = set(a.loc[~a["type"].isin(spec.shapes), "ann_id"])
    assert not_declared <= named, f"{spec.name} dropped {sorted(not_declared - named)[:10]} without a word"

    if not spec.can_import:
        return
    back = aw.load(str(out), format=spec.name, **({"config": LS_CONFIG} if spec.name in ("CSV", "TSV") else {}))
    b = back.annotations
    if "outside" in b:  # video tracks come back with their closing 'outside' frames
        b = b[~b["outside"].fillna(False).astype(bool)]
    kept = a[~a["ann_id"].isin(dropped)]
    assert len(b) >= len(kept), f"{len(kept)} rows not reported dropped, {len(b)} came back"
    # and image by image, where names survive (they may lose their folder or extension; brush
    # files are named by task, CVAT video by frame)
    stem = r"([^/]+?)(\.\w+)?$"
    src_n = kept.merge(dataset.items[["item_id", "name"]], on="item_id")["name"].str.extract(stem)[0].value_counts()
    back_n = b.merge(back.items[["item_id", "name"]], on="item_id")["name"].str.extract(stem)[0].value_counts()
    names_kept = set(dataset.items["name"].str.extract(stem)[0]) <= set(back.items["name"].str.extract(stem)[0])
    short = {k: (int(n), int(back_n.get(k, 0))) for k, n in src_n.items() if names_kept and back_n.get(k, 0) < n}
    assert not short, f"rows kept -> came back, per image: {short}"
    clean = a[~a["ann_id"].isin(named)]
    has_attrs = clean["attributes"].map(lambda d: bool(d) if isinstance(d, dict) else False)
    assert b["attributes"].map(lambda d: bool(d) if isinstance(d, dict) else False).sum() >= has_attrs.sum()
    assert b["score"].notna().sum() >= clean["score"].notna().sum()
    assert (b["source"] == "prediction").sum() >= (clean["source"] == "prediction").sum()
    assert set(kept["label"].dropna()) <= set(b["label"].dropna())


def _two_boxes(**second) -> aw.Dataset:
    items = [dict(item_id=0, name="a.png", width=40, height=30)]
    ann = [dict(ann_id=0, item_id=0, type="bbox", label="car", x=10.0, y=10.0, w=5.0, h=5.0),
           dict(dict(ann_id=1, item_id=0, type="bbox", label="road", x=0.0, y=0.0, w=40.0, h=30.0, z_order=1), **second)]
    return aw.Dataset(items=items, annotations=ann)


def test_segmentation_mask_names_an_instance_painted_over_entirely(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = _two_boxes().export(str(tmp_path), format="Segmentation mask 1.1", archive=False, name="o")
    hidden = [e for e in out.loss.entries if "no pixel" in e.reason]
    assert [e.rows for e in hidden] == [[0]]  # the car under the road; the road itself is there
    back = aw.load(str(out), format="Segmentation mask 1.1")
    assert back.annotations["label"].tolist() == ["road"]
    # below the car instead of above it, both come back and nothing is reported
    out = _two_boxes(z_order=-1).export(str(tmp_path / "2"), format="Segmentation mask 1.1", archive=False, name="o")
    assert not out.loss
    assert sorted(aw.load(str(out), format="Segmentation mask 1.1").annotations["label"]) == ["car", "road"]


def test_cvat_names_predictions_it_writes_as_plain_shapes(tmp_path):
    ds = _two_boxes(source="prediction", score=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path), format="CVAT for images 1.1", archive=False, name="o")
    assert [(e.rows, "score" in e.reason) for e in out.loss.entries] == [([1], True)]
    back = aw.load(str(out), format="CVAT for images 1.1").annotations
    assert back["score"].isna().all() and set(back["source"]) == {"annotation"}  # what the report warns of


def _skeleton_dataset() -> aw.Dataset:
    """One image: a skeleton with three points (one outside), a box, a polygon and a tag."""
    items = [dict(item_id=0, name="a.png", width=64, height=48)]
    rows = [dict(type="skeleton", label="pose", x=2.0, y=3.0, w=20.0, h=20.0),
            dict(type="bbox", label="car", x=30.0, y=20.0, w=10.0, h=8.0),
            dict(type="polygon", label="road", points=[0.0, 40.0, 30.0, 40.0, 30.0, 47.0], x=0.0, y=40.0, w=30.0,
                 h=7.0),
            dict(type="tag", label="day")]
    for lab, p in (("head", [5.0, 4.0]), ("hand", [10.0, 12.0]), ("foot", [20.0, 22.0])):
        rows.append(dict(type="points", label=lab, points=p, x=p[0], y=p[1], w=0.0, h=0.0, parent_id=0,
                         outside=lab == "foot"))
    a = pd.DataFrame(rows)
    a.insert(0, "ann_id", range(len(rows)))
    a["item_id"] = 0
    labels = {"name": ["pose", "head", "hand", "foot", "car", "road", "day"],
              "type": ["skeleton", "points", "points", "points", "any", "any", "tag"],
              "parent": [None, "pose", "pose", "pose", None, None, None]}
    return aw.Dataset(items=items, annotations=a, labels=labels).validate()


@pytest.mark.parametrize("spec", WRITERS, ids=[s.name for s in WRITERS])
def test_skeleton_points_are_carried_or_reported(spec, tmp_path):
    """Input rows = rows carried + rows reported: a skeleton's points are never dropped unnamed."""
    ds = _skeleton_dataset()
    a = ds.annotations
    kids = set(a.loc[a["parent_id"].notna(), "ann_id"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path), format=spec.name, archive=False, name="out")
    entries = [e for e in out.loss.entries if e.table == "annotations"]
    named = {r for e in entries for r in e.rows}
    dropped = {r for e in entries if not FIELD_ONLY.search(e.reason) for r in e.rows}
    if 0 in dropped:  # a skeleton that is not written: its points are dropped or written on their own, and named
        assert kids <= named, f"{spec.name}: {sorted(kids - named)} unnamed"
    if not spec.can_import:
        assert "skeleton" in spec.shapes or kids <= dropped
        return
    if len(dropped) == len(a):
        return  # nothing written (some layouts have no file to read then)
    back = aw.load(str(out), format=spec.name, **({"config": LS_CONFIG} if spec.name in ("CSV", "TSV") else {}))
    b = back.annotations
    kept = a[~a["ann_id"].isin(dropped)]
    pts_back = b[b["type"] == "points"]
    assert len(pts_back) == len(kids - dropped), f"{spec.name}: {len(kids - dropped)} points kept, {len(pts_back)} back"
    absent = set(a.loc[a["outside"], "ann_id"]) - dropped  # an absent point does not come back as a visible one
    assert pts_back["outside"].fillna(False).astype(bool).sum() == len(absent), spec.name
    # (a COCO keypoint annotation always has a bbox: the skeleton's own, not one more box row)
    assert len(b) == len(kept), f"{spec.name}: {len(kept)} rows not reported dropped, {len(b)} came back"
