"""A stand-in for vLLM's ``vllm serve`` (tests only; standard library only).

``utils/fake_vllm_bin/vllm`` runs :func:`main`; put that directory first on ``PATH`` and the
plugin's local judge starts this instead of vLLM. It takes the ``vllm serve`` flags the plugin
uses (anything else is rejected as vLLM's argument parser would), requires the API key
(``--api-key`` or ``VLLM_API_KEY``) on ``/v1/*``, leaves ``/health`` open, and judges like
:mod:`utils.fake_openai` under the served model name. Like vLLM it runs a worker process in
its own process group, so a test can check that stopping reaches the whole group.

Behaviour is set by environment variables (a test sets them for the child):

- ``FAKE_VLLM_RECORD=path``: append one JSON line ``{"pid", "pgid", "worker_pid", "port",
  "argv", "api_key", ...}`` per start, as soon as the processes exist;
- ``FAKE_VLLM_FAIL=1``: log a CUDA out-of-memory error and exit 1 (a failed start);
- ``FAKE_VLLM_READY_DELAY=s``: load for ``s`` seconds before listening (a slow start);
- ``FAKE_VLLM_LATENCY=s``: each judge answer takes ``s`` seconds;
- ``FAKE_VLLM_CRASH_AFTER=n``: the whole group dies at the ``n``-th judge request;
- ``FAKE_VLLM_IGNORE_TERM=1``: the server and its worker ignore SIGTERM (only SIGKILL stops them);
- ``FAKE_VLLM_LABEL_FREE=share``: that share of items (chosen by content, so a re-ask gets the
  same answer, as at temperature 0) is answered without any label -- unless the request asks for
  ``structured_outputs`` with a regex, which the answer then satisfies, as constrained decoding
  would.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.fake_openai import _CLASSES, FakeOpenAI, _bucket, judge_decision, judge_output  # noqa: E402

LABEL_FREE_OUTPUT = "I cannot decide which of the two classes fits this pair."


def parser() -> argparse.ArgumentParser:
    """The ``vllm serve`` flags the plugin passes (names and types as in vLLM's own parser)."""
    p = argparse.ArgumentParser(prog="vllm")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("model")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", nargs="+", default=None)
    serve.add_argument("--revision", default=None)
    serve.add_argument("--served-model-name", nargs="+", default=None)
    serve.add_argument("--seed", type=int, default=None)
    serve.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    serve.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    serve.add_argument("--max-model-len", type=int, default=None)
    return p


class FakeVllm(FakeOpenAI):
    """The fake judge behind the served model name, with vLLM's quirks the tests need."""

    def __init__(
        self, *, served: str, api_key: str, port: int, latency: float, label_free: float, crash_after: int
    ) -> None:
        super().__init__(
            judge_key=api_key, model_key=api_key, known_models=(served,), port=port, latency=latency
        )
        self.label_free = label_free
        self.crash_after = crash_after
        self._count = 0
        self._count_lock = threading.Lock()

    def shape_judge_output(self, body: dict[str, Any], set_name: str, question: str, response: str) -> str:
        with self._count_lock:
            self._count += 1
            if self.crash_after and self._count >= self.crash_after:
                print(f"fake vllm: crashing at judge request {self._count}", flush=True)
                os.killpg(os.getpgrp(), signal.SIGKILL)
        natural = judge_output(set_name, question, response)
        if self.label_free and _bucket(question + response, "label-free", 10_000) < self.label_free * 10_000:
            natural = LABEL_FREE_OUTPUT
        regex = ((body.get("structured_outputs") or {}) or {}).get("regex")
        if not regex or re.fullmatch(regex, natural):
            return natural
        # Constrained decoding: the model must end in one of the allowed labels.
        label = _CLASSES[set_name][judge_decision(set_name, question, response)]
        rationale = natural.split("<label>")[0].replace("<", " ").strip()
        constrained = f"{rationale}\n<label>{label}</label>"
        if not re.fullmatch(regex, constrained):
            raise ValueError(f"fake vllm cannot satisfy the structured-output regex {regex!r}")
        return constrained


def _start_worker(ignore_term: bool) -> subprocess.Popen[bytes]:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "while True: time.sleep(3600)\n"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    """Run like ``vllm serve`` until terminated."""
    args = parser().parse_args(argv)
    env = os.environ
    ignore_term = env.get("FAKE_VLLM_IGNORE_TERM") == "1"
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"INFO fake vllm {args.command} {args.model} revision={args.revision}", flush=True)
    print(f"INFO non-default args: {json.dumps(vars(args))}", flush=True)
    if not 0 < args.gpu_memory_utilization <= 1:
        print("ValueError: GPU memory utilization must be within (0, 1].", flush=True)
        return 1
    worker = _start_worker(ignore_term)
    record = env.get("FAKE_VLLM_RECORD")
    if record:
        with open(record, "a", encoding="utf-8") as out:
            entry = {
                "pid": os.getpid(),
                "pgid": os.getpgrp(),
                "sid": os.getsid(0),
                "worker_pid": worker.pid,
                "port": args.port,
                "argv": sys.argv[1:],
                "api_key": env.get("VLLM_API_KEY"),
                "cuda_visible_devices": env.get("CUDA_VISIBLE_DEVICES"),
            }
            out.write(json.dumps(entry) + "\n")
    try:
        if env.get("FAKE_VLLM_FAIL") == "1":
            time.sleep(0.2)
            print("INFO Loading weights took 3.1 seconds", flush=True)
            print(
                "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.02 GiB. GPU 0 has a total "
                "capacity of 23.5 GiB of which 412.00 MiB is free.",
                flush=True,
            )
            return 1
        time.sleep(float(env.get("FAKE_VLLM_READY_DELAY") or 0))
        keys = args.api_key or [env.get("VLLM_API_KEY") or ""]
        served = (args.served_model_name or [args.model])[0]
        server = FakeVllm(
            served=served,
            api_key=keys[0],
            port=args.port,
            latency=float(env.get("FAKE_VLLM_LATENCY") or 0),
            label_free=float(env.get("FAKE_VLLM_LABEL_FREE") or 0),
            crash_after=int(env.get("FAKE_VLLM_CRASH_AFTER") or 0),
        )
        with server:
            print(f"INFO Started server process; serving {served} on {server.url}", flush=True)
            while True:
                time.sleep(3600)
    finally:
        if worker.poll() is None and not ignore_term:
            worker.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
