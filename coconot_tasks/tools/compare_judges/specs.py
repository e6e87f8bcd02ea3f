"""Judge specs of ``coconot compare-judges --judge SPEC``, resolved by ``JudgeSettings.resolve``."""

from __future__ import annotations

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


def spec_metadata(text: str) -> dict[str, Any] | None:
    """The judge keys of ``NAME`` or ``NAME:MODEL[@WHERE]`` (the backend says what ``WHERE`` sets)."""
    text = text.strip()
    if text == SAVED:
        return None
    name, colon, rest = text.partition(":")
    model, at, where = rest.partition("@")
    backend = BACKENDS.get(name)
    if backend is not None and backend.spec_where is None and not colon:
        return {"judge_backend": name}
    if backend is None or backend.spec_where is None or not model:
        raise JudgeConfigError(f"--judge {text!r} is not a judge spec; use {SPEC_HELP}")
    return {"judge_backend": name, "judge_model": model, **({backend.spec_where: where} if at else {})}


def parse_specs(texts: list[str], shared: Mapping[str, Any]) -> list[JudgeSpec]:
    """Resolve ``texts`` with the ``shared`` judge settings; names are judge ids (``@endpoint`` added to tell
    two apart). Raises :class:`JudgeConfigError` for a malformed or repeated spec or invalid settings."""
    if len(texts) < 2:
        raise JudgeConfigError(f"give at least two --judge options ({SPEC_HELP})")
    resolved: list[tuple[str, JudgeSettings | None]] = []
    for text in texts:
        metadata = spec_metadata(text)
        try:
            settings = None if metadata is None else JudgeSettings.resolve({**shared, **metadata})
        except JudgeConfigError as exc:
            raise JudgeConfigError(f"--judge {text}: {exc}") from None
        resolved.append((text, settings))
    ids = [SAVED if s is None else s.judge_id for _t, s in resolved]
    specs = []
    for (text, settings), judge_id in zip(resolved, ids, strict=True):
        name = judge_id
        if settings is not None and ids.count(judge_id) > 1:
            name = f"{judge_id}@{settings.endpoint}"
        specs.append(JudgeSpec(text, name, settings))
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise JudgeConfigError(f"--judge names the same judge twice: {', '.join(repeated)}")
    return specs
