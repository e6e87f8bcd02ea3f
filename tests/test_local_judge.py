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

from coconot_tasks.judge import local_server
from coconot_tasks.judge.local_server import LocalJudgeServer, LocalServerError, ServerSpec
from coconot_tasks.judge.settings import (
    DEFAULT_VLLM_MODEL,
    DEFAULT_VLLM_REVISION,
    JudgeConfigError,
    JudgeSettings,
)

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
        if not _alive(record["pid"]) and not _alive(record["worker_pid"]):
            if not local_server._group_alive(record["pgid"]):
                return
        time.sleep(0.05)
    raise AssertionError(f"local judge processes survived: {record}")


def _record(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


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
        ("judge_gpu_memory_utilization", "0", r"must be in \(0, 1\]"),
        ("judge_gpu_memory_utilization", "1.5", r"must be in \(0, 1\]"),
        ("judge_tensor_parallel_size", "0", "at least 1"),
        ("judge_max_model_len", "100", "at least 512"),
        ("judge_server_timeout", "0", "must be positive"),
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
    assert (settings.gpu_memory_utilization, settings.devices, settings.structured_outputs) == (0.45, "1", True)


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
    assert record["api_key_in_env"] and server.api_key not in " ".join(argv)
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
    from coconot_tasks.judge import local_server
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
