"""The local judge's server: ``vllm serve`` as a child process in its own process group, started once
per process and configuration (a module-global registry: lm-eval builds the tasks and filters itself)
and never orphaned. The lifecycle is described in docs/judges.md; the flags are vLLM's (``vllm>=0.18``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coconot_tasks.judge.backends.vllm.settings import VllmServerSettings
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.paths import cache_dir

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings

logger = logging.getLogger("coconot_tasks")

EXECUTABLE = "vllm"
HOST = "127.0.0.1"
#: Seconds between SIGTERM to the server's process group and SIGKILL of what is left.
STOP_GRACE_SECONDS = 20.0
LOG_TAIL_LINES = 40


class LocalServerError(JudgeConfigError):
    """The local judge server could not be started (the message holds its log's tail)."""


@dataclass(frozen=True)
class ServerSpec:
    """What identifies one judge server, its model and server settings: one process per spec."""

    model: str
    own: VllmServerSettings

    @classmethod
    def from_settings(cls, settings: JudgeSettings) -> ServerSpec:
        """The server the ``vllm`` backend of ``settings`` needs (structured outputs are per request)."""
        own = {field.name: getattr(settings, field.name) for field in fields(VllmServerSettings)}
        return cls(settings.model, VllmServerSettings(**{**own, "structured_outputs": False}))

    def command(self, executable: str, port: int) -> list[str]:
        """The ``vllm serve`` command line (the API key travels in the environment)."""
        command = [executable, "serve", self.model, "--host", HOST, "--port", str(port)]
        command += ["--served-model-name", self.model, "--seed", "0"]
        if self.own.vllm_revision:
            command += ["--revision", self.own.vllm_revision]
        command += ["--gpu-memory-utilization", str(self.own.gpu_memory_utilization)]
        command += ["--tensor-parallel-size", str(self.own.tensor_parallel_size)]
        if self.own.max_model_len is not None:
            command += ["--max-model-len", str(self.own.max_model_len)]
        return command


#: Run in a fresh interpreter between fork and ``vllm``: ask Linux to SIGTERM the server when
#: the thread that started it dies (e.g. ``kill -9`` of lm_eval), then become ``vllm`` (the
#: setting survives exec). A separate program, not ``preexec_fn``, which is unsafe in a
#: process with threads.
_PARENT_DEATH_EXEC = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit('the process that started the judge server is gone')\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def _with_parent_death_signal(command: list[str]) -> list[str]:
    """``command``, started so that it dies with this thread (Linux, main thread only)."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return command
    return [sys.executable, "-c", _PARENT_DEATH_EXEC, str(os.getpid()), *command]


class LocalJudgeServer:
    """One ``vllm serve`` child process; :meth:`start`, then :attr:`base_url` / :attr:`api_key`."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.api_key = secrets.token_urlsafe(32)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self._lock = threading.RLock()  # re-entered by a signal handler that interrupts stop()

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of the running server."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server's process id (also its process group id), once started."""
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it is ready; on failure (:class:`LocalServerError`, with
        the tail of its log) nothing is left running."""
        found = shutil.which(EXECUTABLE)
        if found is None:
            raise LocalServerError(
                f"CoCoNot local judge: no {EXECUTABLE!r} executable on PATH. Install vLLM on this GPU "
                'machine (pip install "lm-eval[vllm]" or pip install vllm), or choose another judge '
                "backend (--metadata judge_backend=openai)."
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a free port right now
            sock.bind((HOST, 0))
            self.port = int(sock.getsockname()[1])
        logs = cache_dir() / "vllm-server-logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"vllm-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{self.port}.log"
        env = {**os.environ, "VLLM_API_KEY": self.api_key}
        if self.spec.own.devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.spec.own.devices
        command = self.spec.command(found, self.port)
        logger.warning("CoCoNot local judge: starting %s (log: %s)", " ".join(command[1:]), self.log_path)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                _with_parent_death_signal(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: one signal reaches all its workers
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.spec.own.server_timeout
        delay = 0.1
        while True:
            assert self.process is not None
            status = self.process.poll()
            if status is not None:
                raise self._failure(f"exited with status {status} before it was ready")
            if self._healthy():
                self._check_model()
                logger.warning("CoCoNot local judge ready at %s (pid %d)", self.base_url, self.process.pid)
                return
            if time.monotonic() >= deadline:
                raise self._failure(
                    f"was not ready after {self.spec.own.server_timeout:g} s (raise judge_server_timeout if "
                    "it is still downloading or loading the weights)"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _get(self, path: str, *, auth: bool) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://{HOST}:{self.port}{path}")
        if auth:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), b""
        except (OSError, ValueError):
            return 0, b""

    def _healthy(self) -> bool:
        return self._get("/health", auth=False)[0] == 200

    def _check_model(self) -> None:
        status, body = self._get("/v1/models", auth=True)
        if status != 200:
            raise self._failure(f"answered HTTP {status} to GET /v1/models with its own API key")
        served = [entry.get("id") for entry in json.loads(body or b"{}").get("data", [])]
        if self.spec.model not in served:
            raise self._failure(f"serves {served}, not {self.spec.model!r}")

    def _failure(self, what: str) -> LocalServerError:
        hint = (
            "Out of memory: lower judge_gpu_memory_utilization or judge_max_model_len, or give the judge its "
            "own GPU (judge_devices). Missing weights: check the model name and judge_vllm_revision, and "
            "that this machine can reach the Hugging Face hub (or has the weights cached)."
        )
        return LocalServerError(
            f"CoCoNot local judge: `vllm serve {self.spec.model}` {what}. Last lines of its log "
            f"({self.log_path}):\n{self.log_tail()}\n{hint}"
        )

    def log_tail(self) -> str:
        """The last :data:`LOG_TAIL_LINES` lines of the server's log (empty if there is none yet)."""
        if self.log_path is None or not self.log_path.is_file():
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            tail = deque(log, maxlen=LOG_TAIL_LINES)
        return "".join("    " + line for line in tail).rstrip("\n").replace(self.api_key, "***")

    def describe_exit(self) -> str | None:
        """Why the server is gone (exit status and log tail), or ``None`` while it runs."""
        if self.process is None or self.process.poll() is None:
            return None
        return f"the local judge server exited with status {self.process.returncode}; log: {self.log_path}"

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop the server and every process of its group; safe to call more than once."""
        with self._lock:
            process = self.process
            if process is None:
                return
            pgid = process.pid  # start_new_session: the leader's pid is the group id
            if process.poll() is None:
                logger.warning("CoCoNot local judge: stopping the server (pid %d)", process.pid)
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and (process.poll() is None or _group_alive(pgid)):
                time.sleep(0.05)
            if process.poll() is None or _group_alive(pgid):
                _signal_group(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """True if a live (non-zombie) process is still in process group ``pgid`` (without ``/proc``: any)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for stat in Path("/proc").glob("[0-9]*/stat"):  # the state and group after the command's ")"
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[-1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return not Path("/proc").is_dir()


# --- one server per process and spec ---------------------------------------------------------

_SERVERS: dict[ServerSpec, LocalJudgeServer] = {}
_USERS: dict[ServerSpec, int] = {}
# Re-entrant: the SIGTERM handler runs stop_all() in the main thread, possibly while that
# thread holds the lock in shared_server() (a start can take minutes).
_REGISTRY_LOCK = threading.RLock()


def shared_server(settings: JudgeSettings) -> LocalJudgeServer:
    """The running server for ``settings``, started now if there is none (blocks until ready)."""
    spec = ServerSpec.from_settings(settings)
    with _REGISTRY_LOCK:
        server = _SERVERS.get(spec)
        if server is not None and server.running():
            return server
        if server is not None:  # it died: say so, and start a fresh one
            logger.error("CoCoNot local judge: %s; starting it again", server.describe_exit())
            server.stop()
        _install_exit_hooks()
        server = LocalJudgeServer(spec)
        _SERVERS[spec] = server
        server.start()
        return server


def server_gone(settings: JudgeSettings) -> str | None:
    """Why the local server of ``settings`` is no longer running, or ``None`` if it runs."""
    with _REGISTRY_LOCK:
        running = _SERVERS.get(ServerSpec.from_settings(settings))
    return None if running is None else running.describe_exit()


def reserve(settings: JudgeSettings) -> None:
    """Count one more user (e.g. an lm-eval task) that will judge with this server."""
    spec = ServerSpec.from_settings(settings)
    with _REGISTRY_LOCK:
        _USERS[spec] = _USERS.get(spec, 0) + 1


def release(settings: JudgeSettings) -> None:
    """One user is done judging; the last one stops the server (frees its GPU memory now)."""
    spec = ServerSpec.from_settings(settings)
    with _REGISTRY_LOCK:
        left = max(0, _USERS.get(spec, 0) - 1)
        _USERS[spec] = left
        server = _SERVERS.pop(spec, None) if left == 0 else None
    if server is not None:
        server.stop()


def stop_all() -> None:
    """Stop every local judge server of this process (idempotent)."""
    with _REGISTRY_LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
        _USERS.clear()
    for server in servers:
        server.stop()


@functools.cache  # once per process
def _install_exit_hooks() -> None:
    atexit.register(stop_all)  # normal exit, sys.exit, an uncaught exception, Ctrl-C
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still applies
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)
        signal.signal(sig, _make_handler(previous))


def _make_handler(previous: Any) -> Any:
    def handler(signum: int, frame: Any) -> None:
        stop_all()
        if callable(previous):
            previous(signum, frame)
            return
        if previous == signal.SIG_IGN:
            return
        # The default action: die of the same signal, so the exit status says what happened.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    return handler
