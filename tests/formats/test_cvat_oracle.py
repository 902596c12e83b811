"""Interop: Datumaro (a peer, in its own venv) reads what we write. Skipped unless the lead's
oracle venv is given in ANNOWIDGETS_ORACLE_PYTHON."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

import annowidgets as aw

ORACLE = os.environ.get("ANNOWIDGETS_ORACLE_PYTHON")
pytestmark = [pytest.mark.oracle, pytest.mark.skipif(not ORACLE, reason="ANNOWIDGETS_ORACLE_PYTHON not set")]

SCRIPT = """
import json, sys
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[1], "cvat")
items = list(ds)
print(json.dumps({"items": len(items), "annotations": sum(len(i.annotations) for i in items)}))
"""


def test_datumaro_reads_our_images_export(tmp_path, datumaro_dir):
    ds = aw.load(str(datumaro_dir / "cvat_dataset/for_images/export_task"))
    out = ds.export(str(tmp_path / "out"), format="CVAT for images 1.1", save_images=True, archive=False)
    res = subprocess.run([ORACLE, "-c", SCRIPT, str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["items"] == len(ds.items)
    assert got["annotations"] == len(ds.annotations)
