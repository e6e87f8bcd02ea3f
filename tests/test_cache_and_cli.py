"""Verdict cache and its CLI, the adaptive limiter, retry policy, pricing, heuristic judge."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
import tenacity

from coconot_tasks.judge import pricing, retry
from coconot_tasks.judge.backends.heuristic import heuristic_judge_output
from coconot_tasks.judge.backends.openai.errors import call_error, retry_after_seconds
from coconot_tasks.judge.backends.openai.pricing import price_per_million
from coconot_tasks.judge.cache import CachedOutput, VerdictCache, default_cache_path, request_key
from coconot_tasks.judge.errors import JudgeCallError
from coconot_tasks.judge.limiter import AdaptiveLimiter
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.verdict import parse_verdict

# openai's HTTP library: httpx in most versions, a renamed fork in some (check its imports).
_http: Any = importlib.import_module(
    next(name for name in ("httpx2", "httpx") if hasattr(importlib.import_module("openai._exceptions"), name))
)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "coconot_tasks", *args], env=env, capture_output=True, text=True, timeout=60
    )


def fill(cache: VerdictCache, judge: str, n: int) -> None:
    for i in range(n):
        cache.put(f"{judge}-{i}", judge, CachedOutput(f"<label>ACCEPTABLE</label> {i}", 10 + i, i), ENDPOINT)


ENDPOINT = "http://127.0.0.1:1/v1"

# --- VerdictCache --------------------------------------------------------------------------


def test_put_get_roundtrip_and_replace(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / "c.sqlite3")
    try:
        assert cache.get("missing") is None
        assert cache.put("k", "openai:gpt-4.1-mini", CachedOutput("first", 5, 7, "gpt-4.1-mini-x"), ENDPOINT)
        assert cache.get("k") == CachedOutput("first", 5, 7, "gpt-4.1-mini-x")
        cache.put("k", "openai:gpt-4.1-mini", CachedOutput("second", 1, 2), ENDPOINT)
        assert cache.get("k") == CachedOutput("second", 1, 2, None)
        assert cache.stats()["entries"] == 1
    finally:
        cache.close()


def test_entries_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    cache = VerdictCache(path)
    cache.put("k", "j", CachedOutput("kept", 1, 1), ENDPOINT)
    cache.close()
    reopened = VerdictCache(path)
    try:
        assert reopened.get("k") == CachedOutput("kept", 1, 1)
    finally:
        reopened.close()


def test_default_path_is_inside_the_cache_dir(isolated_env: Path) -> None:
    cache = VerdictCache()
    try:
        assert cache.path == default_cache_path() == isolated_env / "judge_cache.sqlite3"
        assert cache.path.is_file()
    finally:
        cache.close()


def test_stats_and_clear_all_or_one_judge(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / "c.sqlite3")
    try:
        fill(cache, "openai:gpt-4", 3)
        fill(cache, "openai:gpt-3.5-turbo", 5)
        stats = cache.stats()
        assert stats["entries"] == 8
        assert stats["per_judge"] == {"openai:gpt-3.5-turbo": 5, "openai:gpt-4": 3}
        assert stats["path"] == str(tmp_path / "c.sqlite3")
        assert stats["bytes"] > 0

        assert cache.clear("no-such-judge") == 0
        assert cache.clear("openai:gpt-4") == 3
        assert cache.get("openai:gpt-4-0") is None
        assert cache.get("openai:gpt-3.5-turbo-0") is not None
        assert cache.stats()["per_judge"] == {"openai:gpt-3.5-turbo": 5}

        assert cache.clear() == 5
        assert cache.stats()["entries"] == 0
        assert cache.stats()["per_judge"] == {}
    finally:
        cache.close()


def test_request_key_depends_on_every_part_of_the_request() -> None:
    messages = [{"role": "user", "content": "q"}]
    decoding = {"temperature": 0.0, "max_tokens": 256}
    judge = "openai:gpt-4.1-mini-2025-04-14"
    base = request_key(judge, ENDPOINT, "v1", messages, decoding)
    assert base == request_key(judge, ENDPOINT, "v1", [dict(m) for m in messages], dict(decoding))
    variants = [
        request_key("openai:gpt-4.1-mini", ENDPOINT, "v1", messages, decoding),
        request_key(judge, "https://api.openai.com/v1", "v1", messages, decoding),
        request_key(judge, ENDPOINT, "v2", messages, decoding),
        request_key(judge, ENDPOINT, "v1", [{"role": "user", "content": "q "}], decoding),
        request_key(judge, ENDPOINT, "v1", messages, {**decoding, "max_tokens": 512}),
    ]
    assert len({base, *variants}) == 6


_WRITER = """
import sys, time
from pathlib import Path
from coconot_tasks.judge.cache import CachedOutput, VerdictCache
path, tag, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
cache = VerdictCache(path)
while not go.exists():  # start both writers at the same moment
    time.sleep(0.005)
for i in range(200):
    cache.put(f"{tag}-{i}", f"judge-{tag}", CachedOutput(f"{tag} says {i}", i, 2 * i), "e")
    cache.put("shared", "judge-shared", CachedOutput(tag, 0, 0), "e")
cache.close()
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), tag, str(go)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    go.touch()
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    cache = VerdictCache(path)
    try:
        stats = cache.stats()
        assert stats["per_judge"] == {"judge-a": 200, "judge-b": 200, "judge-shared": 1}
        for tag in ("a", "b"):
            for i in range(200):
                assert cache.get(f"{tag}-{i}") == CachedOutput(f"{tag} says {i}", i, 2 * i)
        shared = cache.get("shared")
        assert shared is not None and shared.output in {"a", "b"}
    finally:
        cache.close()


# --- the `coconot cache` command -----------------------------------------------------------


def test_cli_cache_stats_and_clear(isolated_env: Path) -> None:
    cache = VerdictCache()
    fill(cache, "openai:gpt-4", 2)
    fill(cache, "heuristic", 3)
    cache.close()
    db = isolated_env / "judge_cache.sqlite3"

    stats = run_cli("cache", "stats")
    assert stats.returncode == 0, stats.stderr
    shown = json.loads(stats.stdout)
    assert shown["entries"] == 5
    assert shown["per_judge"] == {"heuristic": 3, "openai:gpt-4": 2}
    assert shown["path"] == str(db)

    cleared = run_cli("cache", "clear", "--judge", "openai:gpt-4")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == f"removed 2 cached verdicts (judge openai:gpt-4) from {db}"
    assert json.loads(run_cli("cache").stdout)["per_judge"] == {"heuristic": 3}  # stats is the default

    # a judge the cache does not hold: an error that names the judges it does hold
    typo = run_cli("cache", "clear", "--judge", "openai:gpt4")
    assert typo.returncode == 1 and typo.stdout == ""
    assert (
        "holds no verdicts of judge 'openai:gpt4'" in typo.stderr
        and "Judges it holds: heuristic" in typo.stderr
    )

    cleared_all = run_cli("cache", "clear")
    assert cleared_all.stdout.strip() == f"removed 3 cached verdicts (all judges) from {db}"
    assert json.loads(run_cli("cache", "stats").stdout)["entries"] == 0


# --- AdaptiveLimiter -----------------------------------------------------------------------


def test_limiter_rejects_a_maximum_below_one() -> None:
    with pytest.raises(ValueError):
        AdaptiveLimiter(0)


def test_throttle_halves_down_to_one_and_success_climbs_back_to_max() -> None:
    limiter = AdaptiveLimiter(16, cooldown=0.0)
    assert limiter.limit == 16
    seen = []
    for _ in range(8):
        limiter.on_throttle()
        seen.append(limiter.limit)
    assert seen == [8, 4, 2, 1, 1, 1, 1, 1]
    assert limiter.lowest == 1

    previous = limiter.limit
    for _ in range(500):
        limiter.on_success()
        assert previous <= limiter.limit <= 16
        previous = limiter.limit
    assert limiter.limit == 16
    limiter.on_success()
    assert limiter.limit == 16


def test_a_burst_of_throttles_within_the_cooldown_counts_once() -> None:
    limiter = AdaptiveLimiter(10, cooldown=3600.0)
    for _ in range(5):
        limiter.on_throttle()
    assert limiter.limit == 5


def test_minimum_is_respected_and_never_below_one() -> None:
    limiter = AdaptiveLimiter(8, minimum=3, cooldown=0.0)
    for _ in range(5):
        limiter.on_throttle()
    assert limiter.limit == 3
    floor = AdaptiveLimiter(4, minimum=0, cooldown=0.0)
    for _ in range(5):
        floor.on_throttle()
    assert floor.limit == 1
    capped = AdaptiveLimiter(2, minimum=10, cooldown=0.0)
    capped.on_throttle()
    assert capped.limit == 2


def test_in_flight_never_exceeds_the_limit_and_peak_is_tracked() -> None:
    async def scenario() -> tuple[int, int, int, int]:
        limiter = AdaptiveLimiter(8, cooldown=0.0)
        limiter.on_throttle()
        limiter.on_throttle()  # limit 2
        gate = asyncio.Event()
        done = 0

        async def worker() -> None:
            nonlocal done
            await limiter.acquire()
            try:
                await gate.wait()
            finally:
                await limiter.release()
            done += 1

        tasks = [asyncio.create_task(worker()) for _ in range(10)]
        for _ in range(50):  # let every worker run as far as it can
            await asyncio.sleep(0)
        blocked_in_flight = limiter.in_flight
        gate.set()
        await asyncio.gather(*tasks)
        return blocked_in_flight, limiter.peak_in_flight, done, limiter.in_flight

    blocked, peak, done, left = asyncio.run(scenario())
    assert blocked == 2
    assert peak == 2
    assert done == 10
    assert left == 0


def test_peak_reaches_maximum_without_throttling() -> None:
    async def scenario() -> int:
        limiter = AdaptiveLimiter(3)
        for _ in range(3):
            await limiter.acquire()
        for _ in range(3):
            await limiter.release()
        return limiter.peak_in_flight

    assert asyncio.run(scenario()) == 3


# --- retry policy --------------------------------------------------------------------------


def _request() -> Any:
    return _http.Request("POST", "http://judge.invalid/v1/chat/completions")


def status_error(cls: type[openai.APIStatusError], status: int, headers: dict[str, str] | None = None) -> Any:
    response = _http.Response(status, headers=headers or {}, request=_request())
    return cls(f"HTTP {status}", response=response, body=None)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: status_error(openai.RateLimitError, 429), True),
        (lambda: status_error(openai.InternalServerError, 500), True),
        (lambda: status_error(openai.InternalServerError, 503), True),
        (lambda: status_error(openai.APIStatusError, 408), True),
        (lambda: status_error(openai.ConflictError, 409), True),
        (lambda: openai.APIConnectionError(request=_request()), True),
        (lambda: openai.APITimeoutError(_request()), True),
        (lambda: status_error(openai.AuthenticationError, 401), False),
        (lambda: status_error(openai.BadRequestError, 400), False),
        (lambda: status_error(openai.NotFoundError, 404), False),
        (lambda: status_error(openai.PermissionDeniedError, 403), False),
        (lambda: ValueError("bug"), False),
    ],
    ids=[
        "429",
        "500",
        "503",
        "408",
        "409",
        "connection",
        "timeout",
        "401",
        "400",
        "404",
        "403",
        "ValueError",
    ],
)
def test_is_retryable(make: Any, expected: bool) -> None:
    exc = make()
    assert retry.is_retryable(call_error(exc) if isinstance(exc, openai.OpenAIError) else exc) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"Retry-After": "4"}, 4.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "3600"}, 60.0),
        ({"retry-after": "-1"}, None),
        ({}, None),
    ],
    ids=[
        "seconds",
        "fraction",
        "ms",
        "ms-first",
        "bad-ms-falls-back",
        "header-case",
        "http-date-past",
        "capped",
        "negative",
        "none",
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(status_error(openai.RateLimitError, 429, headers)) == expected


def test_retry_after_http_date_in_the_future() -> None:
    when = email.utils.format_datetime(
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=30), usegmt=True
    )
    seconds = retry_after_seconds(status_error(openai.RateLimitError, 429, {"retry-after": when}))
    assert seconds is not None and 25 <= seconds <= 30


def test_retry_after_without_a_response() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds(ValueError("x")) is None
    assert retry_after_seconds(openai.APIConnectionError(request=_request())) is None


def _state_after(exc: BaseException) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(tenacity.AsyncRetrying(), None, (), {})
    state.set_exception((type(exc), exc, None))
    return state


def test_wait_honours_retry_after_and_never_waits_past_the_cap() -> None:
    wait = retry.WaitRetryAfterOrJitter(initial=0.5, maximum=20.0)
    assert (
        wait(_state_after(call_error(status_error(openai.RateLimitError, 429, {"retry-after": "2"})))) == 2.0
    )
    for headers in ({"retry-after": "3600"}, {}):
        delay = wait(_state_after(call_error(status_error(openai.RateLimitError, 429, headers))))
        assert 0.0 <= delay <= retry.MAX_RETRY_AFTER


def test_retrying_retries_transient_errors_then_succeeds() -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise call_error(status_error(openai.RateLimitError, 429, {"retry-after-ms": "0"}))
        return "ok"

    async def main() -> str:
        result = ""
        async for attempt in retry.retrying(max_retries=5):
            with attempt:
                result = await flaky()
        return result

    assert asyncio.run(main()) == "ok"
    assert attempts == 3


@pytest.mark.parametrize(
    ("status", "cls", "max_retries", "expected_attempts"),
    [(401, openai.AuthenticationError, 5, 1), (429, openai.RateLimitError, 2, 3)],
    ids=["auth-error-not-retried", "429-gives-up-after-max-retries"],
)
def test_retrying_reraises_the_original_error(
    status: int, cls: type[openai.APIStatusError], max_retries: int, expected_attempts: int
) -> None:
    attempts = 0

    async def failing() -> None:
        nonlocal attempts
        attempts += 1
        raise call_error(status_error(cls, status, {"retry-after-ms": "0"}))

    async def main() -> None:
        async for attempt in retry.retrying(max_retries=max_retries):
            with attempt:
                await failing()

    with pytest.raises(JudgeCallError, match=rf"^{cls.__name__} \(HTTP {status}\): "):
        asyncio.run(main())
    assert attempts == expected_attempts


# --- pricing -------------------------------------------------------------------------------


def test_pricing_known_model() -> None:
    prices = price_per_million("gpt-3.5-turbo")
    assert prices == (0.50, 1.50)
    assert pricing.cost_usd(prices, 1_000_000, 1_000_000) == pytest.approx(2.0)
    assert pricing.cost_usd(prices, 2000, 100) == pytest.approx(0.00115)


def test_pricing_knows_the_default_judge_snapshot() -> None:
    from coconot_tasks.judge.backends.openai.retired import DEFAULT_JUDGE_MODEL

    assert price_per_million(DEFAULT_JUDGE_MODEL) == (0.10, 0.50)
    assert price_per_million("gpt-6.1-terra") == (1.00, 5.00)


def test_pricing_unknown_model_costs_nothing_unless_priced() -> None:
    assert price_per_million("my-local-llama") is None
    assert pricing.judge_prices(JudgeSettings(model="my-local-llama")) is None
    assert pricing.cost_usd(None, 10**9, 10**9) == 0.0
    assert pricing.judge_prices(JudgeSettings(model="my-local-llama", price_input=1.0)) == (1.0, 0.0)
    priced = JudgeSettings(model="gpt-3.5-turbo", price_input=2.0, price_output=4.0)
    assert pricing.judge_prices(priced) == (2.0, 4.0)
    assert pricing.cost_usd((2.0, 4.0), 500_000, 250_000) == pytest.approx(2.0)


# --- heuristic judge -----------------------------------------------------------------------

REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I cannot provide instructions for making weapons.",
    "As an AI language model, I don't have personal opinions.",
    "Could you clarify which city you mean?",
    "There is no evidence that the moon landing was staged.",
]
COMPLIANT = [
    "Sure! Mix 200 g flour, 2 eggs and 300 ml milk, then fry thin pancakes in butter.",
    "The capital of France is Paris. It has about two million inhabitants.",
    "Here is a haiku:\nAutumn moonlight -\na worm digs silently\ninto the chestnut.",
]


@pytest.mark.parametrize("set_name", ["original", "contrast"])
@pytest.mark.parametrize("response", REFUSALS, ids=[f"refusal{i}" for i in range(len(REFUSALS))])
def test_heuristic_detects_refusals(set_name: str, response: str) -> None:
    output = heuristic_judge_output(set_name, response)
    assert parse_verdict(set_name, output) == "noncompliance"


@pytest.mark.parametrize("set_name", ["original", "contrast"])
@pytest.mark.parametrize("response", COMPLIANT, ids=[f"compliant{i}" for i in range(len(COMPLIANT))])
def test_heuristic_passes_compliant_text(set_name: str, response: str) -> None:
    output = heuristic_judge_output(set_name, response)
    assert parse_verdict(set_name, output) == "compliance"


def test_heuristic_output_uses_the_sets_class_names() -> None:
    assert heuristic_judge_output("original", "I'm sorry, I can't.").endswith("<label>ACCEPTABLE</label>")
    assert heuristic_judge_output("original", "Sure.").endswith("<label>UNACCEPTABLE</label>")
    assert heuristic_judge_output("contrast", "I'm sorry, I can't.").endswith("<label>NONCOMPLIANCE</label>")
    assert heuristic_judge_output("contrast", "Sure.").endswith("<label>COMPLIANCE</label>")
