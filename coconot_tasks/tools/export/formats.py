"""The output formats of each kind, and one exported record per row and format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from coconot_tasks.benchmark.dataset import DataError
from coconot_tasks.tools.export.kinds import PREFERENCE, SFT

MESSAGES: Final = "messages"
TRL_DPO: Final = "trl-dpo"
OPENAI_DPO: Final = "openai-dpo"
HF_DATASET: Final = "hf-dataset"
FORMATS: Final[dict[str, tuple[str, ...]]] = {
    SFT: (MESSAGES, HF_DATASET),
    PREFERENCE: (TRL_DPO, OPENAI_DPO, HF_DATASET),
}
DEFAULT_FORMAT: Final[dict[str, str]] = {SFT: MESSAGES, PREFERENCE: TRL_DPO}
ALL_FORMATS: Final = (MESSAGES, TRL_DPO, OPENAI_DPO, HF_DATASET)
#: The formats written one JSON object per line (:func:`to_record` builds their lines).
LINE_FORMATS: Final = (MESSAGES, TRL_DPO, OPENAI_DPO)
#: The CoCoNot fields of a record's ``metadata`` (added on request).
METADATA_FIELDS: Final = ("id", "category", "subcategory")


def resolve_format(kind: str, fmt: str | None) -> str:
    """``fmt``, or the default format of ``kind`` for None.

    Raises:
        DataError: ``fmt`` is not a format of ``kind``.
    """
    fmt = fmt or DEFAULT_FORMAT[kind]
    if fmt not in FORMATS[kind]:
        raise DataError(
            f"format {fmt!r} does not fit {kind} data; {kind} formats: {', '.join(FORMATS[kind])}"
        )
    return fmt


def record_layout(kind: str, fmt: str) -> str:
    """The line format of ``fmt``'s records: ``hf-dataset`` rows have the TRL layout of the kind
    (``messages``, or ``prompt``/``chosen``/``rejected``)."""
    return DEFAULT_FORMAT[kind] if fmt == HF_DATASET else fmt


def _message(role: str, content: str) -> dict[str, str]:
    """One chat message."""
    return {"role": role, "content": content}


def to_record(
    row: Mapping[str, Any],
    fmt: str,
    system_prompt: str | None = None,
    with_metadata: bool = False,
    strip_responses: bool = False,
) -> dict[str, Any]:
    """Convert one validated row to one line of ``fmt`` (``messages``, ``trl-dpo`` or ``openai-dpo``).

    Texts are kept as published unless ``strip_responses``, which strips leading and trailing
    whitespace from the assistant texts (in the preference data, 487 of 927 ``rejected``
    responses start with a space and no ``chosen`` one does: a surface cue a preference
    trainer can learn instead of the behaviour).

    Raises:
        DataError: ``fmt`` is not one of :data:`LINE_FORMATS`.
    """

    def reply(name: str) -> dict[str, str]:
        text = str(row[name])
        return _message("assistant", text.strip() if strip_responses else text)

    context = [_message("system", system_prompt)] if system_prompt is not None else []
    user = _message("user", str(row["prompt"]))
    record: dict[str, Any]
    if fmt == MESSAGES:
        record = {"messages": [*context, user, reply("response")]}
    elif fmt == TRL_DPO:
        record = {"prompt": [*context, user], "chosen": [reply("chosen")], "rejected": [reply("rejected")]}
    elif fmt == OPENAI_DPO:
        record = {
            "input": {"messages": [*context, user]},
            "preferred_output": [reply("chosen")],
            "non_preferred_output": [reply("rejected")],
        }
    else:
        raise DataError(f"unknown line format {fmt!r}; expected one of {list(LINE_FORMATS)}")
    if with_metadata:
        record["metadata"] = {name: str(row[name]) for name in METADATA_FIELDS}
    return record
