"""What a results file records about the judge that scored it (under :data:`JUDGE_RECORD_KEY`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coconot_tasks.judge.backends import backend_for, request_shape
from coconot_tasks.judge.pricing import prices_known
from coconot_tasks.judge.settings import JudgeSettings, applies


def judge_provenance(
    settings: JudgeSettings, served_models: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The record of ``settings``' judge: the public settings that apply to its backend, the judge,
    endpoint, served models, request parameters, whether they are the paper's, and ``price_known``."""
    backend = backend_for(settings)
    shape = request_shape(settings)
    record = {name: value for name, value in settings.public().items() if applies(name, backend)}
    if "base_url" in record:
        record["base_url"] = settings.endpoint if settings.base_url else None
    about = {
        "judge": settings.judge_id,
        "endpoint": settings.endpoint,
        "served_models": dict(sorted((served_models or {}).items())),
        "request": dict(shape.params),
        "paper_request": shape.paper,
        "price_known": prices_known(settings),
    }
    offline = {"endpoint", "price_known"}  # an offline judge has neither
    return {**record, **{key: value for key, value in about.items() if backend.remote or key not in offline}}


def served_by(served_models: Mapping[str, int]) -> str:
    """The model ids an endpoint reported and their verdicts, e.g. ``a (30), b (2)`` (empty if none)."""
    return ", ".join(f"{model} ({count})" for model, count in sorted(served_models.items()))
