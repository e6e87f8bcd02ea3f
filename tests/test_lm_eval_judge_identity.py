"""Through the real ``lm_eval`` command line: the default judge, which model and endpoint answered,
the cache key per endpoint, retired judges, and cache files that cannot be used (slow)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from coconot_tasks.benchmark.dataset import load_rows
from coconot_tasks.benchmark.official_files import rubric_for
from coconot_tasks.judge.backends import request_shape
from coconot_tasks.judge.backends.openai.retired import DEFAULT_JUDGE_MODEL
from coconot_tasks.judge.prompt import PROMPT_VERSION, judge_messages
from coconot_tasks.judge.settings import JudgeSettings
from tests.conftest import JUDGE_KEY
from tests.lm_eval_runner import (
    Run,
    expected_verdict,
    judge_environment,
    lm_eval_command,
    run_lm_eval,
)
from tests.test_cache_failures import make_filled_cache, make_old_cache, old_request_key, unwritable
from utils.fake_openai import FakeOpenAI, model_response

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("data_dir")]

INDICES = list(range(0, 1001, 100))  # 11 rows of the original set
SAMPLES = json.dumps({"coconot_original": INDICES})
TASK = "coconot_original"


def _rows() -> list[dict[str, Any]]:
    rows = load_rows("original")
    return [rows[i] for i in INDICES]


def _non_empty() -> int:
    return sum(1 for row in _rows() if model_response(str(row["prompt"])).strip())


def _run(
    model_server: FakeOpenAI,
    out: Path,
    *extra: str,
    judge: FakeOpenAI | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """``lm_eval`` on the 11 rows; the model under test is ``model_server``, the judge ``judge``."""
    judge = judge or model_server
    cmd = lm_eval_command(model_server.url, out, TASK, "--samples", SAMPLES, *extra)
    return run_lm_eval(cmd, env or judge_environment(judge.url, JUDGE_KEY), out)


def _verdicts(run: Run) -> list[dict[str, Any]]:
    return [json.loads(sample["filtered_resps"][0]) for sample in run.samples(TASK)]


def _judged(run: Run) -> list[dict[str, Any]]:
    return [v for v in _verdicts(run) if v["outcome"] != "empty_response"]


def _assert_the_fake_judges_verdicts(run: Run) -> None:
    for sample in run.samples(TASK):
        verdict = json.loads(sample["filtered_resps"][0])
        assert verdict["verdict"] == expected_verdict("original", sample["doc"]["prompt"])


# --- the default judge and what answered -----------------------------------------------------


def test_default_judge_is_the_snapshot_and_the_served_model_and_endpoint_are_recorded(
    tmp_path: Path,
) -> None:
    reported = f"{DEFAULT_JUDGE_MODEL}-via-proxy"
    with FakeOpenAI(judge_key=JUDGE_KEY, served_as={DEFAULT_JUDGE_MODEL: reported}) as server:
        env = judge_environment(server.url, JUDGE_KEY)
        del env["COCONOT_JUDGE_MODEL"]  # the package's default judge model
        run = _run(server, tmp_path / "out", env=env)
    assert run.returncode == 0, run.log[-4000:]
    judged = _judged(run)
    assert len(judged) == _non_empty() == server.state.judge_answers
    for verdict in judged:
        assert verdict["judge"] == f"openai:{DEFAULT_JUDGE_MODEL}"
        assert verdict["served_model"] == reported
        assert verdict["endpoint"] == server.url
    _assert_the_fake_judges_verdicts(run)
    provenance = run.results()["configs"][TASK]["metadata"]["judge_settings"]
    assert provenance["judge"] == f"openai:{DEFAULT_JUDGE_MODEL}"
    assert provenance["endpoint"] == server.url
    assert provenance["served_models"] == {reported: len(judged)}
    assert provenance["model"] == DEFAULT_JUDGE_MODEL
    # an openai judge's record holds no fields of the local vLLM server
    assert not {"vllm_revision", "gpu_memory_utilization", "tensor_parallel_size"} & set(provenance)
    assert f"served by {reported}" in run.log


def test_a_heuristic_run_records_no_judge_model_endpoint_or_server(tmp_path: Path) -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        env = judge_environment(server.url, JUDGE_KEY, COCONOT_JUDGE_BACKEND="heuristic")
        del env["COCONOT_JUDGE_MODEL"]
        run = _run(server, tmp_path / "out", env=env)
    assert run.returncode == 0, run.log[-4000:]
    provenance = run.results()["configs"][TASK]["metadata"]["judge_settings"]
    assert provenance["backend"] == "heuristic" and provenance["judge"] == "heuristic"
    for key in ("model", "endpoint", "base_url", "max_tokens", "vllm_revision", "gpu_memory_utilization"):
        assert key not in provenance, (key, provenance)


def test_a_different_served_model_is_flagged(tmp_path: Path) -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY, served_as={"fake-judge": "some-other-model"}) as server:
        run = _run(server, tmp_path / "out")
    assert run.returncode == 0, run.log[-4000:]
    assert "not the requested model 'fake-judge'" in run.log and "some-other-model" in run.log


def test_cache_key_separates_endpoints_and_hits_keep_the_served_model(tmp_path: Path) -> None:
    with (
        FakeOpenAI(judge_key=JUDGE_KEY, served_as={"fake-judge": "fake-judge-a-snapshot"}) as a,
        FakeOpenAI(judge_key=JUDGE_KEY, served_as={"fake-judge": "fake-judge-b-snapshot"}) as b,
    ):
        first = _run(a, tmp_path / "a1")
        assert first.returncode == 0, first.log[-4000:]
        assert a.state.judge_answers == _non_empty()

        # the same requests to another endpoint: nothing comes from the first one's verdicts
        other = _run(a, tmp_path / "b", judge=b)
        assert other.returncode == 0, other.log[-4000:]
        assert b.state.judge_answers == _non_empty()
        assert {(v["outcome"], v["served_model"], v["endpoint"]) for v in _judged(other)} == {
            ("judged", "fake-judge-b-snapshot", b.url)
        }

        # back to the first endpoint: all cached, and the cache says who answered
        again = _run(a, tmp_path / "a2")
        assert again.returncode == 0, again.log[-4000:]
        assert a.state.judge_requests == _non_empty()
        assert {(v["outcome"], v["served_model"], v["endpoint"]) for v in _judged(again)} == {
            ("cached", "fake-judge-a-snapshot", a.url)
        }
    _assert_the_fake_judges_verdicts(again)


def test_a_cache_file_of_the_old_schema_is_migrated_and_never_mixed_in(
    fake_server: FakeOpenAI, tmp_path: Path, isolated_env: Path
) -> None:
    settings = JudgeSettings.resolve({"judge_model": "fake-judge", "judge_base_url": fake_server.url})
    stale = []
    for row in _rows():
        response = model_response(str(row["prompt"]))
        rubric = rubric_for(str(row["subcategory"]))
        messages = judge_messages("original", str(row["prompt"]), response, rubric)
        key = old_request_key(settings.judge_id, PROMPT_VERSION, messages, request_shape(settings).params)
        stale.append((key, settings.judge_id, "stale verdict <label>NEITHER</label>"))
    path = isolated_env / "judge_cache.sqlite3"
    make_old_cache(path, stale)

    run = _run(fake_server, tmp_path / "out")
    assert run.returncode == 0, run.log[-4000:]
    assert fake_server.state.judge_answers == _non_empty()  # no stale verdict was served
    _assert_the_fake_judges_verdicts(run)
    conn = sqlite3.connect(path)
    try:
        legacy = conn.execute("SELECT COUNT(*) FROM verdicts WHERE endpoint IS NULL").fetchone()[0]
        assert legacy == len(stale)
    finally:
        conn.close()


# --- retired judges ----------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", [None, "https://api.openai.com/v1"], ids=["default-url", "explicit-url"])
def test_a_retired_judge_on_openai_fails_before_any_generation(
    fake_server: FakeOpenAI, tmp_path: Path, base_url: str | None
) -> None:
    env = judge_environment(fake_server.url, "sk-some-key")
    del env["COCONOT_JUDGE_BASE_URL"]
    metadata = {"judge_model": "gpt-3.5-turbo", **({"judge_base_url": base_url} if base_url else {})}
    run = _run(fake_server, tmp_path / "out", "--metadata", json.dumps(metadata), env=env)
    assert run.returncode != 0
    line = next(line for line in run.log.splitlines() if "shut down 'gpt-3.5-turbo'" in line)
    assert "2026-10-23" in line and "gpt-4.1-mini" in line and DEFAULT_JUDGE_MODEL in line
    assert fake_server.state.model_requests == 0
    assert not list((tmp_path / "out").rglob("results_*.json"))


def test_a_retired_name_on_another_server_runs_with_a_warning(
    fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    run = _run(fake_server, tmp_path / "out", "--metadata", '{"judge_model": "gpt-3.5-turbo"}')
    assert run.returncode == 0, run.log[-4000:]
    assert "OpenAI shut down 'gpt-3.5-turbo' on 2026-10-23" in run.log and fake_server.url in run.log
    assert {v["served_model"] for v in _judged(run)} == {"gpt-3.5-turbo"}


# --- cache files that cannot be used ---------------------------------------------------------


def _garbage(cache_dir: Path) -> tuple[Path, str]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / "judge_cache.sqlite3"
    path.write_bytes(b"this is not a database\n" * 100)
    return path, "coconot cache clear"


def _truncated(cache_dir: Path) -> tuple[Path, str]:
    path = cache_dir / "judge_cache.sqlite3"
    make_filled_cache(path)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    return path, "coconot cache clear"


@pytest.mark.parametrize("damage", [_garbage, _truncated], ids=["garbage", "truncated"])
def test_a_corrupt_cache_stops_the_run_before_generation(
    fake_server: FakeOpenAI, tmp_path: Path, isolated_env: Path, damage: Any
) -> None:
    path, fix = damage(isolated_env)
    run = _run(fake_server, tmp_path / "out")
    assert run.returncode != 0
    line = next(line for line in run.log.splitlines() if f"CoCoNot judge cache {path}" in line)
    assert fix in line and "judge_cache=false" in line
    assert fake_server.state.model_requests == 0 and fake_server.state.judge_requests == 0


def test_an_unwritable_cache_stops_the_run_before_generation(
    fake_server: FakeOpenAI, tmp_path: Path, isolated_env: Path
) -> None:
    path = isolated_env / "judge_cache.sqlite3"
    make_filled_cache(path, 3)
    with unwritable(path):
        run = _run(fake_server, tmp_path / "out")
    assert run.returncode != 0
    assert f"CoCoNot judge cache {path} cannot be opened for writing" in run.log
    assert fake_server.state.model_requests == 0


def test_a_cache_folder_under_a_regular_file_stops_the_run_before_generation(
    fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    env = judge_environment(fake_server.url, JUDGE_KEY, COCONOT_CACHE_DIR=str(blocker / "cache"))
    run = _run(fake_server, tmp_path / "out", env=env)
    assert run.returncode != 0
    assert "cannot create the cache folder" in run.log and str(blocker) in run.log
    assert fake_server.state.model_requests == 0


def test_with_the_cache_off_a_corrupt_file_is_ignored(
    fake_server: FakeOpenAI, tmp_path: Path, isolated_env: Path
) -> None:
    _garbage(isolated_env)
    run = _run(fake_server, tmp_path / "out", "--metadata", '{"judge_cache": false}')
    assert run.returncode == 0, run.log[-4000:]
    _assert_the_fake_judges_verdicts(run)
