"""Rewrite the README's generated tables (schema, formats) from the code: ``./dev readme``."""
from __future__ import annotations

import re
from pathlib import Path

import annowidgets as aw
from annowidgets.core import schema
from annowidgets.formats import registry

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    aw.formats()  # loads every format module
    text = README.read_text()
    for tag, block in (("schema", schema.markdown()), ("formats", registry.markdown())):
        text = re.sub(rf"(<!-- {tag}:start.*?-->\n).*(<!-- {tag}:end -->)",
                      lambda m, b=block: m.group(1) + b + m.group(2), text, flags=re.S)
    README.write_text(text)


if __name__ == "__main__":
    main()
