"""Label Studio's VOC layout: our writer against the files label-studio-sdk 2.1.2 wrote.

The tables are built here from the sample ``tasks.json`` (percent -> pixels, LS's corner
rotation -> our centre rotation) so this test does not depend on the Label Studio reader.
Where LS is wrong (rotation ignored) we differ on purpose and check both behaviours.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import annowidgets as aw
from annowidgets.core import geometry
from annowidgets.core.loss import LossWarning


def _tables(ls_dir):
    tasks = json.loads((ls_dir / "input" / "image_det" / "tasks.json").read_text())
    items, sets, ann = [], [], []
    for task in tasks:
        name = task["data"]["image"].rsplit("/", 1)[-1]
        items.append({"item_id": task["id"], "name": name, "media": name})
        for kind in ("annotations", "completions", "predictions"):
            for s in task.get(kind, []):
                who = s.get("completed_by")
                who = who.get("email") if isinstance(who, dict) else who
                sets.append({"set_id": s["id"], "item_id": task["id"],
                             "source": "prediction" if kind == "predictions" else "annotation",
                             "annotator": None if who is None else str(who),
                             "cancelled": bool(s.get("was_cancelled"))})
                for r in s.get("result", []):
                    if r.get("type") != "rectanglelabels":
                        continue
                    W, H = r["original_width"], r["original_height"]
                    items[-1].update(width=W, height=H)
                    v = r["value"]
                    x, y = geometry.pct_to_px(v["x"], W), geometry.pct_to_px(v["y"], H)
                    w, h = geometry.pct_to_px(v["width"], W), geometry.pct_to_px(v["height"], H)
                    cx, cy = geometry.topleft_to_centre(x, y, w, h, v.get("rotation", 0))
                    ann.append({"ann_id": len(ann), "item_id": task["id"], "set_id": s["id"],
                                "source": sets[-1]["source"], "label": v["rectanglelabels"][0], "type": "bbox",
                                "x": float(cx), "y": float(cy), "w": float(w), "h": float(h),
                                "rotation": float(v.get("rotation", 0))})
    return aw.Dataset(items=items, sets=sets, annotations=ann)


def _export(ds, path, **options):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", LossWarning)
        out = ds.export(str(path), format="Label Studio VOC", archive=False, name="out", **options)
    return out, [str(w.message) for w in rec]


@pytest.mark.parametrize("project", ["image_det", "image"])
def test_matches_label_studio_byte_for_byte_with_rotated_ls(ls_dir, tmp_path, project):
    ds = _tables(ls_dir)
    out, _ = _export(ds, tmp_path, rotated="ls")
    ref = ls_dir / "output" / project / "VOC" / "Annotations"
    ours = tmp_path / "out" / "Annotations"
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in ref.iterdir())
    for p in ref.iterdir():
        assert (ours / p.name).read_bytes() == p.read_bytes(), p.name
    reasons = " | ".join(e.reason for e in out.loss.entries)
    assert "rotation dropped" in reasons and "truncated to whole pixels" in reasons
    assert "predictions" in reasons  # LS's VOC ignores predictions; we say so


def test_default_writes_enclosing_box_for_rotated(ls_dir, tmp_path):
    ds = _tables(ls_dir)
    out, _ = _export(ds, tmp_path)
    text = (tmp_path / "out" / "Annotations" / "a1b2c3d4-street.xml").read_text()
    person = ds.annotations[(ds.annotations["label"] == "Person") & (ds.annotations["item_id"] == 101)
                            & (ds.annotations["source"] == "annotation")].iloc[0]
    ex, ey, ew, eh = (float(v) for v in geometry.enclosing_box(person.x, person.y, person.w, person.h, 30))
    assert f"<xmin>{int(ex)}</xmin>" in text and f"<xmax>{int(ex + ew)}</xmax>" in text
    assert f"<ymax>{int(ey + eh)}</ymax>" in text
    ref = (ls_dir / "output" / "image_det" / "VOC" / "Annotations" / "a1b2c3d4-street.xml").read_text()
    assert "<xmin>72</xmin>" in ref and "<xmin>72</xmin>" not in text  # LS's box ignores the rotation
    assert any("enclosing box" in e.reason for e in out.loss.entries)


def test_float_coordinates_keep_fractions(ls_dir, tmp_path):
    out, _ = _export(_tables(ls_dir), tmp_path, coords="float")
    text = (tmp_path / "out" / "Annotations" / "e5f6a7b8-park.xml").read_text()
    assert "<xmin>22.2</xmin>" in text and "<xmax>55.8</xmax>" in text
    assert not any("truncated" in e.reason for e in out.loss.entries)


def test_all_annotations_of_a_task_are_kept(ls_dir, tmp_path):
    """LS writes only the oldest annotation of a task; we write every non-cancelled one."""
    ds = _tables(ls_dir)
    extra = ds.annotations[ds.annotations["item_id"] == 102].assign(ann_id=1000, set_id=7777, x=1.0)
    sets = pd.concat([ds.sets, pd.DataFrame([{"set_id": 7777, "item_id": 102, "source": "annotation",
                                              "annotator": "2", "cancelled": False}])], ignore_index=True)
    ds2 = aw.Dataset(items=ds.items, sets=sets, annotations=pd.concat([ds.annotations, extra], ignore_index=True))
    _export(ds2, tmp_path)
    text = (tmp_path / "out" / "Annotations" / "e5f6a7b8-park.xml").read_text()
    assert text.count("<object>") == 2 and "<xmin>1</xmin>" in text


def test_ls_layout_reads_back(ls_dir, tmp_path):
    ds = aw.load(str(ls_dir / "output" / "image_det" / "VOC"), format="Label Studio VOC")
    assert sorted(ds.items["name"]) == ["0a1b2c3d-legacy.png", "a1b2c3d4-street.png", "e5f6a7b8-park.png"]
    assert (ds.items["width"] == 120).all() and set(ds.items["subset"]) == {"default"}
    a = ds.annotations.merge(ds.items[["item_id", "name"]], on="item_id")
    park = a[a["name"] == "e5f6a7b8-park.png"].iloc[0]
    assert [park.x, park.y, park.x + park.w, park.y + park.h] == [22, 23, 55, 45]
    assert ds.items.set_index("name").loc["e5f6a7b8-park.png", "extra"]["source"]["annotator"] == "ann@example.com"
    assert len(a) == 4 and np.isclose(a["w"].sum(), 36 + 24 + 33 + 30)
