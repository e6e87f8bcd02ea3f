"""Judge specs of ``coconot compare-judges --judge SPEC``, resolved by ``JudgeSettings.resolve``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coconot_tasks.judge.backends import BACKENDS
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.settings import JudgeSettings

SAVED = "saved"
SPEC_HELP = ", ".join([SAVED, *(backend.spec_form.format(name=name) for name, backend in BACKENDS.items())])


@dataclass(frozen=True)
class JudgeSpec:
    """One judge to compare: its name in the outputs and its settings (``None``: saved verdicts)."""

    text: str
    name: str
    settings: JudgeSettings | None


def spec_settings(text: str, shared: Mapping[str, Any]) -> JudgeSettings | None:
    """The settings of ``NAME`` or ``NAME:MODEL[@WHERE]`` (the backend says what ``WHERE`` sets) with the
    ``shared`` ones; ``None`` for ``saved``."""
    spec = text.strip()
    if spec == SAVED:
        return None
    name, colon, rest = spec.partition(":")
    model, at, where = rest.partition("@")
    backend = BACKENDS.get(name)
    metadata = {"judge_backend": name}
    if backend is None or backend.spec_where is not None or colon:  # not a bare name such as heuristic
        if backend is None or backend.spec_where is None or not model:
            raise JudgeConfigError(f"--judge {spec!r} is not a judge spec; use {SPEC_HELP}")
        metadata.update({"judge_model": model, **({backend.spec_where: where} if at else {})})
    try:
        return JudgeSettings.resolve({**shared, **metadata})
    except JudgeConfigError as exc:
        raise JudgeConfigError(f"--judge {text}: {exc}") from None


def parse_specs(texts: list[str], shared: Mapping[str, Any]) -> list[JudgeSpec]:
    """Resolve ``texts`` with the ``shared`` judge settings; names are judge ids (``@endpoint`` added to tell
    two apart). Raises :class:`JudgeConfigError` for a malformed or repeated spec or invalid settings."""
    if len(texts) < 2:
        raise JudgeConfigError(f"give at least two --judge options ({SPEC_HELP})")
    resolved = [spec_settings(text, shared) for text in texts]
    ids = Counter(SAVED if settings is None else settings.judge_id for settings in resolved)
    specs = []
    for text, settings in zip(texts, resolved, strict=True):
        name = SAVED if settings is None else settings.judge_id
        if settings is not None and ids[name] > 1:
            name = f"{name}@{settings.endpoint}"
        specs.append(JudgeSpec(text, name, settings))
    repeated = sorted(name for name, count in Counter(spec.name for spec in specs).items() if count > 1)
    if repeated:
        raise JudgeConfigError(f"--judge names the same judge twice: {', '.join(repeated)}")
    return specs
