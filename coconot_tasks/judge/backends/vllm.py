"""The ``vllm`` judge backend: the OpenAI-compatible route, against a server the plugin runs.

Everything else (cache, retries, adaptive concurrency, progress bar, accounting) is the
engine's, as for the ``openai`` backend. What differs:

- the endpoint is the local server of :mod:`coconot_tasks.judge.local_server` (started once per
  process; its random key never leaves this process);
- requests are submitted grouped by (set, subcategory), so that consecutive prompts share the
  rubric prefix and vLLM's automatic prefix cache serves it instead of recomputing it;
- optionally (``judge_structured_outputs``), vLLM's structured outputs constrain every answer
  to a short rationale followed by one valid ``<label>``; the request field is
  ``structured_outputs: {"regex": ...}`` (vLLM >= 0.12 removed the older ``guided_regex``);
- cost is 0 (no price is known for a local model unless ``judge_price_*`` is set).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from coconot_tasks.judge.prompt import CLASS_NAMES
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeItem

#: Longest rationale the structured-output pattern allows before the label (~200 tokens, so
#: that the label always fits in the paper's max_tokens=256).
RATIONALE_CHARS = 800


def label_regex(set_name: str) -> str:
    """A rationale without ``<`` of at most :data:`RATIONALE_CHARS` characters, then one label."""
    refusal, compliance = CLASS_NAMES[set_name]
    classes = "|".join(re.escape(name) for name in (compliance, refusal, "NEITHER"))
    return rf"[^<]{{0,{RATIONALE_CHARS}}}<label>({classes})</label>"


def request_fields(settings: JudgeSettings, set_name: str) -> dict[str, Any]:
    """Fields this backend adds to each chat request (also part of the cache key)."""
    if not settings.structured_outputs:
        return {}
    return {"structured_outputs": {"regex": label_regex(set_name)}}


def prefix_order(items: Sequence[JudgeItem]) -> list[int]:
    """Indices of ``items`` grouped by (set, subcategory): the order to submit them in.

    Stable within a group; results are still returned in the original order.
    """
    return sorted(range(len(items)), key=lambda i: (items[i].set_name, items[i].subcategory.lower()))


def connect(settings: JudgeSettings) -> JudgeSettings:
    """``settings`` pointing at the running local server (started now if it is not running).

    Raises:
        coconot_tasks.judge.local_server.LocalServerError: the server could not be started.
    """
    from coconot_tasks.judge.local_server import shared_server

    server = shared_server(settings)
    return dataclasses.replace(settings, base_url=server.base_url, api_key=server.api_key)


def server_gone(settings: JudgeSettings) -> str | None:
    """Why the local server of ``settings`` is no longer running, or ``None`` if it runs."""
    from coconot_tasks.judge.local_server import ServerSpec, registered_server

    server = registered_server(ServerSpec.from_settings(settings))
    return None if server is None else server.describe_exit()
