"""What a results file records about the judge that scored it.

One dict, written into each CoCoNot task config's ``metadata`` under :data:`PROVENANCE_KEY`
(lm-eval copies task configs into the results JSON) by an ``lm_eval`` run and by ``coconot
rescore``: the requested judge, the endpoint it was asked at (credentials removed), the
model ids that endpoint reported for the verdicts, and the effective settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coconot_tasks.judge.settings import JudgeSettings

#: The key of the judge provenance in a task config's ``metadata``.
PROVENANCE_KEY = "judge"


def judge_provenance(
    settings: JudgeSettings, served_models: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The provenance of ``settings``' judge; ``served_models``: verdicts per reported model id."""
    public = settings.public()
    remote = settings.backend != "heuristic"
    public["base_url"] = settings.endpoint if remote and settings.base_url else None
    return {
        "judge": settings.judge_id,
        "endpoint": settings.endpoint if remote else None,
        "served_models": dict(sorted((served_models or {}).items())),
        "settings": public,
    }
