"""Benchmark the CoCoNot judge through the real ``lm_eval`` command line.

A loopback fake OpenAI server (utils/fake_openai.py) plays the model under test (instant)
and the judge (fixed latency). Every scenario runs in this one invocation, so the ratios
printed at the end are measured side by side on the same (shared, noisy) machine:

1. cold run at concurrency 32 -- judge-phase wall time vs the ideal N x latency / concurrency;
2. the official scorer's way: one judge call at a time (sequential baseline), same server;
3. cold run at concurrency 128 (task layout and the client's CPU cost per call show here);
4. cached rerun (judge calls must be 0);
5. faults injected (20% 429 + Retry-After, 5% 500, 2% dropped connections, 2% outputs
   without a label): verdicts must equal the fault-free run's, with zero judge errors.

Usage (needs the offline data, e.g. ../shared/coconot)::

    python utils/benchmark_judge.py --data-dir ../shared/coconot [--latency 0.2] [--sequential-items 1380]

Judge-phase wall time is measured at the server: first judge request to last verdict.
Engine CPU is the lm_eval process's CPU time spent inside the judge engine (its log line);
peak memory is the lm_eval process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils.fake_openai import (  # noqa: E402
    FAKE_JUDGE,
    FAKE_MODEL,
    JUDGE_SYSTEM_MESSAGE,
    FakeOpenAI,
    FaultPlan,
)

KEY = "sk-benchmark"
_STATS_LINE = re.compile(
    r"CoCoNot (\w+) judged by .*?: (\d+) items, (\d+) judge calls .*? (\d+) judge errors.*?"
    r"; ([\d.]+) s \(([\d.]+) s CPU\)"
)


@dataclass
class Measurement:
    """One lm_eval run as seen from the server and from the run's own log."""

    name: str
    concurrency: int
    judge_requests: int
    judge_answers: int
    judge_wall: float
    process_wall: float
    engine_cpu: float
    judge_errors: int
    peak_rss_mb: float
    max_in_flight: int
    verdicts: dict[str, str]
    faults: dict[str, int]


def _lm_eval(
    server: FakeOpenAI, out: Path, cache: Path, data_dir: Path, concurrency: int
) -> tuple[str, float, float]:
    cmd = [
        str(Path(sys.executable).with_name("lm_eval")), "--model", "local-chat-completions",
        "--model_args", f"model={FAKE_MODEL},base_url={server.url}/chat/completions,num_concurrent=32,"
        "max_retries=1,tokenized_requests=False",
        "--tasks", "coconot", "--apply_chat_template", "--log_samples", "--output_path", str(out),
        "--metadata", json.dumps({"judge_concurrency": concurrency}),
    ]  # fmt: skip
    env = dict(os.environ)
    env.update(
        COCONOT_DATA_DIR=str(data_dir),
        COCONOT_CACHE_DIR=str(cache),
        COCONOT_JUDGE_BASE_URL=server.url,
        COCONOT_JUDGE_API_KEY=KEY,
        COCONOT_JUDGE_MODEL=FAKE_JUDGE,
        HF_HUB_OFFLINE="1",
        TQDM_DISABLE="1",
    )
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"lm_eval failed ({proc.returncode}):\n{log[-3000:]}")
    return log, wall, usage.ru_maxrss / 1024


def _verdicts(out: Path) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    for path in out.rglob("samples_*.jsonl"):
        for line in path.read_text().splitlines():
            sample = json.loads(line)
            verdict = json.loads(sample["filtered_resps"][0])
            verdicts[f"{verdict['set_name']}:{sample['doc']['id']}"] = str(verdict["verdict"])
    return verdicts


def run_scenario(
    name: str, server: FakeOpenAI, work: Path, cache: Path, data_dir: Path, concurrency: int
) -> Measurement:
    """Run lm_eval once against ``server`` and measure it."""
    server.reset()
    out = work / name
    log, wall, rss = _lm_eval(server, out, cache, data_dir, concurrency)
    state = server.state
    stats = _STATS_LINE.findall(log)
    if len(stats) != 2:
        raise SystemExit(f"{name}: expected two judge stats lines in the log, found {len(stats)}")
    judge_wall = (
        (state.last_judge_at - state.first_judge_at) if state.first_judge_at and state.last_judge_at else 0
    )
    return Measurement(
        name=name,
        concurrency=concurrency,
        judge_requests=state.judge_requests,
        judge_answers=state.judge_answers,
        judge_wall=judge_wall,
        process_wall=wall,
        engine_cpu=sum(float(s[5]) for s in stats),
        judge_errors=sum(int(s[3]) for s in stats),
        peak_rss_mb=rss,
        max_in_flight=state.max_in_flight,
        verdicts=_verdicts(out),
        faults=dict(state.faults),
    )


def sequential_baseline(server: FakeOpenAI, data_dir: Path, items: int) -> tuple[float, int]:
    """The official scorer's way: one synchronous SDK call after the other."""
    import openai

    from coconot_tasks.benchmark.dataset import load_rows
    from coconot_tasks.benchmark.official_files import rubric_for
    from coconot_tasks.judge.prompt import judge_messages
    from utils.fake_openai import model_response

    os.environ.setdefault("COCONOT_DATA_DIR", str(data_dir))
    pairs = [("original", r) for r in load_rows("original", data_dir)]
    pairs += [("contrast", r) for r in load_rows("contrast", data_dir)]
    messages = [
        judge_messages(s, r["prompt"], model_response(r["prompt"]), rubric_for(r["subcategory"]))
        for s, r in pairs
        if model_response(r["prompt"]).strip()
    ][:items]
    assert messages[0][0]["content"] == JUDGE_SYSTEM_MESSAGE
    client = openai.OpenAI(api_key=KEY, base_url=server.url)
    server.reset()
    started = time.perf_counter()
    for message in messages:
        client.chat.completions.create(model=FAKE_JUDGE, messages=message, temperature=0, max_tokens=256)  # type: ignore[arg-type]
    return time.perf_counter() - started, len(messages)


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "coconot")
    parser.add_argument("--latency", type=float, default=0.2, help="fake judge latency in seconds")
    parser.add_argument("--sequential-items", type=int, default=0, help="0: all judge calls")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    os.environ["COCONOT_DATA_DIR"] = str(args.data_dir)

    rows: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="coconot-bench-") as tmp:
        work = Path(tmp)
        with FakeOpenAI(judge_key=KEY, latency=args.latency) as server:
            clean = run_scenario("cold-c32", server, work, work / "cache-a", args.data_dir, 32)
            rows.append(clean)
            rows.append(run_scenario("cached-rerun-c32", server, work, work / "cache-a", args.data_dir, 32))
            rows.append(run_scenario("cold-c128", server, work, work / "cache-b", args.data_dir, 128))
            server.faults = FaultPlan(
                rate_limit=0.20, server_error=0.05, drop=0.02, no_label=0.02, retry_after=0.2
            )
            faulty = run_scenario("faults-c32", server, work, work / "cache-c", args.data_dir, 32)
            rows.append(faulty)
            server.faults = FaultPlan()
            seq_items = args.sequential_items or clean.judge_answers
            seq_wall, seq_n = sequential_baseline(server, args.data_dir, seq_items)

    n = clean.judge_answers
    seq_full = seq_wall * n / seq_n
    print(f"\nCoCoNot judge benchmark: {n} judge calls (1,380 rows; empty responses need none), "
          f"fake judge latency {args.latency * 1000:.0f} ms, {os.cpu_count()} cores\n")  # fmt: skip
    header = (
        "| scenario | judge calls | judge-phase wall | ideal N*L/C | ratio | engine CPU / 1k | "
        "peak RSS | max in flight | errors |"
    )
    print(header)
    print("|" + "---|" * 9)
    for m in rows:
        ideal = m.judge_answers * args.latency / m.concurrency if m.judge_answers else 0.0
        ratio = f"{m.judge_wall / ideal:.2f}x" if ideal else "-"
        cpu = (
            f"{m.engine_cpu / max(m.judge_answers, 1) * 1000:.2f} s"
            if m.judge_answers
            else f"{m.engine_cpu:.2f} s total"
        )
        print(
            f"| {m.name} | {m.judge_requests} | {m.judge_wall:.2f} s | {ideal:.2f} s | {ratio} | {cpu} | "
            f"{m.peak_rss_mb:.0f} MB | {m.max_in_flight} | {m.judge_errors} |"
        )
    extrapolated = f" (extrapolated to {n}: {seq_full:.1f} s)" if seq_n != n else ""
    seq_ratio = seq_wall / (seq_n * args.latency)
    print(
        f"| sequential (official way) | {seq_n} | {seq_wall:.2f} s{extrapolated} | "
        f"{seq_n * args.latency:.2f} s | {seq_ratio:.2f}x | - | - | 1 | - |"
    )
    same = faulty.verdicts == clean.verdicts
    print()
    print(
        f"speedup over sequential at concurrency 32: {seq_full / clean.judge_wall:.1f}x; "
        f"at 128: {seq_full / rows[2].judge_wall:.1f}x"
    )
    print(
        f"cached rerun: {rows[1].judge_requests} judge calls, whole lm_eval run "
        f"{rows[1].process_wall:.1f} s (cold: {clean.process_wall:.1f} s)"
    )
    print(
        f"faults injected {faulty.faults}: verdicts equal to the clean run: {same}; judge errors "
        f"{faulty.judge_errors}; judge-phase wall {faulty.judge_wall / clean.judge_wall:.2f}x the clean run"
    )
    if args.json:
        payload: dict[str, Any] = {
            "latency": args.latency,
            "rows": [{k: v for k, v in vars(m).items() if k != "verdicts"} for m in rows],
            "sequential": {"items": seq_n, "wall": seq_wall},
            "faults_same_verdicts": same,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if same and faulty.judge_errors == 0 and rows[1].judge_requests == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
