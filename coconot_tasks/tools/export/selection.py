"""Choosing the rows to export: category filters, seeded shuffle and limit, train/validation split."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any, Final

from coconot_tasks.benchmark.dataset import DataError
from coconot_tasks.benchmark.names import CATEGORY_SLUGS, slug
from coconot_tasks.tools.export.load import normalise_prompt

#: Split names (:func:`split_rows` returns them in this order).
TRAIN: Final = "train"
VALIDATION: Final = "validation"


def check_val_fraction(val_fraction: float) -> None:
    """Refuse a validation fraction outside (0, 1)."""
    if not 0 < val_fraction < 1:
        raise DataError(f"the validation fraction must be between 0 and 1 (exclusive), got {val_fraction}")


def _name_keys(name: str) -> set[str]:
    """The spellings a category or subcategory name is matched by (casefolded, slug, snake case)."""
    return {name.casefold(), slug(name), re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")}


def _match_names(wanted: Sequence[str], present: Sequence[str], what: str) -> set[str]:
    """The names in ``present`` that the ``wanted`` names or slugs match, each of which must match."""
    chosen: set[str] = set()
    for item in wanted:
        keys = _name_keys(item.strip())
        matches = {name for name in present if keys & _name_keys(name)}
        if not matches:
            available = "; ".join(
                f"{name} ({CATEGORY_SLUGS.get(name) or slug(name)})" for name in sorted(set(present))
            )
            raise DataError(f"unknown {what} {item!r}; this data has: {available}")
        chosen |= matches
    return chosen


def filter_rows(
    rows: Sequence[dict[str, Any]],
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Keep the rows of the given categories and subcategories (names or slugs, any case); a name that
    matches no row (the message lists the names present), or no row left, is a DataError."""
    kept = list(rows)
    for field, wanted in (("category", categories), ("subcategory", subcategories)):
        if wanted:
            names = _match_names(wanted, [r[field] for r in rows], field)
            kept = [r for r in kept if r[field] in names]
    if not kept:
        raise DataError(
            f"no rows left after filtering (categories {list(categories or [])}, subcategories "
            f"{list(subcategories or [])})"
        )
    return kept


def select_rows(
    rows: Sequence[dict[str, Any]], shuffle: bool = False, seed: int = 0, limit: int | None = None
) -> list[dict[str, Any]]:
    """Optionally shuffle (seeded), then keep the first ``limit`` rows."""
    chosen = list(rows)
    if shuffle:
        random.Random(f"coconot-shuffle-{seed}").shuffle(chosen)
    return chosen[:limit]


def split_rows(
    rows: Sequence[dict[str, Any]], val_fraction: float, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split into (train, validation), deterministically for a seed; both keep the input order.

    The validation set takes ``round(len(rows) * val_fraction)`` rows (at least 1), drawn per
    category in proportion to its size. Rows with the same prompt (up to case and whitespace)
    land in the same split, which may take the validation set slightly past its size.
    """
    check_val_fraction(val_fraction)
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(normalise_prompt(str(row["prompt"])), []).append(index)
    if len(groups) < 2:
        raise DataError(
            f"cannot split {len(rows)} rows ({len(groups)} distinct prompts) into train and validation"
        )
    target = min(max(1, round(len(rows) * val_fraction)), len(rows) - 1)
    by_category: dict[str, list[list[int]]] = {}
    for members in groups.values():
        by_category.setdefault(str(rows[members[0]]["category"]), []).append(members)
    # Largest-remainder quotas per category summing to the target.
    sizes = {cat: sum(len(m) for m in groups_) for cat, groups_ in by_category.items()}
    exact = {cat: target * size / len(rows) for cat, size in sizes.items()}
    quotas = {cat: int(value) for cat, value in exact.items()}
    for cat in sorted(exact, key=lambda c: (-(exact[c] - quotas[c]), c))[: target - sum(quotas.values())]:
        quotas[cat] += 1
    rng = random.Random(f"coconot-split-{seed}")
    validation: set[int] = set()
    for cat in sorted(by_category):
        candidates = sorted(by_category[cat], key=lambda m: m[0])
        rng.shuffle(candidates)
        taken = 0
        for members in candidates:
            if taken >= quotas[cat]:
                break
            validation.update(members)
            taken += len(members)
    if len(validation) >= len(rows):  # only possible with huge duplicate groups
        raise DataError(f"cannot split {len(rows)} rows: rows sharing prompts leave no training rows")
    train = [row for i, row in enumerate(rows) if i not in validation]
    val = [row for i, row in enumerate(rows) if i in validation]
    return train, val
