"""CVAT attributes, detection by path and name, a property round trip, and the Datumaro oracle."""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import annowidgets as aw
from annowidgets.core.io import Source
from annowidgets.core.loss import LossWarning
from annowidgets.formats import registry

from .coco_helpers import sample_dataset


def _write(root: Path, rel: str, doc) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc))
    return p


DOC = {"images": [{"id": 3, "file_name": "x.png", "width": 50, "height": 40}],
       "categories": [{"id": 1, "name": "car", "supercategory": "vehicle"}],
       "annotations": [{"id": 8, "image_id": 3, "category_id": 1, "bbox": [10, 10, 20, 10], "area": 200,
                        "iscrowd": 0, "segmentation": [],
                        "attributes": {"occluded": True, "rotation": 45.0, "track_id": 4, "keyframe": True,
                                       "group": 2, "color": "blue"}}]}


def test_cvat_attributes_go_to_their_columns(tmp_path):
    ds = aw.load(_write(tmp_path, "annotations/instances_default.json", DOC).parent.parent).validate()
    r = ds.annotations.iloc[0]
    assert (r["occluded"], r["rotation"], r["track_id"], r["keyframe"], r["group"]) == (True, 45.0, 4, True, 2)
    assert r["attributes"] == {"color": "blue"}
    # CVAT writes the unrotated box with a rotation attribute: read it as such
    assert [r[k] for k in "xywh"] == [10.0, 10.0, 20.0, 10.0]
    assert ds.labels["extra"].iloc[0]["supercategory"] == "vehicle"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path / "o"), format="COCO 1.0", archive=False, name="x")
    doc = json.loads((Path(out) / "annotations" / "instances_default.json").read_text())
    a = doc["annotations"][0]
    assert a["attributes"] == {"color": "blue", "occluded": True, "rotation": 45.0, "track_id": 4, "keyframe": True,
                               "group": 2}
    assert doc["categories"] == [{"id": 1, "name": "car", "supercategory": "vehicle"}]
    assert doc["images"][0]["id"] == 1 and a["image_id"] == 1 and a["id"] == 1


@pytest.mark.parametrize("rel,expected", [
    ("annotations/instances_train.json", "COCO 1.0"),
    ("annotations/person_keypoints_train.json", "COCO Keypoints 1.0"),
    ("train/_annotations.coco.json", "COCO 1.0"),
    ("result.json", "COCO"),
])
def test_detection_by_layout(tmp_path, rel, expected):
    _write(tmp_path, rel, DOC)
    with Source(tmp_path) as s:
        assert registry.detect(s).name == expected
    with Source(tmp_path / rel) as s:  # the JSON file alone
        assert registry.detect(s).name == expected


def test_detection_by_cvat_archive_name(tmp_path):
    ds = sample_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path), format="coco_instances")
    assert os.path.basename(out).endswith("_coco 1.0.zip")
    assert aw.load(out).info["format"] == "COCO 1.0"
    with Source(out) as s:
        assert registry.detect(s).name == "COCO 1.0"


def test_names_resolve():
    assert registry.get("COCO 1.0").name == registry.get("coco_instances").name == "COCO 1.0"
    assert registry.get("coco_person_keypoints").name == "COCO Keypoints 1.0"
    assert registry.get("COCO").name == "COCO" and registry.get("COCO_WITH_IMAGES").can_export
    assert not registry.get("BRUSH_TO_COCO").can_export


boxes = st.lists(st.tuples(st.floats(0, 500, width=32), st.floats(0, 500, width=32), st.floats(0.5, 100, width=32),
                           st.floats(0.5, 100, width=32), st.sampled_from(["a", "b", "c"]), st.integers(0, 2)),
                 min_size=1, max_size=12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(boxes)
def test_boxes_and_polygons_round_trip(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("rt")
    items = {"item_id": [0, 1, 2], "name": ["0.png", "1.png", "2.png"], "width": [640] * 3, "height": [640] * 3}
    ann = {"ann_id": list(range(2 * len(rows))), "item_id": [r[5] for r in rows] * 2,
           "label": [r[4] for r in rows] * 2, "type": ["bbox"] * len(rows) + ["polygon"] * len(rows),
           "x": [float(r[0]) for r in rows] * 2, "y": [float(r[1]) for r in rows] * 2,
           "w": [float(r[2]) for r in rows] * 2, "h": [float(r[3]) for r in rows] * 2,
           "points": [None] * len(rows) + [[float(r[0]), float(r[1]), float(r[0] + r[2]), float(r[1]),
                                            float(r[0]), float(r[1] + r[3])] for r in rows]}
    ds = aw.Dataset(items=items, annotations=ann)
    back = aw.load(ds.export(str(tmp), format="COCO 1.0", archive=False, name="o"))
    key = ["name", "type", "label", "x", "y", "w", "h"]
    a = ds.to_dataframe().rename(columns={"item_name": "name"})[key].sort_values(key).reset_index(drop=True)
    b = back.to_dataframe().rename(columns={"item_name": "name"})[key].sort_values(key).reset_index(drop=True)
    assert np.allclose(a[["x", "y", "w", "h"]], b[["x", "y", "w", "h"]])
    assert a[["name", "type", "label"]].equals(b[["name", "type", "label"]])
    pa = sorted(map(tuple, ds.annotations.loc[ds.annotations["type"] == "polygon", "points"]))
    pb = sorted(map(tuple, back.annotations.loc[back.annotations["type"] == "polygon", "points"]))
    assert pa == pb


ORACLE = os.environ.get("ANNOWIDGETS_ORACLE_PYTHON")


@pytest.mark.oracle
@pytest.mark.skipif(not ORACLE, reason="ANNOWIDGETS_ORACLE_PYTHON (a venv with datumaro) is not set")
def test_datumaro_imports_our_export(tmp_path):
    ds = sample_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        out = ds.export(str(tmp_path), format="COCO 1.0", archive=False, name="o")
    script = textwrap.dedent("""
        import json, sys
        from datumaro.components.dataset import Dataset
        ds = Dataset.import_from(sys.argv[1], "coco_instances")
        kinds = {}
        for item in ds:
            shaped = {a.id for a in item.annotations if type(a).__name__ != "Bbox"}
            for a in item.annotations:
                kind = type(a).__name__
                if kind == "Bbox" and a.id in shaped:
                    kind = "Bbox of a segmentation"  # Datumaro adds one per polygon/mask instance
                kinds[kind] = kinds.get(kind, 0) + 1
        print(json.dumps({"items": len(ds), "subsets": sorted(ds.subsets()), "kinds": kinds}))
    """)
    res = subprocess.run([ORACLE, "-c", script, str(out)], capture_output=True, text=True, check=True, timeout=120)
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["items"] == 3 and got["subsets"] == ["train", "val"]
    assert got["kinds"].get("Bbox") == 5  # car, rotated person (enclosed), prediction, grouped car, pose box
    assert got["kinds"].get("Polygon", 0) >= 2 and got["kinds"].get("Mask", 0) + got["kinds"].get("RleMask", 0) == 1
