"""Shared fixtures: an isolated environment, the offline data, the loopback fake server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `utils.fake_openai` (a dev tool, not installed)

from utils.fake_openai import FakeOpenAI  # noqa: E402

SHARED_DATA = Path(os.environ.get("COCONOT_TEST_DATA", REPO.parent / "shared" / "coconot"))
JUDGE_KEY = "sk-judge-SECRET-4f1d2c"

_CLEARED = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "COCONOT_JUDGE_API_KEY",
    "COCONOT_RUBRIC_PATH",
    "COCONOT_SYSTEM_PROMPT_PATH",
    "COCONOT_RESOURCE_BASE_URL",
    "COCONOT_DATA_DIR",
    "COCONOT_XSTEST_DIR",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing reads or writes the user's caches, and no real key leaks in."""
    for name in {*_CLEARED, *(n for n in os.environ if n.startswith("COCONOT_JUDGE_"))}:
        # set-then-delete makes monkeypatch remember "unset", so a value a test leaks into
        # os.environ directly is removed again at teardown
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    cache = tmp_path / "coconot-cache"
    monkeypatch.setenv("COCONOT_CACHE_DIR", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    return cache


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The official CoCoNot files from ../shared/coconot (skips when absent)."""
    if not (SHARED_DATA / "coconot_eval.jsonl").is_file():
        pytest.skip(f"offline CoCoNot data not found at {SHARED_DATA}")
    monkeypatch.setenv("COCONOT_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("COCONOT_RUBRIC_PATH", str(SHARED_DATA / "refusal_evaluation_rubric.json"))
    monkeypatch.setenv("COCONOT_SYSTEM_PROMPT_PATH", str(SHARED_DATA / "system_prompt.json"))
    return SHARED_DATA


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    """A loopback OpenAI-compatible server playing the judge and the model under test."""
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        yield server


@pytest.fixture
def judge_env(fake_server: FakeOpenAI, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """Judge settings in the environment pointing at the fake server."""
    monkeypatch.setenv("COCONOT_JUDGE_BASE_URL", fake_server.url)
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)
    monkeypatch.setenv("COCONOT_JUDGE_MODEL", "fake-judge")
    return fake_server
