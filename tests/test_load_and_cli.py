"""``load`` by folder layout and by CVAT's archive name; the CLI's info, progress and errors."""
from __future__ import annotations

import io
import shutil
import zipfile

import orjson
import pytest

import annowidgets as aw
from annowidgets.cli import ProgressBar, main

pytestmark = pytest.mark.fixtures


# -- Label Studio project folder: completions/<task_id>.json --------------------------------------
def _completions_project(ls_dir, root, with_tasks_json: bool):
    tasks = orjson.loads((ls_dir / "input/image/tasks.json").read_bytes())
    proj = root / "proj"
    (proj / "completions").mkdir(parents=True)
    if with_tasks_json:  # LS 0.x: tasks.json {id: task} holds the data, completions/ the results
        (proj / "tasks.json").write_bytes(orjson.dumps({str(t["id"]): {"id": t["id"], "data": t["data"]}
                                                        for t in tasks}))
    for t in tasks:
        t = dict(t)
        anns = t.pop("annotations", None) or t.pop("completions", None) or []
        rec = {"data": t["data"], "completions": anns, "predictions": t.get("predictions", [])}
        if with_tasks_json:
            rec.pop("data")
        (proj / "completions" / f"{t['id']}.json").write_bytes(orjson.dumps(rec))  # id only in the name
    shutil.copy(ls_dir / "input/image/config.xml", proj / "config.xml")
    return tasks, proj


@pytest.mark.parametrize("with_tasks_json", [True, False])
def test_project_folder_with_one_completion_file_per_task(ls_dir, tmp_path, with_tasks_json):
    tasks, proj = _completions_project(ls_dir, tmp_path, with_tasks_json)
    ds = aw.load(str(proj))
    assert ds.info["format"] == "Label Studio JSON"
    ref = aw.load(str(ls_dir / "input/image"))
    assert sorted(ds.items["item_id"].tolist()) == sorted(t["id"] for t in tasks)
    key = ["item_id", "region_id", "label", "type", "source"]
    got = ds.annotations[key].astype(str).sort_values(key).values.tolist()
    want = ref.annotations[key].astype(str).sort_values(key).values.tolist()
    assert got == want
    assert sorted(ds.sets["set_id"].tolist()) == sorted(ref.sets["set_id"].tolist())
    # the same project zipped
    arc = shutil.make_archive(str(tmp_path / "proj_zip"), "zip", proj)
    assert len(aw.load(arc).annotations) == len(ds.annotations)


# -- CVAT's default archive name ---------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["CVAT for images 1.1", "COCO 1.0", "PASCAL VOC 1.1"])
def test_load_recognises_cvat_default_archive_names(datumaro_dir, tmp_path, fmt):
    xml = datumaro_dir / "cvat_dataset/for_images/export_task/train.xml"
    with pytest.warns(aw.LossWarning) if fmt != "CVAT for images 1.1" else _nothing():
        path = aw.convert(str(xml), str(tmp_path / "x.zip"), to=fmt)
    name = f"task_3_annotations_2026_01_02_03_04_05_{fmt.lower()}.zip"
    named = tmp_path / name
    shutil.move(path, named)
    from annowidgets.formats import registry

    assert registry.format_from_filename(name).name == fmt
    ds = aw.load(str(named))
    assert ds.info["format"] == fmt and len(ds.items) == 2


def test_the_name_wins_over_content_sniffing(datumaro_dir, tmp_path):
    """A CVAT XML archive named as CVAT for video is read as such (CVAT's own convention)."""
    xml = datumaro_dir / "cvat_dataset/for_video/annotations.xml"
    named = tmp_path / "job_4_annotations_2020_04_23_09_05_02_cvat for video 1.1.zip"
    with zipfile.ZipFile(named, "w") as zf:
        zf.write(xml, "annotations.xml")
    ds = aw.load(str(named))
    assert ds.info["format"] == "CVAT for video 1.1" and ds.annotations["track_id"].nunique() == 3


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# -- CLI -------------------------------------------------------------------------------------------
def test_info_prints_counts_per_label_type_source_subsets_and_tasks(datumaro_dir, ls_dir, capsys):
    proj = datumaro_dir / "cvat_dataset/for_images/export_project/annotations.xml"
    assert main(["info", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "CVAT for images 1.1" in out
    assert "items: 6  annotations: 12" in out and "tasks: 3  jobs: 3" in out
    assert "subsets: Test=2, Train=2, Validation=2" in out
    assert "by type: bbox=3, polyline=3, polygon=3, points=3" in out
    assert "by label: label1=6, label2=6" in out
    assert "by source: annotation=12" in out
    assert main(["info", str(ls_dir / "input/image")]) == 0
    out = capsys.readouterr().out
    assert "Label Studio JSON" in out and "annotation=" in out and "prediction=2" in out


def test_info_and_convert_read_masks_as_polygons_on_request(datumaro_dir, tmp_path, capsys):
    coco = str(datumaro_dir / "coco_dataset/coco_instances")
    assert main(["info", coco]) == 0
    assert "mask=1" in capsys.readouterr().out
    assert main(["info", coco, "--to-polygons"]) == 0
    out = capsys.readouterr().out
    assert "polygon=2" in out and "bbox=1" in out and "mask=" not in out
    assert main(["convert", coco, str(tmp_path), "--to", "CVAT for images 1.1", "--to-polygons", "--name", "p"]) == 0
    assert aw.load(str(tmp_path / "p.zip")).annotations["type"].tolist() == ["bbox", "polygon", "polygon"]


def test_progress_bar_draws_and_finishes():
    buf = io.StringIO()
    bar = ProgressBar("-> COCO", stream=buf, force=True, width=10)
    for f in (0.0, 0.004, 0.5, 1.0):
        bar(f, "step")
    text = buf.getvalue()
    assert text.count("\r") == 3  # 0.004 is under the 1% step and not redrawn
    assert "[#####-----]  50.0%" in text and "[##########] 100.0%" in text and text.endswith("\n")
    quiet = io.StringIO()
    ProgressBar("x", stream=quiet)(0.5)  # not a terminal, not forced: silent
    assert quiet.getvalue() == ""


def test_convert_shows_progress_when_asked(datumaro_dir, tmp_path, capsys):
    xml = datumaro_dir / "cvat_dataset/for_images/export_task/train.xml"
    assert main(["convert", str(xml), str(tmp_path), "--to", "CVAT for images 1.1", "--progress"]) == 0
    err = capsys.readouterr().err
    assert "reading" in err and "100.0%" in err and "-> CVAT for images 1.1" in err


@pytest.mark.parametrize("case, reason", [
    ("missing", "no such file or folder"),
    ("truncated", "malformed XML"),
    ("doctype", "DOCTYPE"),
    ("unknown_format", "unknown format 'nope'"),
    ("undetectable", "no reader recognises this input"),
])
def test_bad_input_exits_non_zero_with_one_line_reason(tmp_path, capsys, case, reason):
    src = tmp_path / "in.xml"
    to = "CVAT for images 1.1"
    if case == "truncated":
        src.write_text('<?xml version="1.0"?>\n<annotations>\n  <version>1.1</version>\n  <image id="0" name="a"')
    elif case == "doctype":
        src.write_text('<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY e "x">]>\n<annotations><version>1.1</version>'
                       "</annotations>")
    elif case == "unknown_format":
        src.write_text("<annotations><version>1.1</version></annotations>")
        to = "nope"
    elif case == "undetectable":
        src = tmp_path / "notes.txt"
        src.write_text("hello")
    for argv in (["convert", str(src), str(tmp_path / "out"), "--to", to], ["info", str(src)]):
        if case == "unknown_format" and argv[0] == "info":
            continue
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 1, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("annowidgets: error: ") and reason in lines[0], err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["convert", "only-one-arg"])
    assert info.value.code == 2


def test_formats_is_both_the_table_and_the_package():
    import importlib

    import annowidgets as aw

    reg = importlib.import_module("annowidgets.formats.registry")
    import annowidgets.formats.registry as reg_as  # `import ... as` walks aw.formats: it must be the package

    assert reg_as is reg and "COCO 1.0" in set(aw.formats()["name"])


def test_cli_output_into_a_closed_pipe_is_quiet():
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m annowidgets formats | head -1", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.count("\n") == 1 and "error" not in proc.stderr.lower()


# -- export to a file name: the one file of a single-file format ----------------------------------
@pytest.mark.parametrize("fmt, fname", [("JSON", "tasks.json"), ("CVAT for images 1.1", "ann.xml"),
                                        ("CSV", "flat.csv"), ("JSON_MIN", "min.json")])
def test_export_to_a_file_name_writes_that_file(ls_dir, tmp_path, fmt, fname):
    ds = aw.load(str(ls_dir / "input/image/tasks.json"))
    out = ds.export(str(tmp_path / "sub" / fname), fmt, warn=False)
    assert out == str(tmp_path / "sub" / fname)
    assert (tmp_path / "sub" / fname).is_file()
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == [fname]  # no staging left over
    if fmt in ("JSON", "CVAT for images 1.1"):
        back = aw.load(out)
        assert len(back.annotations) == len(ds.annotations)


def test_export_to_a_file_name_of_a_many_file_format_fails_leaving_nothing(datumaro_dir, tmp_path):
    ds = aw.load(str(datumaro_dir / "coco_dataset/coco_instances"))
    with pytest.raises(ValueError, match="writes .* files"):
        ds.export(str(tmp_path / "out.json"), "YOLO 1.1", warn=False)
    assert list(tmp_path.iterdir()) == []


def test_export_to_a_file_name_refuses_save_images(ls_dir, tmp_path):
    ds = aw.load(str(ls_dir / "input/image/tasks.json"))
    with pytest.raises(ValueError, match="save_images"):
        ds.export(str(tmp_path / "out.json"), "JSON", save_images=True)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_named_like_a_file_is_still_a_folder(ls_dir, tmp_path):
    ds = aw.load(str(ls_dir / "input/image/tasks.json"))
    folder = tmp_path / "odd.json"
    folder.mkdir()
    out = ds.export(str(folder), "JSON", warn=False)
    assert out.startswith(str(folder) + "/") and out.endswith(".zip")
