"""The verdict cache when things go wrong: corrupt, truncated, unwritable or misplaced files,
old-schema files, failed reads and writes mid-run, network filesystems, and `coconot cache`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coconot_tasks.benchmark.dataset import load_rows
from coconot_tasks.benchmark.official_files import rubric_for
from coconot_tasks.judge.backends import request_shape
from coconot_tasks.judge.cache import (
    SCHEMA_VERSION,
    CachedOutput,
    CacheError,
    VerdictCache,
    filesystem_type,
    network_filesystem,
)
from coconot_tasks.judge.engine import JudgeItem, judge_items
from coconot_tasks.judge.preflight import check_cache
from coconot_tasks.judge.prompt import PROMPT_VERSION, judge_messages
from coconot_tasks.judge.settings import JudgeSettings
from tests.test_cache_and_cli import run_cli
from utils.fake_openai import FakeOpenAI, judge_decision, model_response

ENDPOINT = "http://127.0.0.1:1/v1"

#: The cache layout before schema 2, as the first release created it.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    judge_model TEXT NOT NULL,
    output TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""


def old_request_key(judge_id: str, prompt_version: str, messages: Any, decoding: dict[str, Any]) -> str:
    """How the first release keyed a request (no endpoint)."""
    payload = json.dumps(
        {"judge": judge_id, "prompt_version": prompt_version, "messages": messages, "decoding": decoding},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def make_old_cache(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """A cache file as the first release wrote it: (key, judge, output) rows, WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(OLD_SCHEMA)
    conn.executemany("INSERT INTO verdicts VALUES (?, ?, ?, 11, 7, 0)", rows)
    conn.commit()
    conn.close()


def make_filled_cache(path: Path, n: int = 400) -> None:
    cache = VerdictCache(path)
    for i in range(n):
        cache.put(f"k{i}", "openai:j", CachedOutput("<label>ACCEPTABLE</label> " + "x" * 300, 1, 1), ENDPOINT)
    cache.close()


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make the file ``path`` unwritable even for root (immutable attribute), or skip."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        try:
            yield
        finally:
            path.parent.chmod(0o755)
            path.chmod(0o644)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
        pytest.skip("cannot make a file unwritable for root here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# --- files that cannot be used are refused, naming the file and the fix ----------------------


def test_garbage_file_is_refused_with_file_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "judge_cache.sqlite3"
    path.write_bytes(b"not a database at all\n" * 50)
    with pytest.raises(CacheError) as info:
        VerdictCache(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "coconot cache clear" in message and "judge_cache=false" in message
    assert info.value.kind == "corrupt" and info.value.path == path


@pytest.mark.parametrize("keep", [0.5, 0.02], ids=["half", "header-only"])
def test_truncated_file_is_refused_by_the_check(tmp_path: Path, keep: float) -> None:
    path = tmp_path / "judge_cache.sqlite3"
    make_filled_cache(path)
    with path.open("r+b") as handle:
        handle.truncate(int(path.stat().st_size * keep))
    with pytest.raises(CacheError) as info:
        check_cache(path)
    assert info.value.kind == "corrupt" and str(path) in str(info.value)


@pytest.fixture
def blocker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A regular file, with COCONOT_CACHE_DIR pointing at a folder under it."""
    path = tmp_path / "a-file"
    path.write_text("x")
    monkeypatch.setenv("COCONOT_CACHE_DIR", str(path / "cache"))
    return path


def test_cache_folder_under_a_regular_file_is_refused(blocker: Path) -> None:
    with pytest.raises(CacheError) as info:
        check_cache()
    assert "COCONOT_CACHE_DIR" in str(info.value) and str(blocker) in str(info.value)
    with pytest.raises(CacheError):
        check_cache(blocker / "sub" / "judge_cache.sqlite3")


def test_unwritable_file_opens_but_fails_the_check(tmp_path: Path) -> None:
    path = tmp_path / "judge_cache.sqlite3"
    make_filled_cache(path, 3)
    with unwritable(path), pytest.raises(CacheError) as info:
        check_cache(path)
    assert info.value.kind == "unwritable"
    assert str(path) in str(info.value) and "writable" in str(info.value)


def test_a_healthy_cache_passes_the_check_and_keeps_nothing_from_it(tmp_path: Path) -> None:
    path = tmp_path / "judge_cache.sqlite3"
    make_filled_cache(path, 3)
    check_cache(path)
    cache = VerdictCache(path)
    try:
        assert cache.stats()["entries"] == 3  # the write probe was rolled back
    finally:
        cache.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "judge_cache.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CacheError, match="newer coconot-tasks") as info:
        VerdictCache(path)
    assert info.value.kind == "newer"


# --- an old-schema cache file stays readable and is never mixed in ----------------------------


@pytest.fixture
def judge_env_settings(judge_env: FakeOpenAI) -> JudgeSettings:
    return JudgeSettings.resolve({"judge_model": "fake-judge", "judge_base_url": judge_env.url})


def _items(n: int) -> list[JudgeItem]:
    rows = [r for r in load_rows("original") if model_response(r["prompt"]).strip()][:n]
    return [
        JudgeItem(
            "original", r["prompt"], model_response(r["prompt"]), r["subcategory"], r["category"], r["id"]
        )
        for r in rows
    ]


def test_old_schema_rows_are_migrated_but_never_served(
    judge_env: FakeOpenAI, judge_env_settings: JudgeSettings, isolated_env: Path
) -> None:
    items = _items(6)
    settings = judge_env_settings
    # the first release's cache holds a (wrong) verdict for every item, under its own keys
    rows = []
    for item in items:
        messages = judge_messages(item.set_name, item.prompt, item.response, rubric_for(item.subcategory))
        key = old_request_key(settings.judge_id, PROMPT_VERSION, messages, request_shape(settings).params)
        rows.append((key, settings.judge_id, "stale <label>NEITHER</label>"))
    path = isolated_env / "judge_cache.sqlite3"
    make_old_cache(path, rows)

    results, stats = judge_items(items, settings, progress=False)

    assert [r.verdict for r in results] == [judge_decision("original", i.prompt, i.response) for i in items]
    assert stats.cached == 0 and judge_env.state.judge_answers == len(items)
    assert {r.endpoint for r in results} == {judge_env.url}
    cache = VerdictCache(path)
    try:
        shown = cache.stats()
        assert shown["legacy_entries"] == len(items)
        assert shown["entries"] == 2 * len(items)
        assert shown["per_endpoint"] == {judge_env.url: len(items)}
        assert cache.clear(legacy=True) == len(items)
        assert cache.stats()["entries"] == len(items)
    finally:
        cache.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# --- failures after opening: a read is a miss, a write keeps the verdict ---------------------


def test_failed_reads_are_misses_and_failed_writes_keep_the_verdicts(
    judge_env: FakeOpenAI, judge_env_settings: JudgeSettings, tmp_path: Path
) -> None:
    items = _items(5)
    path = tmp_path / "judge_cache.sqlite3"
    cache = VerdictCache(path)
    other = sqlite3.connect(path)
    other.execute("DROP TABLE verdicts")  # e.g. another tool breaks the file while we run
    other.close()
    try:
        results, stats = judge_items(items, judge_env_settings, cache=cache, progress=False)
    finally:
        cache.close()
    assert [r.outcome for r in results] == ["judged"] * len(items)
    assert [r.verdict for r in results] == [judge_decision("original", i.prompt, i.response) for i in items]
    assert stats.errors == 0
    assert stats.cache_read_failures == len(items) and stats.cache_write_failures == len(items)
    assert stats.cache_problem is not None and "no such table" in stats.cache_problem


def test_a_write_blocked_by_another_writer_keeps_the_verdict(
    judge_env: FakeOpenAI, judge_env_settings: JudgeSettings, tmp_path: Path
) -> None:
    items = _items(3)
    path = tmp_path / "judge_cache.sqlite3"
    cache = VerdictCache(path, busy_timeout=0.1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        results, stats = judge_items(items, judge_env_settings, cache=cache, progress=False)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    try:
        assert [r.verdict for r in results] == [
            judge_decision("original", i.prompt, i.response) for i in items
        ]
        assert stats.cache_read_failures == 0 and stats.cache_write_failures == len(items)
        assert stats.cache_problem is not None and "locked" in stats.cache_problem
        assert cache.stats()["entries"] == 0
    finally:
        cache.close()


def test_a_cache_that_breaks_after_the_check_does_not_stop_judging(
    judge_env: FakeOpenAI, judge_env_settings: JudgeSettings, isolated_env: Path
) -> None:
    isolated_env.mkdir(parents=True, exist_ok=True)
    (isolated_env / "judge_cache.sqlite3").write_bytes(b"garbage" * 100)
    items = _items(3)
    results, stats = judge_items(items, judge_env_settings, progress=False)
    assert all(r.ok for r in results)
    assert stats.cache_problem is not None and "not a usable SQLite database" in stats.cache_problem


# --- network filesystems --------------------------------------------------------------------

MOUNTS = "\n".join(
    [
        "/dev/vda / ext4 rw,relatime 0 0",
        "server:/export /mnt/shared nfs4 rw,relatime,vers=4.2 0 0",
        "me@host:/home /mnt/shared/remote fuse.sshfs rw,nosuid 0 0",
        "tmpfs /mnt/shared/remote/scratch tmpfs rw 0 0",
        "//nas/share /mnt/with\\040space cifs rw 0 0",
        "",
    ]
)


@pytest.mark.parametrize(
    ("folder", "fstype", "network"),
    [
        ("/mnt/shared/coconot", "nfs4", True),
        ("/mnt/shared", "nfs4", True),
        ("/mnt/shared/remote/cache", "fuse.sshfs", True),
        ("/mnt/shared/remote/scratch/cache", "tmpfs", False),
        ("/mnt/with space/cache", "cifs", True),
        ("/mnt/sharedother/cache", "ext4", False),
        ("/home/me/.cache", "ext4", False),
    ],
)
def test_filesystem_of_a_folder_from_a_mounts_table(folder: str, fstype: str, network: bool) -> None:
    assert filesystem_type(Path(folder), MOUNTS) == fstype
    assert (network_filesystem(Path(folder), MOUNTS) is not None) is network


def test_check_warns_when_the_cache_is_on_a_network_filesystem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "judge_cache.sqlite3"
    local = "/dev/vda / ext4 rw 0 0\n"
    remote = local + f"server:/export {os.path.realpath(tmp_path)} nfs rw 0 0\n"
    with caplog.at_level(logging.WARNING, logger="coconot_tasks"):
        check_cache(path, mounts_table=local)
        assert not caplog.records
        check_cache(path, mounts_table=remote)
    [record] = caplog.records
    assert str(path) in record.getMessage() and "network filesystem (nfs)" in record.getMessage()
    assert "COCONOT_CACHE_DIR" in record.getMessage()


# --- `coconot cache` on a file that cannot be used ------------------------------------------


def test_cli_stats_and_clear_on_a_corrupt_file(isolated_env: Path) -> None:
    db = isolated_env / "judge_cache.sqlite3"
    isolated_env.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"garbage" * 100)

    stats = run_cli("cache", "stats")
    assert stats.returncode == 1
    assert stats.stderr.count("\n") == 1 and "Traceback" not in stats.stderr
    assert str(db) in stats.stderr and "coconot cache clear" in stats.stderr

    only_one = run_cli("cache", "clear", "--judge", "openai:x")
    assert only_one.returncode == 1 and db.is_file()

    cleared = run_cli("cache", "clear")
    assert cleared.returncode == 0, cleared.stderr
    assert str(db) in cleared.stdout and not db.exists()
    fresh = run_cli("cache", "stats")
    assert fresh.returncode == 0 and json.loads(fresh.stdout)["entries"] == 0


def test_cli_clear_remove_deletes_the_file(isolated_env: Path) -> None:
    cache = VerdictCache()
    cache.put("k", "openai:j", CachedOutput("<label>ACCEPTABLE</label>", 1, 1), ENDPOINT)
    cache.close()
    db = isolated_env / "judge_cache.sqlite3"
    cleared = run_cli("cache", "clear", "--remove")
    assert cleared.returncode == 0, cleared.stderr
    assert "removed 1 cached verdicts" in cleared.stdout and not db.exists()


def test_cli_reports_a_cache_folder_under_a_regular_file(blocker: Path) -> None:
    for action in ("stats", "clear"):
        proc = run_cli("cache", action)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "COCONOT_CACHE_DIR" in proc.stderr and blocker.read_text() == "x"


def test_cli_stats_shows_legacy_entries_of_an_old_cache(isolated_env: Path) -> None:
    make_old_cache(isolated_env / "judge_cache.sqlite3", [("k1", "openai:gpt-3.5-turbo", "<label>X</label>")])
    shown = json.loads(run_cli("cache", "stats").stdout)
    assert shown["legacy_entries"] == 1 and shown["per_judge"] == {"openai:gpt-3.5-turbo": 1}
    assert shown["schema_version"] == SCHEMA_VERSION
    cleared = run_cli("cache", "clear", "--legacy")
    assert cleared.returncode == 0 and "removed 1 cached verdicts" in cleared.stdout
