"""The packaged sample: the workspace the tour notebook builds (tasks, jobs, predictions)."""
from __future__ import annotations

import pytest

from annowidgets.sample import SUBSETS, sample_workspace


@pytest.fixture
def ws(tmp_path):
    w = sample_workspace(tmp_path / "tour")
    yield w
    w.close()


def test_sample_workspace_has_tasks_jobs_and_predictions(ws, tmp_path):
    (project,) = ws.tree()
    assert project["name"] == "sample" and project["labels"] == 4
    tasks = {t["name"]: t for t in project["tasks"]}
    assert {name: t["items"] for name, t in tasks.items()} == SUBSETS
    # segment size 4: train (6 frames) -> jobs 0-3, 4-5; val (4 frames) -> one job
    assert [(j["start"], j["stop"]) for j in tasks["train"]["jobs"]] == [(0, 3), (4, 5)]
    assert [(j["start"], j["stop"]) for j in tasks["val"]["jobs"]] == [(0, 3)]
    for t in tasks.values():
        # 5 ground-truth shapes per image (car, car, person, tree, road) and some predictions
        assert t["annotations"]["annotation"] == 5 * t["items"]
        assert t["annotations"]["prediction"] > 0
    # the images live inside the workspace folder, so it is self-contained
    items = ws.project("sample").task("val").items
    assert not items["name"].str.contains("/").any()  # the task is the subset; no "val/" in the names
    media = items["media"]
    assert media.str.startswith(str(tmp_path / "tour" / "sample-images")).all()
    assert {"detector-v1", "detector-v2"} <= set(ws.project("sample").dataset().sets["model_version"].dropna())


def test_sample_workspace_reused_then_reset(ws, tmp_path):
    path = tmp_path / "tour"
    ws.project("sample").task("train").export("COCO 1.0").wait(30)
    ws.close()
    again = sample_workspace(path)
    try:
        assert len(again.projects) == 1 and len(again.requests()) == 1  # reused, not duplicated
    finally:
        again.close()
    fresh = sample_workspace(path, reset=True)
    try:
        assert len(fresh.projects) == 1 and len(fresh.requests()) == 0
    finally:
        fresh.close()


def test_sample_workspace_reset_refuses_a_folder_that_is_not_a_workspace(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an annowidgets workspace"):
        sample_workspace(tmp_path, reset=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
