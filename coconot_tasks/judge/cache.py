"""Persistent verdict cache: SQLite, keyed by the content of a judge request.

The key covers the judge backend and model, the prompt version, the exact messages
(rubric, question and response included) and the decoding settings, so a verdict is
reused only for an identical request. Each verdict is written as soon as it arrives
(a killed run resumes with only the missing calls). WAL mode and a busy timeout make
two processes writing at once safe. No credentials are ever part of a key or a row.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tenacity

from coconot_tasks.paths import cache_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    judge_model TEXT NOT NULL,
    output TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True)
class CachedOutput:
    """A judge output as stored."""

    output: str
    prompt_tokens: int
    completion_tokens: int


def request_key(judge_id: str, prompt_version: str, messages: Any, decoding: dict[str, Any]) -> str:
    """Return the content hash identifying one judge request."""
    payload = json.dumps(
        {"judge": judge_id, "prompt_version": prompt_version, "messages": messages, "decoding": decoding},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def default_cache_path() -> Path:
    """The cache database file inside the cache directory."""
    return cache_dir() / "judge_cache.sqlite3"


class VerdictCache:
    """A thread-safe handle on the SQLite verdict cache."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False)
        # Two processes creating the same new database at once can see "database is locked"
        # while one switches it to WAL (SQLite does not always wait for that): try again.
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(sqlite3.OperationalError),
            wait=tenacity.wait_random(0.01, 0.2),
            stop=tenacity.stop_after_delay(60),
            reraise=True,
        ):
            with attempt, self._lock:
                self._conn.execute("PRAGMA busy_timeout=60000")
                self._conn.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit survives the process being killed (the resume case)
                # without an fsync per verdict, which would stall the judge's event loop.
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute(_SCHEMA)
                self._conn.commit()

    def get(self, key: str) -> CachedOutput | None:
        """Return the stored output for ``key``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT output, prompt_tokens, completion_tokens FROM verdicts WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else CachedOutput(row[0], int(row[1]), int(row[2]))

    def put(self, key: str, judge_model: str, entry: CachedOutput) -> None:
        """Store one output and commit at once."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?)",
                (key, judge_model, entry.output, entry.prompt_tokens, entry.completion_tokens, time.time()),
            )
            self._conn.commit()

    def stats(self) -> dict[str, Any]:
        """Entries per judge model, total entries and file size in bytes."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT judge_model, COUNT(*) FROM verdicts GROUP BY judge_model ORDER BY judge_model"
            ).fetchall()
        per_model = {str(model): int(count) for model, count in rows}
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {
            "path": str(self.path),
            "entries": sum(per_model.values()),
            "per_judge": per_model,
            "bytes": size,
        }

    def clear(self, judge_model: str | None = None) -> int:
        """Delete all entries, or those of one judge; return how many were deleted."""
        with self._lock:
            if judge_model is None:
                cursor = self._conn.execute("DELETE FROM verdicts")
            else:
                cursor = self._conn.execute("DELETE FROM verdicts WHERE judge_model = ?", (judge_model,))
            self._conn.commit()
            return int(cursor.rowcount)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
