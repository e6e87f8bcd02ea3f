"""Judge configuration: ``--metadata`` first, then environment variables, then defaults.

Each setting is one field (:func:`~coconot_tasks.judge.declare.setting`) of :class:`CoreSettings`
or of a backend's settings class. Keys come from the environment only and are never logged,
cached or recorded; since lm-eval writes ``--metadata`` and ``--model_args`` verbatim into the
results, :meth:`JudgeSettings.resolve` refuses credentials there, and unknown settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from coconot_tasks.judge.backends import BACKENDS, DEFAULT_BACKEND
from coconot_tasks.judge.backends.base import ENV_API_KEY, JudgeBackend
from coconot_tasks.judge.declare import Declared, declarations, setting
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.redact import looks_secret, redact_url, words_of

#: The ``--metadata`` key under which the task config records the judge's effective settings
#: (the YAML declares it empty; the ``custom_dataset`` hook fills it in).
JUDGE_RECORD_KEY = "judge_settings"


#: The values ``judge_reasoning_effort`` accepts (which of them a model accepts is the endpoint's business).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


@dataclass(frozen=True)
class CoreSettings:
    """The settings of every judge backend. Decoding defaults are the paper's."""

    backend: str = setting(
        DEFAULT_BACKEND,
        "`vllm`: a local judge the plugin starts and stops "
        "([below](#local-judge-that-never-retires-judge_backendvllm)); "
        "`heuristic`: offline keyword detector for smoke runs (not the paper's metric)",
        choices=tuple(BACKENDS), offline=True,
    )  # fmt: skip
    model: str = setting(
        BACKENDS[DEFAULT_BACKEND].default_model,
        "the paper's `gpt-3.5-turbo` was shut down on 2026-10-23 and the gpt-4o / gpt-4.1 judges shut "
        "down on 2027-01-14; `gpt-6-luna` is OpenAI's named replacement (no shutdown date announced; the "
        "model id it reports is recorded with every verdict). A reasoning model: see "
        "[request shapes](#request-shapes-by-judge-family)",
    )
    base_url: str | None = setting(
        None,
        "any OpenAI-compatible endpoint (vLLM, TGI, Ollama, LiteLLM, Azure-compatible proxies); "
        "no credentials or query string in it",
        allowed="`http(s)://` URL", shown_default="OpenAI (or `OPENAI_BASE_URL`)",
    )  # fmt: skip
    concurrency: int = setting(
        16, "maximum requests in flight (adaptive below it)", ge=1, le=1024, unit="requests in flight"
    )
    max_retries: int = setting(
        6, "per request: 408/409/429/5xx, timeouts, dropped connections",
        ge=0, le=20, unit="retries per request",
    )  # fmt: skip
    timeout: float = setting(
        60.0, 'seconds per request (there is no "no timeout")', gt=0, le=3600, unit="seconds per request"
    )
    label_retries: int = setting(2, "re-asks when an output holds no label", ge=0, le=10, unit="re-asks")
    temperature: float = 0.0
    #: ``None``: the judge family's default (the paper's 256, or a larger budget for reasoning).
    max_tokens: int | None = setting(
        None,
        "the judge's output limit (the paper's: 256); sent as `max_completion_tokens` to reasoning judges, "
        "where reasoning tokens count against it",
        ge=1, le=32768, unit="tokens",
        shown_default="256; 4096 for a reasoning judge whose effort is not `none`",
    )  # fmt: skip
    #: ``None``: the lowest effort the judge model accepts (reasoning judges only).
    reasoning_effort: str | None = setting(
        None,
        "`reasoning_effort` of reasoning judges ([request shapes](#request-shapes-by-judge-family)); "
        "for other names it is sent only when set",
        choices=REASONING_EFFORTS, shown_default="the lowest the judge family accepts",
    )  # fmt: skip
    top_p: float = 1.0
    cache: bool = setting(True, "persistent verdict cache")
    preflight: bool = setting(True, "check the judge before generation")
    max_cost_usd: float | None = setting(
        None, "budget cap in USD: stop judging cleanly when reached", gt=0, unit="USD"
    )
    dry_run: bool = setting(False, "count judge calls and estimate cost, call nothing", offline=True)
    price_input: float | None = setting(
        None, "USD per 1M input tokens, for cost estimates of other models", ge=0, unit="USD per 1M tokens",
        shown_default="known OpenAI models",
    )  # fmt: skip
    price_output: float | None = setting(
        None, "USD per 1M output tokens, for cost estimates of other models", ge=0, unit="USD per 1M tokens",
        shown_default="known OpenAI models",
    )  # fmt: skip
    max_error_rate: float | None = setting(
        None,
        "exit status 3 (after results are written) if a larger share of items lacks a verdict",
        ge=0, le=1, unit="(a fraction of the items)", offline=True,
    )  # fmt: skip


T = TypeVar("T")


def _with_backend_settings(cls: type[T]) -> type[T]:
    """``cls`` with each backend's settings class (its ``declares``) as a further base: a backend with
    settings is its folder and its registry line."""
    declared = tuple(backend.declares for backend in BACKENDS.values() if backend.declares)
    # Its fields follow the core ones; its own repr (no key, no credentials) beats the backends'.
    names = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__repr__": cls.__repr__}
    return dataclass(frozen=True, repr=False)(type(cls.__name__, (*declared, cls), names))


@_with_backend_settings
@dataclass(frozen=True)
class JudgeSettings(CoreSettings):
    """Everything the judge engine needs: the core settings, those each backend declares (added
    by :func:`_with_backend_settings`), and the key."""

    api_key: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def resolve(cls, metadata: Mapping[str, Any] | None = None) -> JudgeSettings:
        """Build settings from lm-eval ``--metadata`` and the environment (``JudgeConfigError``: the fix)."""
        metadata = dict(metadata or {})
        _refuse_credentials(metadata)
        _refuse_unknown_metadata(metadata, {declared.meta_key for declared in SETTINGS.values()})
        keys = {name for backend in BACKENDS.values() for name in backend.key_variables}
        _refuse_unknown_environment({declared.env_var for declared in SETTINGS.values()} | keys)
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for name, declared in SETTINGS.items():
            raw = metadata.get(declared.meta_key)
            origin = f"--metadata {declared.meta_key}"
            if raw is None or raw == "":
                raw = os.environ.get(declared.env_var)
                origin = declared.env_var
            if raw is None or raw == "":
                continue
            values[name] = declared.parse(raw, origin)
            origins[name] = origin
        backend = BACKENDS[values.get("backend", cls.backend)]
        settings = cls(**backend.defaults(values))
        backend.validate(settings)
        base, key = backend.connection(settings.base_url, origins.get("base_url", ""))
        return dataclasses.replace(settings, base_url=base, api_key=key)

    @property
    def judge_id(self) -> str:
        """A short human-readable name of the judge, e.g. ``openai:gpt-6-luna`` (its backend's)."""
        return BACKENDS[self.backend].judge_id(self)

    @property
    def endpoint(self) -> str:
        """The judge's endpoint without credentials, as its backend names it: safe to record."""
        return BACKENDS[self.backend].endpoint_of(self)

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={value!r}" for name, value in self.public().items())
        return f"{type(self).__name__}({values})"

    def public(self) -> dict[str, Any]:
        """The settings without secrets (no key, credentials in the URL redacted): safe to log and write."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}
        values["base_url"] = redact_url(self.base_url)
        return values


#: Every setting a user can give, by field name: the core ones and those the backends declare.
SETTINGS: dict[str, Declared] = declarations(JudgeSettings)
#: The backend that declared each backend-specific setting.
OWNERS: dict[str, str] = {
    name: backend.name
    for backend in BACKENDS.values()
    if backend.declares
    for name in declarations(backend.declares)
}


def applies(name: str, backend: type[JudgeBackend]) -> bool:
    """Whether the field ``name`` of the settings means anything for ``backend`` (else it is not recorded):
    another backend's settings do not, and an offline judge has no model, endpoint, decoding or price."""
    if OWNERS.get(name, backend.name) != backend.name or name in backend.not_recorded:
        return False
    return backend.remote or (name in SETTINGS and SETTINGS[name].offline)


def table_rows(owner: str | None = None) -> list[str]:
    """The docs' settings table rows of the core settings (``owner=None``) or of a backend's."""
    return [declared.row() for name, declared in SETTINGS.items() if OWNERS.get(name) == owner]


def _refuse_credentials(metadata: Mapping[str, Any], prefix: str = "") -> None:
    """Refuse credential-looking keys (nested ones too), and URLs carrying credentials, in ``metadata``."""
    where = "lm-eval writes --metadata and --model_args into the results JSON"
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name != JUDGE_RECORD_KEY:
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


def _refuse_unknown_metadata(metadata: Mapping[str, Any], known: set[str]) -> None:
    """Refuse ``judge_*`` keys (any case or separator, or ``coconot_*``) that are no setting."""
    record = metadata.get(JUDGE_RECORD_KEY)
    if record is not None and not isinstance(record, dict):
        raise JudgeConfigError(
            f"--metadata {JUDGE_RECORD_KEY} is where CoCoNot records the judge's effective settings; "
            "set the individual judge_* keys instead"
        )
    for name in metadata:
        if name in known or name == JUDGE_RECORD_KEY:
            continue
        normalised = "_".join(words_of(name))
        near_miss = difflib.get_close_matches(normalised, known, cutoff=0.85)
        if normalised.startswith(("judge", "coconot")) or near_miss:
            raise _not_a_setting(f"--metadata {name}", normalised, known)


def _refuse_unknown_environment(known: set[str]) -> None:
    """Refuse set ``COCONOT_JUDGE_*`` environment variables that are no setting (typos)."""
    for name, value in os.environ.items():
        if name.startswith("COCONOT_JUDGE_") and name not in known and value:
            raise _not_a_setting(f"environment variable {name}", name, known)


def _not_a_setting(what: str, name: str, known: set[str]) -> JudgeConfigError:
    """``what`` is no judge setting; the closest of the ``known`` names to ``name`` is suggested."""
    match = difflib.get_close_matches(name.removeprefix("coconot_"), sorted(known), n=1, cutoff=0.6)
    hint = f"; did you mean {match[0]}?" if match else ""
    return JudgeConfigError(
        f"{what} is not a CoCoNot judge setting{hint} (see the judge configuration table in the README)"
    )


if __name__ == "__main__":  # python -m coconot_tasks.judge.settings: the docs' table rows
    for owner in (None, *sorted(set(OWNERS.values()))):
        print(f"<!-- {owner or 'core'} -->", *table_rows(owner), sep="\n", file=sys.stdout)
