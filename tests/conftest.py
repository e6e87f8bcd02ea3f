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

#: The project's shared data folder (``../shared`` of the repository; ``COCONOT_TEST_SHARED``
#: for a checkout elsewhere, e.g. a git worktree).
SHARED = Path(os.environ.get("COCONOT_TEST_SHARED", REPO.parent / "shared"))
SHARED_DATA = Path(os.environ.get("COCONOT_TEST_DATA", SHARED / "coconot"))
XSTEST_DATA = SHARED / "validation" / "xstest"
JUDGE_KEY = "sk-judge-SECRET-4f1d2c"

#: Set (to anything but "" or "0") by .ci/run: a test whose shared data are missing fails
#: instead of skipping, so CI cannot stay green while skipping the tests that need them.
#: An environment variable because pytest's skip decisions have no other input from CI.
ENV_REQUIRE_SHARED = "COCONOT_REQUIRE_SHARED"


def require_shared(path: Path, what: str) -> None:
    """Skip the running test when ``path`` (shared test data) is missing; fail under CI.

    Call from a test or fixture; for a whole test use the ``needs_shared`` marker.
    """
    if path.exists():
        return
    message = f"{what} not found at {path}"
    if os.environ.get(ENV_REQUIRE_SHARED, "") not in ("", "0"):
        pytest.fail(
            f"{message}, and {ENV_REQUIRE_SHARED} is set: the shared test data must be present "
            f"(../shared next to the repository, or COCONOT_TEST_SHARED)",
            pytrace=False,
        )
    pytest.skip(message)


def needs_shared(path: Path, what: str) -> pytest.MarkDecorator:
    """Mark a test that needs ``path`` (see :func:`require_shared`)."""
    return pytest.mark.needs_shared(path=path, what=what)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_shared(path, what): the test needs shared test data")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs_shared"):
        require_shared(marker.kwargs["path"], marker.kwargs["what"])


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
    """The official CoCoNot files from ../shared/coconot (skips when absent; fails under CI)."""
    require_shared(SHARED_DATA / "coconot_eval.jsonl", "offline CoCoNot data")
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
