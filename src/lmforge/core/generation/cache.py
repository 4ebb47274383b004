"""Persistent response cache: one sqlite file, safe for several processes.

Keys are opaque hashes built by :class:`~lmforge.core.generation.base.Generator` from the
backend, model, every parameter that changes a sample, the prompt and the sample's seed.
Each sample is committed as soon as it is generated, so a killed job loses at most the
samples in flight.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from lmforge.core.paths import cache_root

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT NOT NULL, created REAL NOT NULL)"
_CHUNK = 500  # sqlite's limit on bound variables is 999 on old builds


class ResponseCache:
    """A key -> text store in sqlite (WAL mode, one connection per thread)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else cache_root() / "responses.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60)
            self._local.conn = conn
        return conn

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """Texts for ``keys`` in order, ``None`` where absent."""
        found: dict[str, str] = {}
        conn = self._connect()
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            found.update(conn.execute(f"SELECT key, text FROM responses WHERE key IN ({marks})", chunk))
        return [found.get(k) for k in keys]

    def put(self, key: str, text: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO responses (key, text, created) VALUES (?, ?, ?)", (key, text, time.time())
            )

    def __len__(self) -> int:
        return self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0]
