"""How a judge setting is declared: one dataclass field made by :func:`setting`.

A field ``x`` so declared is read from ``--metadata judge_x`` or the environment variable
``COCONOT_JUDGE_X``, parsed and range-checked by pydantic from its type and bounds
(:meth:`Declared.parse`), recorded with the results where it applies, and listed in the docs'
settings tables (:meth:`Declared.row`). Everything else about it follows from the field.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic

from coconot_tasks.judge.errors import JudgeConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than_equal"}
#: How a range is said in errors and in the docs' tables (see :meth:`Declared._range`).
_IN_ERRORS = ("at least {}", "from {} to {}", "greater than {}", " and at most {}")
_IN_DOCS = ("≥ {}", "{} to {}", "> {}", ", at most {}")


@dataclass(frozen=True)
class Declared:
    """A judge setting: what its field declares with :func:`setting`, then its name, type (without
    ``None``) and default, filled in by :func:`declarations`."""

    #: The docs table's last column.
    help: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    #: Said after the range in errors, e.g. ``seconds per request``.
    unit: str = ""
    #: The only values allowed (any case), when there is such a list.
    choices: tuple[str, ...] = ()
    #: The docs' "allowed" text, when the type and bounds do not say it (e.g. ``http(s)://`` URL).
    allowed: str = ""
    #: The docs' "default" text, when the default value alone does not say it.
    shown_default: str = ""
    #: Recorded for offline judges too (which have no model, endpoint, decoding or price).
    offline: bool = False
    name: str = ""
    kind: type = str
    default: Any = None

    @property
    def meta_key(self) -> str:
        return f"judge_{self.name}"

    @property
    def env_var(self) -> str:
        return f"COCONOT_JUDGE_{self.name.upper()}"

    def parse(self, raw: Any, origin: str) -> Any:
        """``raw`` as this setting's value; ``origin`` (e.g. ``--metadata judge_x``) names it in errors.

        Integers are never truncated (``2.0`` is 2, ``2.5`` an error), numbers are finite and
        never booleans, booleans are true/false, yes/no, on/off or 1/0 (any case).
        """
        try:
            return _adapter(self).validate_python(raw)
        except pydantic.ValidationError as exc:
            if {error["type"] for error in exc.errors()} <= _RANGE_ERRORS:
                raise JudgeConfigError(
                    f"{origin}={raw!r} is out of range: it must be {self.describe_range()}"
                ) from None
            raise JudgeConfigError(f"{origin}={raw!r} is not a valid {self.kind_name()}") from None

    def kind_name(self) -> str:
        if self.choices:
            return f"{self.name.replace('_', ' ')}: use one of {', '.join(self.choices)}"
        names = {int: "integer", float: "finite number", bool: "boolean (true/false, yes/no, on/off or 1/0)"}
        return names.get(self.kind, "string")

    def _range(self, words: tuple[str, str, str, str]) -> str:
        """The bounds in ``words`` (at least, from-to, greater than, and at most: each with ``{}``)."""
        if self.gt is None:
            return words[0].format(self.ge) if self.le is None else words[1].format(self.ge, self.le)
        return words[2].format(self.gt) + ("" if self.le is None else words[3].format(self.le))

    def describe_range(self) -> str:
        """E.g. ``from 1 to 1024``, ``greater than 0 and at most 3600 seconds``, ``at least 0``."""
        return f"{self._range(_IN_ERRORS)} {self.unit}".rstrip()

    def allowed_cell(self) -> str:
        """The docs' "allowed" column: e.g. ``integer, 1 to 1024``, ``> 0, at most 3600``, ``boolean``."""
        if self.choices:
            return ", ".join(f"`{choice}`" for choice in self.choices)
        if self.kind is bool:
            return "boolean"
        if self.kind not in (int, float):
            return self.allowed
        return f"integer, {self._range(_IN_DOCS)}" if self.kind is int else self._range(_IN_DOCS)

    def default_cell(self) -> str:
        if self.shown_default:
            return self.shown_default
        if self.default is None:
            return "none"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        return f"`{self.default}`" if isinstance(self.default, str) else f"{self.default:g}"

    def row(self) -> str:
        """This setting's row in the docs' settings table."""
        cells = [f"`{self.meta_key}`", f"`{self.env_var}`", self.default_cell(), self.allowed_cell()]
        return "|" + "|".join(f" {cell} " if cell else " " for cell in [*cells, self.help]) + "|"


def setting(default: Any, help: str, **declaration: Any) -> Any:
    """A dataclass field that is a judge setting (see :class:`Declared` for ``declaration``)."""
    return dataclasses.field(default=default, metadata={"setting": Declared(help, **declaration)})


def declarations(cls: type) -> dict[str, Declared]:
    """The settings a dataclass declares with :func:`setting` (inherited ones too), by field name."""
    hints = typing.get_type_hints(cls)
    found = {}
    for field in dataclasses.fields(cls):
        if "setting" in field.metadata:
            kinds = [kind for kind in typing.get_args(hints[field.name]) if kind is not types.NoneType]
            kind = kinds[0] if kinds else hints[field.name]
            found[field.name] = dataclasses.replace(
                field.metadata["setting"], name=field.name, kind=kind, default=field.default
            )
    return found


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        raise ValueError(f"not a boolean: {value!r}")
    return text in _TRUE


def _finite_number(value: Any) -> Any:
    """``value`` unless it is a boolean or not finite (checked before the range: ``inf`` is no number)."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    try:
        number = float(value if isinstance(value, (int, float)) else str(value).strip())
    except ValueError:
        return value  # pydantic names what it is not
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return value


def _choice(choices: tuple[str, ...]) -> Any:
    def check(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"not one of {choices}: {value!r}")
        return text

    return check


@functools.cache
def _adapter(declared: Declared) -> pydantic.TypeAdapter[Any]:
    """The pydantic validator of ``declared`` (built on first use: imports stay fast)."""
    annotation: Any
    if declared.choices:
        annotation = Annotated[str, pydantic.BeforeValidator(_choice(declared.choices))]
    elif declared.kind is bool:
        annotation = Annotated[bool, pydantic.BeforeValidator(_as_bool)]
    elif declared.kind in (int, float):
        bounds = pydantic.Field(ge=declared.ge, gt=declared.gt, le=declared.le)
        annotation = Annotated[declared.kind, pydantic.BeforeValidator(_finite_number), bounds]
    else:
        annotation = Annotated[declared.kind, pydantic.BeforeValidator(str)]
    return pydantic.TypeAdapter(annotation)
