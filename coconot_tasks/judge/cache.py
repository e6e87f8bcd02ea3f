"""Persistent verdict cache: SQLite (WAL, busy timeout), keyed by the content of a judge request
(without credentials); what it keys, migrates, refuses and counts is described in docs/reliability.md."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import tenacity

from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.paths import ENV_CACHE_DIR, cache_dir

#: The layout written by this version (``PRAGMA user_version``).
SCHEMA_VERSION = 2

_CREATE = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    judge_model TEXT NOT NULL,
    output TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    endpoint TEXT,
    served_model TEXT
)
"""
#: Columns added by schema 2 (NULL in rows written before: no endpoint recorded).
_ADDED_COLUMNS = ("endpoint", "served_model")

#: SQLite result codes meaning the file's content is not a usable database.
_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
#: ... and that another connection holds the lock.
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")

#: Filesystem types (``/proc/mounts``) on which SQLite's locking and WAL mode are unsafe.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "9p", "afs", "ncpfs", "coda",
        "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "davfs", "sshfs", "fuse.sshfs",
        "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse", "fuse.glusterfs", "fuse.ceph", "fuse.juicefs",
        "fuse.davfs", "fuse.goofys", "fuse.blobfuse", "fuse.blobfuse2",
    }
)  # fmt: skip


_OFF = "or turn the cache off with judge_cache=false"
_ELSEWHERE = f"set {ENV_CACHE_DIR} to another folder"
#: What is wrong with the cache file (or its folder), and the fix, by :attr:`CacheError.kind`.
_PROBLEMS = {
    "folder": (": cannot create {its} folder", f"Set {ENV_CACHE_DIR} to a writable folder, {_OFF}"),
    "corrupt": (
        " is not a usable SQLite database",
        f"Remove it with `coconot cache clear` (or move it aside), {_ELSEWHERE}, {_OFF}",
    ),
    "locked": (" stayed locked by another process", f"Wait for it to finish, {_ELSEWHERE}, {_OFF}"),
    "unwritable": (
        " cannot be opened for writing",
        f"Make the file and its folder writable, set {ENV_CACHE_DIR} to a writable folder, {_OFF}",
    ),
    "newer": (" was written by a newer coconot-tasks", f"Upgrade coconot-tasks, or {_ELSEWHERE}"),
}


class CacheError(JudgeConfigError):
    """The verdict cache file cannot be used (``kind``: corrupt, locked, unwritable, folder, newer);
    ``reason`` is what went wrong, ``path`` the file (``None``: the cache folder itself)."""

    def __init__(self, kind: str, reason: object, path: Path | None = None) -> None:
        what, fix = _PROBLEMS[kind]
        subject = f"CoCoNot judge cache {path}" if path else "CoCoNot judge cache"
        super().__init__(f"{subject}{what.format(its='its' if path else 'the cache')} ({reason}). {fix}.")
        self.kind = kind
        self.path = path


@dataclass(frozen=True)
class CachedOutput:
    """A judge output as stored, with the model id the endpoint reported (if it did)."""

    output: str
    prompt_tokens: int
    completion_tokens: int
    served_model: str | None = None


def request_key(
    judge_id: str, endpoint: str, prompt_version: str, messages: Any, decoding: dict[str, Any]
) -> str:
    """The content hash of one judge request to one ``endpoint`` (without credentials)."""
    payload = json.dumps(
        {
            "schema": SCHEMA_VERSION,
            "judge": judge_id,
            "endpoint": endpoint,
            "prompt_version": prompt_version,
            "messages": messages,
            "decoding": decoding,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def default_cache_path() -> Path:
    """The cache database file inside the cache directory (:class:`CacheError` if it cannot be made)."""
    try:
        return cache_dir() / "judge_cache.sqlite3"
    except OSError as exc:
        raise CacheError("folder", _os_reason(exc)) from None


def cache_files(path: Path) -> list[Path]:
    """The database file and SQLite's side files (WAL, shared memory, rollback journal) that exist."""
    candidates = [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
    return [p for p in candidates if p.is_file()]


def remove_cache_files(path: Path) -> list[Path]:
    """Delete the database file and its side files; return what was deleted."""
    removed = cache_files(path)
    for file in removed:
        file.unlink()
    return removed


def _os_reason(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _unusable(path: Path, exc: Exception) -> CacheError:
    """The one-line error for a cache file that SQLite cannot use, by SQLite's result code."""
    name = getattr(exc, "sqlite_errorname", "")
    kind = "corrupt" if name in _CORRUPT else "locked" if name in _BUSY else "unwritable"
    return CacheError(kind, exc, path)


class VerdictCache:
    """A thread-safe handle on the verdict cache; ``busy_timeout``: seconds to wait for another
    process's write lock before a write counts as failed."""

    def __init__(self, path: Path | None = None, *, busy_timeout: float = 60.0) -> None:
        self.path = path or default_cache_path()
        self._busy_timeout = busy_timeout
        self.read_failures = 0
        self.write_failures = 0
        #: The first failed read or write, for the report.
        self.first_failure: str | None = None
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError("folder", _os_reason(exc), self.path) from None
        try:
            # Autocommit mode: every statement is its own transaction unless BEGIN says otherwise.
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from None
        try:
            self._initialise()
        except sqlite3.Error as exc:
            self._conn.close()
            raise _unusable(self.path, exc) from None
        except CacheError:
            self._conn.close()
            raise

    def _initialise(self) -> None:
        # Two processes creating the same new database at once can see "database is locked"
        # while one switches it to WAL (SQLite does not always wait for that): try again.
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: getattr(e, "sqlite_errorname", "") in _BUSY),
            wait=tenacity.wait_random(0.01, 0.2),
            stop=tenacity.stop_after_delay(self._busy_timeout),
            reraise=True,
        ):
            with attempt, self._lock:
                self._conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
                self._conn.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit survives the process being killed (the resume case)
                # without an fsync per verdict, which would stall the judge's event loop.
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._migrate()

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            reason = f"cache schema {version}, this version reads up to {SCHEMA_VERSION}"
            raise CacheError("newer", reason, self.path)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again inside the write lock: another process may have migrated meanwhile.
            if int(self._conn.execute("PRAGMA user_version").fetchone()[0]) != SCHEMA_VERSION:
                self._conn.execute(_CREATE)
                columns = {row[1] for row in self._conn.execute("PRAGMA table_info(verdicts)")}
                for column in _ADDED_COLUMNS:
                    if column not in columns:
                        self._conn.execute(f"ALTER TABLE verdicts ADD COLUMN {column} TEXT")
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def check(self) -> None:
        """Check that the whole file is intact and that a verdict can be written (nothing is kept)."""
        try:
            with self._lock:
                problems = [row[0] for row in self._conn.execute("PRAGMA quick_check")]
                if problems != ["ok"]:  # damage comes back as rows, not as an error
                    reason = f"integrity check: {'; '.join(map(str, problems[:3]))}"
                    raise CacheError("corrupt", reason, self.path)
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO verdicts (key, judge_model, output, created) "
                        "VALUES ('coconot-write-check', '', '', 0)"
                    )
                finally:
                    self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from None

    def _failed(self, action: str, exc: sqlite3.Error) -> None:
        if self.first_failure is None:
            self.first_failure = f"{action} {self.path}: {exc}"

    def get(self, key: str) -> CachedOutput | None:
        """Return the stored output for ``key``, if any; a failed read counts as a miss."""
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT output, prompt_tokens, completion_tokens, served_model FROM verdicts "
                    "WHERE key = ?",
                    (key,),
                ).fetchone()
        except sqlite3.Error as exc:
            self.read_failures += 1
            self._failed("reading", exc)
            return None
        if row is None:
            return None
        return CachedOutput(row[0], int(row[1]), int(row[2]), row[3] or None)

    def put(self, key: str, judge_model: str, entry: CachedOutput, endpoint: str) -> bool:
        """Store one output at once; return ``False`` (counted, not raised) if the write failed."""
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT OR REPLACE INTO verdicts (key, judge_model, output, prompt_tokens, "
                    "completion_tokens, created, endpoint, served_model) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, judge_model, entry.output, entry.prompt_tokens, entry.completion_tokens,
                     time.time(), endpoint, entry.served_model or ""),
                )  # fmt: skip
        except sqlite3.Error as exc:
            self.write_failures += 1
            self._failed("writing", exc)
            return False
        return True

    def stats(self, mounts_table: str | None = None) -> dict[str, Any]:
        """Entries per judge and endpoint, legacy entries, file size, and the folder's filesystem."""
        with self._lock:
            per_judge = dict(
                self._conn.execute(
                    "SELECT judge_model, COUNT(*) FROM verdicts GROUP BY judge_model ORDER BY judge_model"
                ).fetchall()
            )
            per_endpoint = dict(
                self._conn.execute(
                    "SELECT endpoint, COUNT(*) FROM verdicts WHERE endpoint IS NOT NULL "
                    "GROUP BY endpoint ORDER BY endpoint"
                ).fetchall()
            )
            legacy = self._conn.execute("SELECT COUNT(*) FROM verdicts WHERE endpoint IS NULL").fetchone()[0]
        return {
            "path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            "entries": sum(int(n) for n in per_judge.values()),
            "per_judge": {str(k): int(v) for k, v in per_judge.items()},
            "per_endpoint": {str(k): int(v) for k, v in per_endpoint.items()},
            "legacy_entries": int(legacy),
            "bytes": sum(p.stat().st_size for p in cache_files(self.path)),
            "filesystem": filesystem_type(self.path.parent, mounts_table),
        }

    def clear(self, judge_model: str | None = None, *, legacy: bool = False) -> int:
        """Delete all entries, those of one judge, or (``legacy``) those before schema 2; return how many."""
        query = "DELETE FROM verdicts WHERE endpoint IS NULL" if legacy else "DELETE FROM verdicts"
        params: tuple[str, ...] = ()
        if judge_model is not None:
            query += (" AND" if legacy else " WHERE") + " judge_model = ?"
            params = (judge_model,)
        with self._lock:
            return int(self._conn.execute(query, params).rowcount)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


# --- which filesystem holds the cache -------------------------------------------------------


def _unescape_mount_field(field: str) -> str:
    """``/proc/mounts`` writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_type(folder: Path, mounts_table: str | None = None) -> str | None:
    """The filesystem type of the mount holding ``folder`` (symlinks resolved), or ``None`` (not Linux).

    ``mounts_table`` is the text of ``/proc/mounts`` (read when not given).
    """
    if mounts_table is None:
        try:
            mounts_table = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = PurePosixPath(os.path.realpath(folder))
    best: tuple[int, str] | None = None
    for line in mounts_table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = PurePosixPath(_unescape_mount_field(fields[1]))
        if target == mount_point or target.is_relative_to(mount_point):
            depth = len(mount_point.parts)
            if best is None or depth >= best[0]:  # the last of equal mounts is the visible one
                best = (depth, fields[2])
    return None if best is None else best[1]


def network_filesystem(folder: Path, mounts_table: str | None = None) -> str | None:
    """The type of the network filesystem holding ``folder``; ``None`` if it is local or unknown."""
    fstype = filesystem_type(folder, mounts_table)
    return fstype if fstype is not None and fstype.lower() in NETWORK_FILESYSTEMS else None
