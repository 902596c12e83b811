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


_FIXTURE_ARGS = {"datumaro_dir", "ls_dir"}
_FIXTURE_GLOBALS = ("FIXTURES", "DATUMARO", "LABEL_STUDIO")


def _needs_samples(item) -> bool:
    """Marked ``fixtures``, asks for a samples folder, or its module imports one from here."""
    if "fixtures" in item.keywords or _FIXTURE_ARGS & set(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    return any(getattr(module, name, None) is not None for name in _FIXTURE_GLOBALS)


def pytest_collection_modifyitems(config, items):
    if not FIXTURES.is_dir():
        skip = pytest.mark.skip(reason=f"sample fixtures not found at {FIXTURES} (set ANNOWIDGETS_FIXTURES)")
        for item in items:
            if _needs_samples(item):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def datumaro_dir() -> Path:
    return DATUMARO


@pytest.fixture(scope="session")
def ls_dir() -> Path:
    return LABEL_STUDIO


@pytest.fixture(scope="session")
def oracle():
    """Run a snippet in the peer tools' own venv (datumaro, label-studio-sdk, pycocotools).

    The peers pin older pandas/numpy, so they live in a separate virtual environment
    (``./dev test`` builds it and sets ``ANNOWIDGETS_ORACLE_PYTHON``); the snippet prints one
    JSON document on stdout, which is returned parsed. Skipped when the venv is not there.
    """
    import json
    import subprocess

    python = os.environ.get("ANNOWIDGETS_ORACLE_PYTHON")
    if not python or not Path(python).exists():
        pytest.skip("oracle venv not built (ANNOWIDGETS_ORACLE_PYTHON unset); ./dev test builds it")

    def run(code: str, *args: str, timeout: float = 300) -> object:
        proc = subprocess.run([python, "-c", code, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"oracle failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run
