"""The ``vllm`` judge backend: the OpenAI route against the ``vllm serve`` the plugin runs (:mod:`.server`).

A server that cannot be (re)started, or that died, fails each request with :class:`LocalJudgeDown`
(not retried). ``judge_structured_outputs`` sends vLLM's ``structured_outputs: {"regex": ...}``.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coconot_tasks.judge.backends.base import Completion, JudgeFacts
from coconot_tasks.judge.backends.openai import OpenAIBackend
from coconot_tasks.judge.backends.vllm import server
from coconot_tasks.judge.backends.vllm.settings import (
    DEFAULT_VLLM_CONCURRENCY,
    DEFAULT_VLLM_MODEL,
    DEFAULT_VLLM_REVISION,
    VllmServerSettings,
    server_settings,
)
from coconot_tasks.judge.errors import JudgeCallError, JudgeConfigError
from coconot_tasks.judge.prompt import CLASS_NAMES
from coconot_tasks.judge.types import JudgeItem

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings

logger = logging.getLogger("coconot_tasks")

#: The endpoint recorded for the ``vllm`` backend: the server the plugin starts listens on a
#: new port each time, so the cache key and the records name it by this stable identity (the
#: judge id pins the model, its revision and structured outputs).
LOCAL_VLLM_ENDPOINT = "vllm serve (local, started by coconot-tasks)"
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")

#: Longest rationale the structured-output pattern allows before the label (~200 tokens, so
#: that the label always fits in the paper's max_tokens=256).
RATIONALE_CHARS = 800


def label_regex(set_name: str) -> str:
    """A rationale without ``<`` of at most :data:`RATIONALE_CHARS` characters, then one label."""
    refusal, compliance = CLASS_NAMES[set_name]
    classes = "|".join(re.escape(name) for name in (compliance, refusal, "NEITHER"))
    return rf"[^<]{{0,{RATIONALE_CHARS}}}<label>({classes})</label>"


class LocalJudgeDown(JudgeCallError):
    """The local judge server is not running (not retried: waiting will not bring it back)."""


class VllmBackend(OpenAIBackend):
    """The OpenAI route (key and endpoint fallbacks, request shape) to the local vLLM server."""

    name = "vllm"
    default_model = DEFAULT_VLLM_MODEL
    declares = VllmServerSettings
    not_recorded = frozenset({"base_url"})  # the plugin starts the server: the endpoint says so
    spec_where = "judge_vllm_revision"
    spec_form = "{name}:MODEL@REVISION"

    @classmethod
    def judge_id(cls, settings: JudgeSettings) -> str:
        """``vllm:MODEL@REVISION``, ``+structured`` with structured outputs (they change the answers)."""
        own = server_settings(settings)
        pinned = f"{settings.model}@{own.vllm_revision}" if own.vllm_revision else settings.model
        return f"{cls.name}:{pinned}{'+structured' if own.structured_outputs else ''}"

    @classmethod
    def endpoint_of(cls, settings: JudgeSettings) -> str:
        """:data:`LOCAL_VLLM_ENDPOINT`: stable across server restarts and ports."""
        return LOCAL_VLLM_ENDPOINT

    @classmethod
    def defaults(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The local judge's defaults where the user set nothing: the pinned model, a full batch."""
        values = dict(values)
        if "model" not in values:
            values["model"] = cls.default_model
            values.setdefault("vllm_revision", DEFAULT_VLLM_REVISION)
        values.setdefault("concurrency", DEFAULT_VLLM_CONCURRENCY)
        return values

    @classmethod
    def validate(cls, settings: JudgeSettings) -> None:
        """A pinned revision for a hub model (the numbers are checked against their bounds)."""
        if Path(settings.model).expanduser().is_dir():
            return  # a local directory: its files are the revision
        revision = server_settings(settings).vllm_revision
        if not revision or not _COMMIT_SHA.fullmatch(revision):
            raise JudgeConfigError(
                f"the local judge {settings.model!r} must be pinned to a Hugging Face commit: set --metadata "
                "judge_vllm_revision=<40-hex commit sha> (COCONOT_JUDGE_VLLM_REVISION; got "
                f"{revision!r}). A branch or tag can move; a commit cannot."
            )

    @classmethod
    def check(cls, settings: JudgeSettings, today: datetime.date | None = None) -> None:
        """Nothing to check: OpenAI's retired-model table does not apply to a model this server runs."""

    @classmethod
    def prices(cls, settings: JudgeSettings) -> tuple[float, float] | None:
        """No list price: a local judge's cost is the user's to set (``judge_price_*``)."""
        return None

    @classmethod
    def preflight(cls, settings: JudgeSettings, today: datetime.date | None = None) -> JudgeFacts:
        """Start the local judge now, before any generation: a server that cannot start (out of
        memory, missing weights) fails the run while nothing is lost yet. A local open-weight
        judge at a pinned revision has no shutdown date."""
        server.shared_server(settings)
        return JudgeFacts()

    @classmethod
    def reserve(cls, settings: JudgeSettings) -> None:
        """The server stays up until every task that reserved it has judged."""
        server.reserve(settings)

    @classmethod
    def release(cls, settings: JudgeSettings) -> None:
        """The last CoCoNot task frees the judge's GPU now."""
        server.release(settings)

    @classmethod
    def revision(cls, judge_id: str, recorded: Mapping[str, Any] | None = None) -> str | None:
        """The recorded ``vllm_revision``, else the part after ``@`` of ``vllm:MODEL@REVISION+structured``."""
        if recorded is not None:
            return str(recorded["vllm_revision"]) if recorded.get("vllm_revision") else None
        return judge_id.partition(":")[2].partition("@")[2].partition("+")[0] or None

    def __init__(self, settings: JudgeSettings) -> None:
        self.settings = settings
        self.endpoint: str | None = settings.endpoint  # stable across server restarts and ports
        self.structured = server_settings(settings).structured_outputs
        self.down: str | None = None
        try:
            running = server.shared_server(settings)
        except JudgeConfigError as exc:  # could not start: every item becomes a judge error
            logger.error("%s", exc)
            self.down = str(exc).splitlines()[0]
            return
        super().__init__(replace(settings, base_url=running.base_url, api_key=running.api_key))

    async def complete(
        self, item: JudgeItem, messages: Sequence[dict[str, str]], decoding: dict[str, Any]
    ) -> Completion:
        """One answer from the local server (with structured outputs when configured)."""
        down = self.down or server.server_gone(self.settings)
        if down:
            raise LocalJudgeDown(down)
        if self.structured:  # judge_id says so: part of the cache key
            decoding = {**decoding, "structured_outputs": {"regex": label_regex(item.set_name)}}
        return await super().complete(item, messages, decoding)

    async def aclose(self) -> None:
        """Close the HTTP client (the server keeps running for the next batch)."""
        if self.down is None:
            await super().aclose()
