"""Judge configuration: ``--metadata`` first, then environment variables, then defaults.

Secrets (API keys) are read from the environment only and never stored in a field that
is logged, cached or written to results (:meth:`JudgeSettings.public` omits them and
redacts credentials in the endpoint URL). lm-eval writes ``--metadata`` (and
``--model_args``, which it merges into it) verbatim into the results JSON, so
:meth:`JudgeSettings.resolve` refuses credential-looking keys and URLs with credentials
there, unknown ``judge_*`` keys and ``COCONOT_JUDGE_*`` variables, and numbers outside
:data:`BOUNDS`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from coconot_tasks.judge.backends.openai.retired import DEFAULT_JUDGE_MODEL
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.redact import looks_secret, redact_url, words_of

if TYPE_CHECKING:
    from coconot_tasks.judge.backends.base import JudgeBackend

#: The judge's key: read from the environment only (falls back to ``OPENAI_API_KEY``).
ENV_API_KEY = "COCONOT_JUDGE_API_KEY"
#: The ``--metadata`` key under which the task config records the judge's effective settings
#: (the YAML declares it empty; the ``custom_dataset`` hook fills it in).
SETTINGS_RECORD_KEY = "judge_settings"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _as_bool(value: Any) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case); anything else is an error."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _as_int(value: Any) -> int:
    """An integer: ``2``, ``"2"`` or ``2.0``; ``2.5``, ``"2.5"`` and booleans are errors (never truncated)."""
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not an integer: {value!r}")
        return int(value)
    if isinstance(value, int):
        return value
    return int(str(value).strip())


#: The values ``judge_reasoning_effort`` accepts (the OpenAI API's ``reasoning_effort`` values;
#: which of them a model accepts is the endpoint's business).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def _as_effort(value: Any) -> str:
    """One of :data:`REASONING_EFFORTS` (any case)."""
    text = str(value).strip().lower()
    if text not in REASONING_EFFORTS:
        raise ValueError(f"not a reasoning effort: {value!r}")
    return text


def _as_float(value: Any) -> float:
    """A finite number; booleans, ``nan`` and ``inf`` are errors."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    number = float(value if isinstance(value, (int, float)) else str(value).strip())
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


#: How each type named in ``JudgeSettings._SOURCES`` is parsed: ``int`` and ``float`` strictly
#: (lm-eval's ``--metadata`` parsing already turns ``2.5`` into a float, which ``int()`` would truncate).
_PARSERS: dict[Callable[[Any], Any], Callable[[Any], Any]] = {int: _as_int, float: _as_float}

_KINDS: dict[Callable[[Any], Any], str] = {
    int: "integer",
    float: "finite number",
    str: "string",
    _as_bool: "boolean (true/false, yes/no, on/off or 1/0)",
    _as_effort: f"reasoning effort: use one of {', '.join(REASONING_EFFORTS)}",
}


@dataclass(frozen=True)
class Bounds:
    """The allowed range of a numeric setting: ``low`` (exclusive if ``low_open``) up to ``high``."""

    low: float
    high: float | None = None
    low_open: bool = False
    unit: str = ""

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and (self.high is None or value <= self.high)

    def describe(self) -> str:
        """E.g. ``from 1 to 1024``, ``greater than 0 and at most 3600 seconds``, ``at least 0``."""
        low, high = _number(self.low), _number(self.high)
        if self.high is None:
            text = f"greater than {low}" if self.low_open else f"at least {low}"
        elif self.low_open:
            text = f"greater than {low} and at most {high}"
        else:
            text = f"from {low} to {high}"
        return f"{text} {self.unit}".rstrip()


def _number(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


#: Bounds of every numeric setting (field name -> bounds); the README's settings table lists them.
BOUNDS: dict[str, Bounds] = {
    "concurrency": Bounds(1, 1024, unit="requests in flight"),
    "max_retries": Bounds(0, 20, unit="retries per request"),
    "timeout": Bounds(0, 3600, low_open=True, unit="seconds per request"),
    "label_retries": Bounds(0, 10, unit="re-asks"),
    "max_tokens": Bounds(1, 32768, unit="tokens"),
    "max_cost_usd": Bounds(0, low_open=True, unit="USD"),
    "price_input": Bounds(0, unit="USD per 1M tokens"),
    "price_output": Bounds(0, unit="USD per 1M tokens"),
    "max_error_rate": Bounds(0, 1, unit="(a fraction of the items)"),
    # the local judge (judge_backend=vllm)
    "gpu_memory_utilization": Bounds(0, 1, low_open=True, unit="(a fraction of each GPU's total memory)"),
    "tensor_parallel_size": Bounds(1, 256, unit="GPUs per judge server"),
    "max_model_len": Bounds(512, 1048576, unit="tokens (a judge prompt is ~1-2k)"),
    "server_timeout": Bounds(0, 86400, low_open=True, unit="seconds to wait for the judge server"),
}


@dataclass(frozen=True)
class JudgeSettings:
    """Everything the judge engine needs. Decoding defaults are the paper's."""

    backend: str = "openai"
    model: str = DEFAULT_JUDGE_MODEL
    base_url: str | None = None
    concurrency: int = 16
    max_retries: int = 6
    timeout: float = 60.0
    label_retries: int = 2
    temperature: float = 0.0
    #: ``None``: the judge family's default (the paper's 256, or a larger budget for reasoning).
    max_tokens: int | None = None
    #: ``None``: the lowest effort the judge model accepts (reasoning judges only).
    reasoning_effort: str | None = None
    top_p: float = 1.0
    cache: bool = True
    preflight: bool = True
    max_cost_usd: float | None = None
    dry_run: bool = False
    price_input: float | None = None
    price_output: float | None = None
    max_error_rate: float | None = None
    # --- Local judge (judge_backend=vllm): the vLLM server the plugin starts and stops. ---
    # See coconot_tasks/judge/local_server.py; bounds in BOUNDS, the revision in _check_vllm_fields.
    vllm_revision: str | None = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    max_model_len: int | None = 8192
    server_timeout: float = 1800.0
    structured_outputs: bool = False
    devices: str | None = None
    # --- end of the local judge block ---
    api_key: str | None = field(default=None, repr=False, compare=False)

    # name -> (metadata key, environment variable, type: int, float, str or _as_bool; see _PARSERS)
    _SOURCES: ClassVar[dict[str, tuple[str, str, Callable[[Any], Any]]]] = {
        "backend": ("judge_backend", "COCONOT_JUDGE_BACKEND", str),
        "model": ("judge_model", "COCONOT_JUDGE_MODEL", str),
        "base_url": ("judge_base_url", "COCONOT_JUDGE_BASE_URL", str),
        "concurrency": ("judge_concurrency", "COCONOT_JUDGE_CONCURRENCY", int),
        "max_retries": ("judge_max_retries", "COCONOT_JUDGE_MAX_RETRIES", int),
        "timeout": ("judge_timeout", "COCONOT_JUDGE_TIMEOUT", float),
        "label_retries": ("judge_label_retries", "COCONOT_JUDGE_LABEL_RETRIES", int),
        "max_tokens": ("judge_max_tokens", "COCONOT_JUDGE_MAX_TOKENS", int),
        "reasoning_effort": ("judge_reasoning_effort", "COCONOT_JUDGE_REASONING_EFFORT", _as_effort),
        "cache": ("judge_cache", "COCONOT_JUDGE_CACHE", _as_bool),
        "preflight": ("judge_preflight", "COCONOT_JUDGE_PREFLIGHT", _as_bool),
        "max_cost_usd": ("judge_max_cost_usd", "COCONOT_JUDGE_MAX_COST_USD", float),
        "dry_run": ("judge_dry_run", "COCONOT_JUDGE_DRY_RUN", _as_bool),
        "price_input": ("judge_price_input", "COCONOT_JUDGE_PRICE_INPUT", float),
        "price_output": ("judge_price_output", "COCONOT_JUDGE_PRICE_OUTPUT", float),
        "max_error_rate": ("judge_max_error_rate", "COCONOT_JUDGE_MAX_ERROR_RATE", float),
        # --- Local judge (judge_backend=vllm) ---
        "vllm_revision": ("judge_vllm_revision", "COCONOT_JUDGE_VLLM_REVISION", str),
        "gpu_memory_utilization": (
            "judge_gpu_memory_utilization",
            "COCONOT_JUDGE_GPU_MEMORY_UTILIZATION",
            float,
        ),
        "tensor_parallel_size": ("judge_tensor_parallel_size", "COCONOT_JUDGE_TENSOR_PARALLEL_SIZE", int),
        "max_model_len": ("judge_max_model_len", "COCONOT_JUDGE_MAX_MODEL_LEN", int),
        "server_timeout": ("judge_server_timeout", "COCONOT_JUDGE_SERVER_TIMEOUT", float),
        "structured_outputs": ("judge_structured_outputs", "COCONOT_JUDGE_STRUCTURED_OUTPUTS", _as_bool),
        "devices": ("judge_devices", "COCONOT_JUDGE_DEVICES", str),
    }

    @classmethod
    def resolve(cls, metadata: Mapping[str, Any] | None = None) -> JudgeSettings:
        """Build settings from lm-eval ``--metadata`` and the environment.

        Raises:
            JudgeConfigError: a credential was passed through metadata, a ``judge_*`` key or
                ``COCONOT_JUDGE_*`` variable is unknown, or a value is invalid or out of range.
        """
        metadata = dict(metadata or {})
        _refuse_credentials(metadata)
        meta_keys = {meta_key for meta_key, _, _ in cls._SOURCES.values()}
        _refuse_unknown_metadata(metadata, meta_keys)
        _refuse_unknown_environment({env_var for _, env_var, _ in cls._SOURCES.values()} | {ENV_API_KEY})
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for name, (meta_key, env_var, kind) in cls._SOURCES.items():
            raw = metadata.get(meta_key)
            origin = f"--metadata {meta_key}"
            if raw is None or raw == "":
                raw = os.environ.get(env_var)
                origin = env_var
            if raw is None or raw == "":
                continue
            try:
                values[name] = _PARSERS.get(kind, kind)(raw)
            except (TypeError, ValueError):
                kind_name = _KINDS.get(kind, "value")
                raise JudgeConfigError(f"{origin}={raw!r} is not a valid {kind_name}") from None
            bounds = BOUNDS.get(name)
            if bounds is not None and values[name] not in bounds:
                raise JudgeConfigError(f"{origin}={raw!r} is out of range: it must be {bounds.describe()}")
            origins[name] = origin
        backends = _backends()
        backend = backends.get(values.get("backend", cls.backend))
        if backend is None:
            raise JudgeConfigError(
                f"judge backend {values['backend']!r} is unknown; choose one of {', '.join(backends)} "
                "(--metadata judge_backend=... or COCONOT_JUDGE_BACKEND)"
            )
        settings = cls(**backend.defaults(values))
        backend.validate(settings)
        key = os.environ.get(ENV_API_KEY) or os.environ.get("OPENAI_API_KEY") or None
        base = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        if base is not None:
            _check_base_url(base, origins.get("base_url", "OPENAI_BASE_URL"))
        return dataclasses.replace(settings, base_url=base, api_key=key)

    @property
    def judge_id(self) -> str:
        """A short human-readable name of the judge, e.g. ``openai:gpt-6-luna`` (its backend's)."""
        return _backends()[self.backend].judge_id(self)

    @property
    def endpoint(self) -> str:
        """The judge's endpoint without credentials, as its backend names it: safe to record."""
        return _backends()[self.backend].endpoint_of(self)

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={value!r}" for name, value in self.public().items())
        return f"{type(self).__name__}({values})"

    def public(self) -> dict[str, Any]:
        """The settings without secrets (no key, credentials in the URL redacted): safe to log and write."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}
        values["base_url"] = redact_url(self.base_url)
        return values


def _backends() -> dict[str, type[JudgeBackend]]:
    """The backend registry (imported here, not at the top: every backend imports this module)."""
    from coconot_tasks.judge.backends import BACKENDS

    return BACKENDS


def _refuse_credentials(metadata: Mapping[str, Any], prefix: str = "") -> None:
    """Refuse credential-looking keys (nested ones too), and URLs carrying credentials, in ``metadata``.

    lm-eval writes ``--metadata`` and ``--model_args`` (which it merges into the metadata of
    every task) verbatim into the results JSON, where nothing can redact them.
    """
    where = "lm-eval writes --metadata and --model_args into the results JSON"
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name != SETTINGS_RECORD_KEY:
            _refuse_credentials(value, f"{name}.")
        if not isinstance(value, str) or not value:
            continue  # numbers and booleans (use_auth_token=True) hold no credential
        if looks_secret(str(key)):
            raise JudgeConfigError(
                f"--metadata/--model_args {name}=... looks like a credential, and {where}. Pass keys "
                f"through the environment: {ENV_API_KEY} for the judge (lm-eval's API models read "
                "OPENAI_API_KEY)."
            )
        if "://" in value and redact_url(value) != value:
            raise JudgeConfigError(
                f"--metadata/--model_args {name}={redact_url(value)} carries credentials in the URL, and "
                f"{where}. Give the URL without them and pass keys through the environment: {ENV_API_KEY} "
                "for the judge."
            )


def _normalised(name: str) -> str:
    return "_".join(words_of(name))


def _refuse_unknown_metadata(metadata: Mapping[str, Any], known: set[str]) -> None:
    """Refuse ``judge_*`` keys (any case or separator, or ``coconot_*``) that are no setting."""
    record = metadata.get(SETTINGS_RECORD_KEY)
    if record is not None and not isinstance(record, dict):
        raise JudgeConfigError(
            f"--metadata {SETTINGS_RECORD_KEY} is where CoCoNot records the judge's effective settings; "
            "set the individual judge_* keys instead"
        )
    for name in metadata:
        if name in known or name == SETTINGS_RECORD_KEY:
            continue
        normalised = _normalised(name)
        near_miss = difflib.get_close_matches(normalised, known, cutoff=0.85)
        if normalised.startswith(("judge", "coconot")) or near_miss:
            raise JudgeConfigError(
                f"--metadata {name} is not a CoCoNot judge setting{_did_you_mean(normalised, known)} "
                "(see the judge configuration table in the README)"
            )


def _refuse_unknown_environment(known: set[str]) -> None:
    """Refuse set ``COCONOT_JUDGE_*`` environment variables that are no setting (typos)."""
    for name, value in os.environ.items():
        if name.startswith("COCONOT_JUDGE_") and name not in known and value:
            raise JudgeConfigError(
                f"environment variable {name} is not a CoCoNot judge setting{_did_you_mean(name, known)} "
                "(see the judge configuration table in the README)"
            )


def _did_you_mean(name: str, known: set[str]) -> str:
    """``; did you mean X?`` for the closest known name, or nothing."""
    match = difflib.get_close_matches(name.removeprefix("coconot_"), sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


def _check_base_url(url: str, origin: str) -> None:
    """An ``http(s)`` base URL without user info or query: the OpenAI client can use neither.

    Credentials in a URL never work for the judge: the SDK's aiohttp transport refuses user
    info next to the key's ``Authorization`` header, the httpx one replaces the key with
    them, and the SDK appends ``/chat/completions`` after any query string.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    shown = redact_url(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JudgeConfigError(
            f"{origin}={shown!r} is not an http(s) URL; give the endpoint's base URL, e.g. "
            "http://localhost:8000/v1"
        )
    route = next(
        (r for r in ("/chat/completions", "/completions", "/models") if parts.path.rstrip("/").endswith(r)),
        None,
    )
    if route:
        raise JudgeConfigError(
            f"{origin}={shown!r} names the {route} route; give the API's base URL instead (the part "
            f"before {route}, e.g. https://host/v1): the client appends the routes itself"
        )
    if "@" in parts.netloc or parts.query:
        raise JudgeConfigError(
            f"{origin}={shown!r}: the judge's OpenAI client cannot use a base URL with "
            f"{'credentials' if shown != url else 'a query string'} in it; give the plain endpoint "
            f"(e.g. https://host/v1) and the key in {ENV_API_KEY}"
        )
