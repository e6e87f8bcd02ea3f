"""Judge backends: the one registry (see :class:`~coconot_tasks.judge.backends.base.JudgeBackend`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coconot_tasks.judge.backends.base import JudgeBackend, RequestShape
from coconot_tasks.judge.backends.heuristic import HeuristicBackend
from coconot_tasks.judge.backends.openai import OpenAIBackend
from coconot_tasks.judge.backends.vllm import VllmBackend

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings

#: Every judge backend by its ``judge_backend`` name: adding a backend is one line here.
BACKENDS: dict[str, type[JudgeBackend]] = {
    backend.name: backend for backend in (OpenAIBackend, HeuristicBackend, VllmBackend)
}
#: The backend when ``judge_backend`` is not set.
DEFAULT_BACKEND = OpenAIBackend.name


def backend_for(settings: JudgeSettings) -> type[JudgeBackend]:
    """The backend ``settings.backend`` names (the settings checked the name)."""
    return BACKENDS[settings.backend]


def request_shape(settings: JudgeSettings) -> RequestShape:
    """The request shape of ``settings``' judge: its backend decides."""
    return backend_for(settings).request_shape(settings)
