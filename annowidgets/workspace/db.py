"""SQLite connections for the workspace: WAL, busy timeout, foreign keys, migrations.

Every thread gets its own connection (sqlite3 objects must not cross threads), opened in
autocommit mode so that :func:`transaction` decides where a transaction starts: ``BEGIN
IMMEDIATE`` takes the write lock up front, so two kernels never both read-then-write and
lose an update; the loser waits up to ``busy_timeout`` instead of failing.
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

#: How long a writer waits for another kernel's transaction before giving up (ms).
BUSY_TIMEOUT_MS = 60_000


def connect(path: str) -> sqlite3.Connection:
    """A connection with the workspace's pragmas; rows come back as plain tuples."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode!r}); is the folder on a network share?")
    conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no committed transaction's integrity
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception (also KeyboardInterrupt)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, migrations: list[str]) -> int:
    """Bring the database to ``len(migrations)``; return the version it was at.

    ``schema_version`` holds one row per applied migration. Each migration runs in the same
    transaction as its version row, so a crash mid-way leaves the previous version intact.
    A database newer than this code is refused rather than silently misread.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
    with transaction(conn):
        current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        if current > len(migrations):
            raise RuntimeError(f"the workspace database is at schema version {current}, newer than this "
                               f"annowidgets understands ({len(migrations)}); upgrade annowidgets")
        for version in range(current + 1, len(migrations) + 1):
            for statement in _statements(migrations[version - 1]):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, datetime('now'))", (version,))
    return current


def _statements(script: str) -> list[str]:
    """Split a migration script on ``;`` (our scripts hold no ``;`` inside literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
