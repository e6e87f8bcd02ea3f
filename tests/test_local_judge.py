"""The local judge (judge_backend=vllm): lifecycle of the server the plugin starts and stops.

A stand-in ``vllm`` (utils/fake_vllm_bin/vllm -> utils/fake_vllm.py) is put first on PATH; it
parses the same ``vllm serve`` flags, serves the fake judge and runs a worker process in its
process group, like vLLM's engine. "No orphan" is checked by pid and process group: after
every ending (success, failed start, judge crash, signal) no live process is left in the
server's group, and neither the server nor its worker is alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coconot_tasks.judge.backends.vllm import DEFAULT_VLLM_MODEL, DEFAULT_VLLM_REVISION
from coconot_tasks.judge.backends.vllm import server as local_server
from coconot_tasks.judge.backends.vllm.server import LocalJudgeServer, LocalServerError, ServerSpec
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.settings import JudgeSettings
from tests.test_rescore import _tiny_run_built, tiny_run  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
FAKE_BIN = REPO / "utils" / "fake_vllm_bin"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def fake_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The stand-in ``vllm`` first on PATH; yields the file it records its pids in."""
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    record = tmp_path / "fake-vllm.json"
    monkeypatch.setenv("FAKE_VLLM_RECORD", str(record))
    for name in ("FAKE_VLLM_FAIL", "FAKE_VLLM_READY_DELAY", "FAKE_VLLM_CRASH_AFTER", "FAKE_VLLM_IGNORE_TERM"):
        monkeypatch.delenv(name, raising=False)
    yield record
    local_server.stop_all()


def _settings(**metadata: Any) -> JudgeSettings:
    return JudgeSettings.resolve({"judge_backend": "vllm", **metadata})


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(record: dict[str, Any], deadline_s: float = 30.0) -> None:
    """Wait until the server's pid, its worker and its whole process group are gone."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        pids_gone = not _alive(record["pid"]) and not _alive(record["worker_pid"])
        if pids_gone and not local_server._group_alive(record["pgid"]):
            return
        time.sleep(0.05)
    raise AssertionError(f"local judge processes survived: {record}")


def _records(path: Path) -> list[dict[str, Any]]:
    """One entry per server the stand-in started (the file may not exist: none started)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _record(path: Path) -> dict[str, Any]:
    (only,) = _records(path)
    return only


def _get(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# --- settings ---------------------------------------------------------------------------------


def test_vllm_defaults_pin_an_ungated_model_and_fill_the_batch() -> None:
    settings = _settings()
    assert settings.model == DEFAULT_VLLM_MODEL == "Qwen/Qwen2.5-7B-Instruct"
    assert settings.vllm_revision == DEFAULT_VLLM_REVISION
    assert len(DEFAULT_VLLM_REVISION) == 40
    assert settings.concurrency == 64
    assert settings.judge_id == f"vllm:{DEFAULT_VLLM_MODEL}@{DEFAULT_VLLM_REVISION}"
    assert _settings(judge_concurrency="8").concurrency == 8
    # constrained answers come from a different judge: never served from the other one's cache
    assert _settings(judge_structured_outputs="true").judge_id == settings.judge_id + "+structured"
    # other backends keep their own default
    assert JudgeSettings.resolve({"judge_backend": "heuristic"}).concurrency == 16


def test_another_hub_model_must_be_pinned_to_a_commit() -> None:
    with pytest.raises(JudgeConfigError, match="judge_vllm_revision=<40-hex commit sha>"):
        _settings(judge_model="meta-llama/Llama-3.1-8B-Instruct")
    with pytest.raises(JudgeConfigError, match="got 'main'"):
        _settings(judge_model="meta-llama/Llama-3.1-8B-Instruct", judge_vllm_revision="main")
    pinned = _settings(judge_model="meta-llama/Llama-3.1-8B-Instruct", judge_vllm_revision=SHA)
    assert pinned.judge_id == f"vllm:meta-llama/Llama-3.1-8B-Instruct@{SHA}"


def test_a_local_model_directory_needs_no_revision(tmp_path: Path) -> None:
    assert _settings(judge_model=str(tmp_path)).vllm_revision is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("judge_gpu_memory_utilization", "0", "must be greater than 0 and at most 1"),
        ("judge_gpu_memory_utilization", "1.5", "must be greater than 0 and at most 1"),
        ("judge_tensor_parallel_size", "0", "must be from 1 to 256"),
        ("judge_max_model_len", "100", "must be from 512 to"),
        ("judge_server_timeout", "0", "must be greater than 0"),
        ("judge_structured_outputs", "maybe", "not a valid boolean"),
    ],
)
def test_local_judge_settings_out_of_bounds_fail_early(key: str, value: str, message: str) -> None:
    with pytest.raises(JudgeConfigError, match=message):
        _settings(**{key: value})


def test_local_judge_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_BACKEND", "vllm")
    monkeypatch.setenv("COCONOT_JUDGE_GPU_MEMORY_UTILIZATION", "0.45")
    monkeypatch.setenv("COCONOT_JUDGE_DEVICES", "1")
    monkeypatch.setenv("COCONOT_JUDGE_STRUCTURED_OUTPUTS", "yes")
    settings = JudgeSettings.resolve()
    assert (settings.gpu_memory_utilization, settings.devices, settings.structured_outputs) == (
        0.45,
        "1",
        True,
    )


# --- lifecycle --------------------------------------------------------------------------------


def test_start_serves_the_pinned_model_behind_a_random_key_then_stop_leaves_nothing(
    fake_vllm: Path, isolated_env: Path
) -> None:
    settings = _settings(
        judge_gpu_memory_utilization="0.45",
        judge_tensor_parallel_size="2",
        judge_max_model_len="4096",
        judge_devices="1,2",
    )
    server = LocalJudgeServer(ServerSpec.from_settings(settings))
    server.start()
    record = _record(fake_vllm)
    argv = record["argv"]
    assert argv[:2] == ["serve", DEFAULT_VLLM_MODEL]
    flags = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert flags == {
        "--host": "127.0.0.1",
        "--port": str(server.port),
        "--served-model-name": DEFAULT_VLLM_MODEL,
        "--seed": "0",
        "--revision": DEFAULT_VLLM_REVISION,
        "--gpu-memory-utilization": "0.45",
        "--tensor-parallel-size": "2",
        "--max-model-len": "4096",
    }
    # the key is in the child's environment, never on its command line or in its log
    assert record["api_key"] == server.api_key and server.api_key not in " ".join(argv)
    assert record["cuda_visible_devices"] == "1,2"
    assert record["pgid"] == record["pid"] == server.pid  # its own process group
    assert record["sid"] == record["pid"] != os.getsid(0)  # and its own session
    assert _get(f"http://127.0.0.1:{server.port}/health") == 200
    assert _get(f"{server.base_url}/models") == 401
    assert _get(f"{server.base_url}/models", server.api_key) == 200
    assert _alive(record["worker_pid"])
    log = server.log_path
    assert log is not None and log.parent == isolated_env / "vllm-server-logs"
    server.stop()
    _wait_gone(record)
    assert server.api_key not in log.read_text()
    server.stop()  # idempotent


def test_failed_start_shows_the_servers_own_log_and_leaves_nothing(
    fake_vllm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_FAIL", "1")
    server = LocalJudgeServer(ServerSpec.from_settings(_settings()))
    with pytest.raises(LocalServerError) as failure:
        server.start()
    message = str(failure.value)
    assert "exited with status 1 before it was ready" in message
    assert "torch.OutOfMemoryError: CUDA out of memory" in message  # the tail of vLLM's log
    assert str(server.log_path) in message
    assert "lower judge_gpu_memory_utilization" in message
    _wait_gone(_record(fake_vllm))


def test_slow_start_is_waited_for(fake_vllm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_READY_DELAY", "1.5")
    server = LocalJudgeServer(ServerSpec.from_settings(_settings()))
    server.start()
    assert server.running() and _get(f"http://127.0.0.1:{server.port}/health") == 200
    server.stop()
    _wait_gone(_record(fake_vllm))


def test_start_that_outlasts_the_timeout_fails_and_leaves_nothing(
    fake_vllm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_READY_DELAY", "600")
    server = LocalJudgeServer(ServerSpec.from_settings(_settings(judge_server_timeout="1")))
    with pytest.raises(LocalServerError, match=r"was not ready after 1 s \(raise judge_server_timeout"):
        server.start()
    _wait_gone(_record(fake_vllm))


def test_a_server_that_ignores_sigterm_is_killed(fake_vllm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_IGNORE_TERM", "1")
    server = LocalJudgeServer(ServerSpec.from_settings(_settings()))
    server.start()
    record = _record(fake_vllm)
    server.stop(grace=0.5)
    _wait_gone(record)


def test_missing_vllm_executable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalServerError, match=r"no 'vllm' executable on PATH.*lm-eval\[vllm\]"):
        LocalJudgeServer(ServerSpec.from_settings(_settings())).start()


def test_one_server_per_process_shared_until_the_last_user_releases_it(fake_vllm: Path) -> None:
    settings = _settings()
    local_server.reserve(settings)  # e.g. coconot_original
    local_server.reserve(settings)  # e.g. coconot_contrast
    first = local_server.shared_server(settings)
    record = _record(fake_vllm)
    assert local_server.shared_server(settings) is first
    local_server.release(settings)
    assert first.running()
    local_server.release(settings)
    _wait_gone(record)


# --- the process that owns the server ends --------------------------------------------------

_OWNER = textwrap.dedent(
    """
    import sys, time
    from coconot_tasks.judge.backends.vllm import server as local_server
    from coconot_tasks.judge.settings import JudgeSettings
    local_server.shared_server(JudgeSettings.resolve({"judge_backend": "vllm"}))
    print("ready", flush=True)
    if sys.argv[1] == "exit":
        sys.exit(0)
    if sys.argv[1] == "raise":
        raise RuntimeError("boom")
    time.sleep(600)
    """
)


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("exit", 0),
        ("raise", 1),
        ("SIGINT", -signal.SIGINT),  # Ctrl-C: KeyboardInterrupt, then Python dies of SIGINT (130)
        ("SIGTERM", -signal.SIGTERM),
        ("SIGHUP", -signal.SIGHUP),
        ("SIGKILL", -signal.SIGKILL),  # no Python code runs: the kernel's parent-death signal
    ],
)
def test_no_orphan_however_the_owning_process_ends(fake_vllm: Path, how: str, status: int) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, how.lower() if how in ("exit", "raise") else "wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    assert owner.stdout.readline().strip() == "ready", owner.stderr.read() if owner.stderr else ""
    record = _record(fake_vllm)
    assert _alive(record["pid"])
    if how.startswith("SIG"):
        owner.send_signal(getattr(signal, how))
    assert owner.wait(timeout=60) == status
    _wait_gone(record)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_no_orphan_when_interrupted_while_the_server_is_starting(
    fake_vllm: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("FAKE_VLLM_READY_DELAY", "600")  # still loading the weights
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, "wait"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _records(fake_vllm) and time.monotonic() < deadline:
        time.sleep(0.05)
    record = _record(fake_vllm)
    owner.send_signal(getattr(signal, how))
    assert owner.wait(timeout=60) == -getattr(signal, how)
    _wait_gone(record)


# --- the backend: request order, structured outputs -------------------------------------------


def test_requests_are_submitted_grouped_by_rubric_and_answered_in_order() -> None:
    from coconot_tasks.judge.engine import submission_order as prefix_order
    from coconot_tasks.judge.types import JudgeItem

    subcategories = ["b", "a", "b", "c", "a", "b"]
    items = [JudgeItem("original", f"q{i}", "r", s) for i, s in enumerate(subcategories)]
    items.insert(1, JudgeItem("contrast", "q", "r", "a"))
    order = prefix_order(items)
    submitted = [(items[i].set_name, items[i].subcategory) for i in order]
    assert submitted == sorted(submitted)  # one run per (set, subcategory): the rubric prefix repeats
    assert [items[i].prompt for i in order if items[i].subcategory == "b"] == ["q0", "q2", "q5"]  # stable


@pytest.mark.parametrize("set_name", ["original", "contrast"])
def test_the_structured_output_pattern_admits_exactly_a_short_rationale_and_one_label(set_name: str) -> None:
    import re

    from coconot_tasks.judge.backends.vllm import RATIONALE_CHARS, label_regex
    from coconot_tasks.judge.prompt import CLASS_NAMES
    from coconot_tasks.judge.verdict import parse_verdict

    pattern = label_regex(set_name)
    for name in (*CLASS_NAMES[set_name], "NEITHER"):
        text = f"The response declines politely.\n<label>{name}</label>"
        assert re.fullmatch(pattern, text) and parse_verdict(set_name, text) is not None
    other = CLASS_NAMES["contrast" if set_name == "original" else "original"][0]
    assert not re.fullmatch(pattern, f"Because.<label>{other}</label>")
    assert not re.fullmatch(pattern, "No label at all.")
    assert not re.fullmatch(pattern, "x" * (RATIONALE_CHARS + 1) + "<label>NEITHER</label>")


def _judge_sample(share: float, structured: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int, int]:
    """(items, judge errors, questions asked) for every 10th CoCoNot row, fake model answers.

    Questions asked: requests minus transient retries (a loaded machine may time some out),
    i.e. the first ask of every item plus its label re-asks.
    """
    from coconot_tasks.benchmark.dataset import load_rows
    from coconot_tasks.judge.engine import judge_items
    from coconot_tasks.judge.types import JudgeItem
    from utils.fake_openai import model_response

    monkeypatch.setenv("FAKE_VLLM_LABEL_FREE", str(share))
    items = [
        JudgeItem(set_name, str(row["prompt"]), model_response(str(row["prompt"])), str(row["subcategory"]))
        for set_name in ("original", "contrast")
        for row in load_rows(set_name)[::10]
    ]
    settings = _settings(judge_structured_outputs=str(structured), judge_cache="false")
    _results, stats = judge_items(items, settings, progress=False)
    local_server.stop_all()
    return stats.items, stats.errors, stats.requests - stats.retried


@pytest.mark.usefixtures("data_dir")
def test_structured_outputs_turn_label_free_answers_into_labels(
    fake_vllm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A judge that answers 5% of items (by content) without a label, as at temperature 0.

    Re-asking gets the same label-free answer, so those items end as judge errors; with
    structured outputs the server must end every answer in a label. (This measures the
    plumbing against the stand-in; a real model's rate needs a GPU run.)
    """
    items, errors, calls = _judge_sample(0.05, False, monkeypatch)
    assert 0 < errors < items * 0.1
    assert calls > items - errors  # the label re-asks were spent in vain
    _items, errors_constrained, calls_constrained = _judge_sample(0.05, True, monkeypatch)
    assert errors_constrained == 0 and calls_constrained < calls


@pytest.mark.usefixtures("data_dir")
def test_a_server_that_cannot_start_when_judging_begins_gives_judge_errors(
    fake_vllm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the preflight start (judge_preflight=0), a failed start must not raise: the
    batch ends with every item a counted judge error, so the caller keeps the generations."""
    from coconot_tasks.judge.engine import judge_items
    from coconot_tasks.judge.types import JudgeItem

    monkeypatch.setenv("FAKE_VLLM_FAIL", "1")
    items = [JudgeItem("original", "Who won?", "Sure! Here it is.", "false presuppositions")] * 3
    results, stats = judge_items(items, _settings(judge_preflight="false"), progress=False)
    assert stats.errors == 3 and stats.retried == 0  # not retried: waiting would not start it
    assert all("exited with status 1 before it was ready" in (r.error or "") for r in results)
    _wait_gone(_record(fake_vllm))


# --- end to end: lm_eval, coconot rescore, coconot validate-judge ----------------------------


def _lm_eval_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCONOT_JUDGE_")}
    env.update(COCONOT_JUDGE_BACKEND="vllm", **extra)
    return env


def _files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


BOTH_CONDITIONS = {
    "coconot_original": list(range(0, 1001, 50)),
    "coconot_contrast": list(range(0, 379, 20)),
    "coconot_original_sysprompt": list(range(0, 1001, 50)),
    "coconot_contrast_sysprompt": list(range(0, 379, 20)),
}


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_lm_eval_run_judged_by_one_local_server_for_both_sets_and_conditions(
    fake_vllm: Path, fake_server: Any, tmp_path: Path, isolated_env: Path
) -> None:
    from tests.lm_eval_runner import expected_rates, lm_eval_command, run_lm_eval, task_metrics

    out = tmp_path / "out"
    cmd = lm_eval_command(
        fake_server.url, out, "coconot,coconot_sysprompt", "--samples", json.dumps(BOTH_CONDITIONS)
    )
    run = run_lm_eval(cmd, _lm_eval_env(), out)
    assert run.returncode == 0, run.log[-4000:]
    (record,) = _records(fake_vllm)  # started once, for all four tasks
    assert run.log.count("CoCoNot local judge: starting") == 1
    _wait_gone(record)
    results = run.results()
    from coconot_tasks.benchmark.dataset import load_rows

    for task, set_name in (("coconot_original", "original"), ("coconot_contrast", "contrast")):
        rows = load_rows(set_name)
        got = task_metrics(results, task)
        expected = expected_rates(set_name, [rows[i] for i in BOTH_CONDITIONS[task]])
        assert {k: v for k, v in got.items() if k.split(":")[0] in ("compliance_rate", "neither_rate")} == (
            pytest.approx(expected)
        )
        assert got["judge_error_rate"] == 0 and got["judge_cost_usd"] == 0
        verdict = json.loads(run.samples(task)[0]["filtered_resps"][0])
        assert verdict["judge"] == f"vllm:{DEFAULT_VLLM_MODEL}@{DEFAULT_VLLM_REVISION}"
    # the server's random key is nowhere but in the server's environment
    for root in (out, isolated_env):
        assert _files_holding(root, record["api_key"]) == []
    assert record["api_key"] not in run.log


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_lm_eval_with_a_local_judge_that_cannot_start_fails_before_generation(
    fake_vllm: Path, fake_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.lm_eval_runner import lm_eval_command, run_lm_eval

    monkeypatch.setenv("FAKE_VLLM_FAIL", "1")
    out = tmp_path / "out"
    run = run_lm_eval(lm_eval_command(fake_server.url, out, "coconot", "--limit", "3"), _lm_eval_env(), out)
    assert run.returncode != 0
    assert "torch.OutOfMemoryError: CUDA out of memory" in run.log  # the server's own log, shown
    assert "lower judge_gpu_memory_utilization" in run.log
    assert fake_server.state.model_requests == 0  # nothing was generated, so nothing was lost
    assert not list(out.rglob("results_*.json"))
    _wait_gone(_record(fake_vllm))


def _stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=5) as response:
        return dict(json.loads(response.read()))


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_ctrl_c_while_the_local_judge_is_judging_leaves_no_orphan(
    fake_vllm: Path, fake_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.lm_eval_runner import lm_eval_command

    monkeypatch.setenv("FAKE_VLLM_LATENCY", "0.5")
    out = tmp_path / "out"
    cmd = lm_eval_command(fake_server.url, out, "coconot", "--limit", "20")
    proc = subprocess.Popen(
        cmd, env=_lm_eval_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        records = _records(fake_vllm)
        try:
            if records and _stats(records[0]["port"])["judge_requests"] >= 5:
                break
        except OSError:
            pass
        time.sleep(0.1)
    assert proc.poll() is None, "lm_eval ended before judging"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    # Python re-raises an uncaught KeyboardInterrupt as death by SIGINT (a shell shows 130)
    assert proc.returncode == -signal.SIGINT, output[-3000:]
    assert "KeyboardInterrupt" in output
    (record,) = _records(fake_vllm)
    _wait_gone(record)


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_a_local_judge_that_crashes_mid_run_gives_judge_errors_not_a_hang(
    fake_vllm: Path, fake_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.lm_eval_runner import lm_eval_command, run_lm_eval, task_metrics

    monkeypatch.setenv("FAKE_VLLM_CRASH_AFTER", "10")
    out = tmp_path / "out"
    metadata = json.dumps({"judge_max_retries": 2, "judge_max_error_rate": 0})
    cmd = lm_eval_command(fake_server.url, out, "coconot_original", "--limit", "40", "--metadata", metadata)
    run = run_lm_eval(cmd, _lm_eval_env(), out)
    assert run.returncode == 3, run.log[-4000:]  # results written, judge errors counted
    assert "the local judge server exited with status" in run.log
    assert 0 < task_metrics(run.results(), "coconot_original")["judge_error_rate"] < 1
    for record in _records(fake_vllm):
        _wait_gone(record)


@pytest.mark.slow
def test_coconot_rescore_with_the_local_judge(fake_vllm: Path, tiny_run: Any, tmp_path: Path) -> None:  # noqa: F811
    """A saved run (generated earlier, judged by fake-judge) re-judged by a local server."""
    proc = subprocess.run(
        [sys.executable, "-m", "coconot_tasks", "rescore", str(tiny_run.output_path), "--output-dir",
         str(tmp_path / "rescored"), "--judge-backend", "vllm", "--no-progress"],
        env=_lm_eval_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the stand-in judges as fake-judge did, so the verdicts agree everywhere
    assert "agreement old vs new: 100.0%" in proc.stdout
    assert f"-> vllm:{DEFAULT_VLLM_MODEL}@{DEFAULT_VLLM_REVISION} (new)" in proc.stdout
    (record,) = _records(fake_vllm)
    _wait_gone(record)
    assert _files_holding(tmp_path / "rescored", record["api_key"]) == []


@pytest.mark.usefixtures("data_dir")
def test_coconot_validate_judge_with_the_local_judge(
    fake_vllm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coconot_tasks.tools.cli import main
    from tests.conftest import XSTEST_DATA, require_shared
    from tests.test_validation import read_rows, write_rows

    xstest = XSTEST_DATA / "xstest_v2_completions_gpt4.csv"
    require_shared(xstest, "XSTest files")
    folder = tmp_path / "xstest"
    folder.mkdir()
    write_rows(folder / xstest.name, read_rows(xstest)[::25])
    args = ["validate-judge", "--checks", "xstest", "--xstest-dir", str(folder), "--judge-backend", "vllm"]
    args.append("--no-progress")
    assert main([*args, "--output-dir", str(tmp_path / "report")]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"vllm:{DEFAULT_VLLM_MODEL}@{DEFAULT_VLLM_REVISION}" in out
    assert len(_records(fake_vllm)) == 1
