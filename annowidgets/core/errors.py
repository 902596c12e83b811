"""Errors that name the file, the place in it, and what was expected."""
from __future__ import annotations


class AnnowidgetsError(Exception):
    """Base of every error this library raises on purpose."""


class FormatError(AnnowidgetsError, ValueError):
    """Input that is not what its format requires.

    ``FormatError("a.xml", "expected attribute 'label'", line=12, element="box")`` reads
    ``a.xml:12: <box>: expected attribute 'label'``.
    """

    def __init__(self, file: str, message: str, *, line: int | None = None, element: str | None = None,
                 position: int | None = None):
        self.file = str(file)
        self.line = line
        self.element = element
        self.position = position
        self.detail = message
        where = self.file
        if line is not None:
            where += f":{line}"
        if position is not None:
            where += f" (char {position})"
        if element:
            where += f": <{element}>"
        super().__init__(f"{where}: {message}")


class UnsafeInputError(FormatError):
    """Input refused for safety: DTDs/entities in XML, zip entries escaping the target, bombs."""


class UnknownFormatError(AnnowidgetsError, ValueError):
    """A format name that resolves to nothing, or input no reader recognises."""
