"""Say what a target format could not carry, instead of dropping it silently.

A writer calls ``report.add(table, rows, reason)`` for every group of rows it cannot
represent; the export then warns once with a summary and returns the report on its result.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import pandas as pd


class LossWarning(UserWarning):
    """Some rows or fields could not be written in the target format."""


@dataclass
class LossEntry:
    table: str
    rows: list
    reason: str

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass
class LossReport:
    """What an export (or a lossy read) left out, grouped by reason."""

    format: str = ""
    entries: list[LossEntry] = field(default_factory=list)

    def add(self, table: str, rows, reason: str) -> None:
        """Record that ``rows`` (ids or index labels) of ``table`` were not written, and why."""
        rows = list(rows.tolist() if hasattr(rows, "tolist") else rows)
        if rows:
            self.entries.append(LossEntry(table, rows, reason))

    def add_mask(self, table: str, df: pd.DataFrame, mask, reason: str, key: str | None = None) -> None:
        """Record the rows of ``df`` selected by boolean ``mask``, by ``key`` column if given."""
        if mask is None or not bool(getattr(mask, "any", lambda: mask)()):
            return
        sel = df[mask]
        self.add(table, sel[key] if key else sel.index, reason)

    def extend(self, other: "LossReport") -> None:
        self.entries.extend(other.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return sum(e.count for e in self.entries)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"table": e.table, "count": e.count, "reason": e.reason, "rows": e.rows} for e in self.entries],
            columns=["table", "count", "reason", "rows"],
        )

    def summary(self) -> str:
        if not self.entries:
            return f"{self.format or 'export'}: nothing lost"
        parts = [f"{e.count} {e.table} row(s): {e.reason}" for e in self.entries]
        return f"{self.format or 'export'} could not carry " + "; ".join(parts)

    def warn(self, stacklevel: int = 3) -> None:
        if self.entries:
            warnings.warn(self.summary(), LossWarning, stacklevel=stacklevel)

    def __repr__(self) -> str:
        return f"LossReport({self.summary()!r})"


class ExportResult(str):
    """The path or URL of an export; behaves as a ``str`` and carries the ``loss`` report."""

    loss: LossReport

    def __new__(cls, path: str, loss: LossReport | None = None):
        obj = super().__new__(cls, path)
        obj.loss = loss or LossReport()
        return obj
