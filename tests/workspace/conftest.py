"""Fixtures of the workspace tests: a fresh workspace, small images, the test format."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from annowidgets.workspace import Workspace

from . import jsonfmt  # noqa: F401 - registers the test-only format


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


def make_images(folder: Path, n: int, size=(32, 24), prefix="img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{prefix}{i:03d}.png"
        Image.new("RGB", size, (i * 10 % 255, 0, 0)).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    make_images(folder, 10)
    return folder
