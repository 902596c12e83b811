"""The README's promises: its schema table is the schema, and its commands exist."""
from __future__ import annotations

import os
import re

from annowidgets.core import schema

from .conftest import ROOT


def test_readme_schema_table_is_the_schema():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- schema:start.*?-->\n(.*)<!-- schema:end -->", text, re.S).group(1)
    assert block == schema.markdown(), "README schema table is stale: run ./dev readme"


def test_readme_formats_table_is_the_registry():
    import annowidgets as aw
    from annowidgets.formats import registry

    aw.formats()  # loads every format module
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- formats:start.*?-->\n(.*)<!-- formats:end -->", text, re.S).group(1)
    assert block == registry.markdown(), "README formats table is stale: run ./dev readme"


def test_readme_commands_exist():
    text = (ROOT / "README.md").read_text()
    for cmd in re.findall(r"^\./dev (\w+)", text, re.M):
        assert re.search(rf"^\s+{cmd}\)", (ROOT / "dev").read_text(), re.M), cmd
    assert os.access(ROOT / "dev", os.X_OK) and os.access(ROOT / ".ci" / "run", os.X_OK)
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()
