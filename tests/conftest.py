"""Shared fixtures: where the real sample exports live."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _find_fixtures() -> Path:
    """../shared/fixtures beside the checkout (CI clones main with shared/ beside it)."""
    if os.environ.get("ANNOWIDGETS_FIXTURES"):
        return Path(os.environ["ANNOWIDGETS_FIXTURES"])
    for parent in ROOT.parents:
        candidate = parent / "shared" / "fixtures"
        if candidate.is_dir():
            return candidate
    return ROOT.parent / "shared" / "fixtures"


FIXTURES = _find_fixtures()
DATUMARO = FIXTURES / "datumaro"
LABEL_STUDIO = FIXTURES / "label-studio"


def pytest_collection_modifyitems(config, items):
    if not FIXTURES.exists():
        skip = pytest.mark.skip(reason=f"sample fixtures not found at {FIXTURES}")
        for item in items:
            if "fixtures" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def datumaro_dir() -> Path:
    return DATUMARO


@pytest.fixture(scope="session")
def ls_dir() -> Path:
    return LABEL_STUDIO
