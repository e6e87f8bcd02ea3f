"""The optional system message of exported conversations: the paper's prompt or any text."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coconot_tasks.benchmark.dataset import DataError


@contextmanager
def _system_prompt_from(data_dir: Path | None) -> Iterator[None]:
    """Let the official system prompt be found in ``data_dir`` (like ``COCONOT_DATA_DIR``)."""
    from coconot_tasks.benchmark.official_files import SYSTEM_PROMPT

    candidate = data_dir / SYSTEM_PROMPT.name if data_dir is not None else None
    if candidate is None or os.environ.get(SYSTEM_PROMPT.env_var) or not candidate.is_file():
        yield
        return
    os.environ[SYSTEM_PROMPT.env_var] = str(candidate)
    try:
        yield
    finally:
        os.environ.pop(SYSTEM_PROMPT.env_var, None)


def resolve_system_prompt(value: str | None, data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """``"official"``: the paper's system prompt (verified copy); any other text is used as is.

    The official prompt is read from ``data_dir`` when that holds a copy and
    ``COCONOT_SYSTEM_PROMPT_PATH`` is unset; otherwise it is found as
    :func:`coconot_tasks.benchmark.official_files.load_system_prompt` finds it.

    Raises:
        DataError: empty text, or the official prompt cannot be found (offline without a copy).
    """
    if value is None:
        return None
    if not value.strip():
        raise DataError("the system prompt is empty")
    if value != "official":
        return value
    from coconot_tasks.benchmark.official_files import ResourceError, load_system_prompt

    try:
        with _system_prompt_from(Path(data_dir).expanduser() if data_dir else None):
            return load_system_prompt()
    except ResourceError as exc:
        raise DataError(str(exc)) from exc
