"""The ``vllm`` judge backend: the OpenAI-compatible route, against a server the plugin runs.

Everything else (cache, retries, adaptive concurrency, circuit breaker, progress bar,
accounting, submission grouped by rubric for the prefix cache) is the engine's, as for the
``openai`` backend. What differs:

- the endpoint is the local server of :mod:`coconot_tasks.judge.backends.vllm.server` (started once per
  process, normally by the preflight check before generation; its random key never leaves
  this process). A server that cannot be (re)started, or that died, fails each request with
  :class:`LocalJudgeDown` (not retried): the items end as counted judge errors, and the
  generations are kept;
- optionally (``judge_structured_outputs``), vLLM's structured outputs constrain every answer
  to a short rationale followed by one valid ``<label>``; the request field is
  ``structured_outputs: {"regex": ...}`` (vLLM >= 0.12 removed the older ``guided_regex``);
- cost is 0 (no price is known for a local model unless ``judge_price_*`` is set).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from typing import Any

from coconot_tasks.judge.backends import Completion
from coconot_tasks.judge.backends.openai import OpenAIBackend
from coconot_tasks.judge.errors import JudgeCallError, JudgeConfigError
from coconot_tasks.judge.prompt import CLASS_NAMES
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeItem

logger = logging.getLogger("coconot_tasks")

#: Longest rationale the structured-output pattern allows before the label (~200 tokens, so
#: that the label always fits in the paper's max_tokens=256).
RATIONALE_CHARS = 800


def label_regex(set_name: str) -> str:
    """A rationale without ``<`` of at most :data:`RATIONALE_CHARS` characters, then one label."""
    refusal, compliance = CLASS_NAMES[set_name]
    classes = "|".join(re.escape(name) for name in (compliance, refusal, "NEITHER"))
    return rf"[^<]{{0,{RATIONALE_CHARS}}}<label>({classes})</label>"


def request_fields(settings: JudgeSettings, set_name: str) -> dict[str, Any]:
    """Fields this backend adds to each chat request (``judge_id`` names them for the cache key)."""
    if not settings.structured_outputs:
        return {}
    return {"structured_outputs": {"regex": label_regex(set_name)}}


def connect(settings: JudgeSettings) -> JudgeSettings:
    """``settings`` pointing at the running local server (started now if it is not running).

    Raises:
        coconot_tasks.judge.backends.vllm.server.LocalServerError: the server could not be started.
    """
    from coconot_tasks.judge.backends.vllm.server import shared_server

    server = shared_server(settings)
    return dataclasses.replace(settings, base_url=server.base_url, api_key=server.api_key)


def server_gone(settings: JudgeSettings) -> str | None:
    """Why the local server of ``settings`` is no longer running, or ``None`` if it runs."""
    from coconot_tasks.judge.backends.vllm.server import ServerSpec, registered_server

    server = registered_server(ServerSpec.from_settings(settings))
    return None if server is None else server.describe_exit()


class LocalJudgeDown(JudgeCallError):
    """The local judge server is not running (not retried: waiting will not bring it back)."""


class VllmBackend:
    """Chat completions from the local vLLM server, through :class:`OpenAIBackend`."""

    remote = True

    def __init__(self, settings: JudgeSettings) -> None:
        self.settings = settings
        self.endpoint: str | None = settings.endpoint  # stable across server restarts and ports
        self.inner: OpenAIBackend | None = None
        self.down: str | None = None
        try:
            self.inner = OpenAIBackend(connect(settings))
        except JudgeConfigError as exc:  # could not start: every item becomes a judge error
            logger.error("%s", exc)
            self.down = str(exc).splitlines()[0]

    async def complete(
        self, item: JudgeItem, messages: Sequence[dict[str, str]], decoding: dict[str, Any]
    ) -> Completion:
        """One answer from the local server (with structured outputs when configured)."""
        down = self.down or server_gone(self.settings)
        if down or self.inner is None:
            raise LocalJudgeDown(down or "the local judge server is not running")
        return await self.inner.complete(
            item, messages, {**decoding, **request_fields(self.settings, item.set_name)}
        )

    async def aclose(self) -> None:
        """Close the HTTP client (the server keeps running for the next batch)."""
        if self.inner is not None:
            await self.inner.aclose()
