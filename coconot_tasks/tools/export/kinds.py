"""The two kinds of CoCoNot training data: ``sft`` and ``preference``."""

from __future__ import annotations

from typing import Final

from coconot_tasks.benchmark.dataset import DataError

#: Prompts with noncompliant responses (hub config ``original``, split ``train``).
SFT: Final = "sft"
#: Contrast prompts with a compliant ``chosen`` and an over-refusing ``rejected`` response
#: (hub config ``pref``, split ``train``).
PREFERENCE: Final = "preference"
KINDS: Final = (SFT, PREFERENCE)


def check_kind(kind: str) -> None:
    """Refuse anything but :data:`SFT` and :data:`PREFERENCE` (DataError)."""
    if kind not in KINDS:
        raise DataError(f"unknown kind of training data {kind!r}; expected one of {list(KINDS)}")
