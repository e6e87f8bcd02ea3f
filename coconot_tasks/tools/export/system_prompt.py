"""The optional system message of exported conversations: the paper's prompt or any text."""

from __future__ import annotations

import os
from pathlib import Path

from coconot_tasks.benchmark.dataset import DataError
from coconot_tasks.benchmark.official_files import ResourceError, load_system_prompt


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
    try:
        return load_system_prompt(Path(data_dir).expanduser() if data_dir else None)
    except ResourceError as exc:
        raise DataError(str(exc)) from exc
