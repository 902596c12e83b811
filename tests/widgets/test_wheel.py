"""The wheel ships the front-end bundle (hatch-jupyter-builder builds it, `artifacts` includes it).

Builds a wheel from a clean copy of the checkout (tracked + untracked-but-not-ignored files, so
no prebuilt bundle and no node_modules leak in) and checks the listing, as lonboard's release job does.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("npm") is None or shutil.which("git") is None, reason="needs npm and git"),
]


def _clean_copy(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.split(b"\0")
    for rel in filter(None, files):
        src = ROOT / rel.decode()
        if src.is_file():
            target = dst / rel.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    if not (dst / "README.md").exists():  # hatchling validates the readme named in pyproject
        (dst / "README.md").write_text("# annowidgets\n")


def test_wheel_contains_the_bundle(tmp_path):
    src = tmp_path / "src"
    _clean_copy(src)
    assert not list((src / "annowidgets" / "static").glob("*.js")), "the copy must start without a bundle"
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("annowidgets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for widget in ("preview", "requests", "hierarchy", "export", "import"):
        assert f"annowidgets/static/{widget}.js" in names
        assert f"annowidgets/static/{widget}.css" in names
    js = zipfile.ZipFile(wheel).read("annowidgets/static/preview.js").decode()
    assert "export" in js and "aw-" in js  # an ES module with our prefixed classes, not an empty file
