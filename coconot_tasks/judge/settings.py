"""Judge configuration: ``--metadata`` first, then environment variables, then defaults.

Secrets (API keys) are read from the environment only and never stored in a field that
is logged, cached or written to results (:meth:`JudgeSettings.public` omits them).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

#: OpenAI's named substitute for the paper's (shut down) gpt-3.5-turbo, pinned as a dated
#: snapshot: an alias may silently move to another model, a snapshot only retires with notice.
DEFAULT_JUDGE_MODEL = "gpt-4.1-mini-2025-04-14"
#: The judge endpoint when no base URL is set.
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: The endpoint recorded for the ``vllm`` backend: the server the plugin starts listens on a
#: new port each time, so the cache key and the records name it by this stable identity (the
#: judge id pins the model, its revision and structured outputs).
LOCAL_VLLM_ENDPOINT = "vllm serve (local, started by coconot-tasks)"
BACKENDS = ("openai", "heuristic", "vllm")
SECRET_KEYS = ("judge_api_key", "api_key", "openai_api_key")


def redact_url(url: str | None) -> str | None:
    """``url`` with any credentials removed: user info, and query values of secret-looking keys.

    ``https://user:pw@host/v1?api-key=x&a=1`` -> ``https://***@host/v1?api-key=***&a=1``. Use it
    wherever an endpoint is logged, cached or written.
    """
    if not url:
        return url
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if looks_secret(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_SECRET_WORDS = frozenset(
    [
        "key",
        "apikey",
        "token",
        "accesstoken",
        "secret",
        "password",
        "passwd",
        "pwd",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "bearer",
        "signature",
        "sig",
    ]
)


def looks_secret(name: str) -> bool:
    """True if a setting or parameter name looks like it holds a credential (any case or separator)."""
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()) if w]
    return any(word in _SECRET_WORDS for word in words)


class JudgeConfigError(ValueError):
    """The judge cannot work as configured; the message says what to set."""


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


_KINDS: dict[Callable[[Any], Any], str] = {
    int: "integer",
    float: "number",
    str: "string",
    _as_bool: "boolean (true/false, yes/no, on/off or 1/0)",
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
    max_tokens: int = 256
    top_p: float = 1.0
    cache: bool = True
    preflight: bool = True
    max_cost_usd: float | None = None
    dry_run: bool = False
    price_input: float | None = None
    price_output: float | None = None
    max_error_rate: float | None = None
    # --- Local judge (judge_backend=vllm): the vLLM server the plugin starts and stops. ---
    # See coconot_tasks/judge/local_server.py; bounds are checked in _check_vllm_fields.
    vllm_revision: str | None = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    max_model_len: int | None = 8192
    server_timeout: float = 1800.0
    structured_outputs: bool = False
    devices: str | None = None
    # --- end of the local judge block ---
    api_key: str | None = field(default=None, repr=False, compare=False)

    # name -> (metadata key, environment variable, converter)
    _SOURCES: ClassVar[dict[str, tuple[str, str, Callable[[Any], Any]]]] = {
        "backend": ("judge_backend", "COCONOT_JUDGE_BACKEND", str),
        "model": ("judge_model", "COCONOT_JUDGE_MODEL", str),
        "base_url": ("judge_base_url", "COCONOT_JUDGE_BASE_URL", str),
        "concurrency": ("judge_concurrency", "COCONOT_JUDGE_CONCURRENCY", int),
        "max_retries": ("judge_max_retries", "COCONOT_JUDGE_MAX_RETRIES", int),
        "timeout": ("judge_timeout", "COCONOT_JUDGE_TIMEOUT", float),
        "label_retries": ("judge_label_retries", "COCONOT_JUDGE_LABEL_RETRIES", int),
        "max_tokens": ("judge_max_tokens", "COCONOT_JUDGE_MAX_TOKENS", int),
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
            JudgeConfigError: a secret was passed through metadata, or a value is invalid.
        """
        metadata = dict(metadata or {})
        for secret in SECRET_KEYS:
            if secret in metadata:
                raise JudgeConfigError(
                    f"--metadata {secret}=... would be written into the results JSON. Pass the key "
                    "through the environment instead: COCONOT_JUDGE_API_KEY (or OPENAI_API_KEY)."
                )
        values: dict[str, Any] = {}
        for name, (meta_key, env_var, convert) in cls._SOURCES.items():
            raw = metadata.get(meta_key)
            origin = f"--metadata {meta_key}"
            if raw is None or raw == "":
                raw = os.environ.get(env_var)
                origin = env_var
            if raw is None or raw == "":
                continue
            try:
                values[name] = convert(raw)
            except (TypeError, ValueError):
                kind = _KINDS.get(convert, "value")
                raise JudgeConfigError(f"{origin}={raw!r} is not a valid {kind}") from None
        if values.get("backend") == "vllm":
            values = _vllm_defaults(values)
        settings = cls(**values)
        if settings.backend not in BACKENDS:
            raise JudgeConfigError(
                f"judge backend {settings.backend!r} is unknown; choose one of {', '.join(BACKENDS)} "
                "(--metadata judge_backend=... or COCONOT_JUDGE_BACKEND)"
            )
        if settings.concurrency < 1:
            raise JudgeConfigError("judge concurrency must be at least 1 (COCONOT_JUDGE_CONCURRENCY)")
        _check_vllm_fields(settings)
        key = os.environ.get("COCONOT_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY") or None
        base = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        return cls(**{**_public_fields(settings), "base_url": base, "api_key": key})

    @property
    def judge_id(self) -> str:
        """A short human-readable name of the judge, e.g. ``openai:gpt-4.1-mini-2025-04-14``."""
        if self.backend == "vllm":
            # Structured outputs change the judge's answers: a different judge for the cache key.
            pinned = f"{self.model}@{self.vllm_revision}" if self.vllm_revision else self.model
            return f"vllm:{pinned}{'+structured' if self.structured_outputs else ''}"
        return "heuristic" if self.backend == "heuristic" else f"{self.backend}:{self.model}"

    @property
    def endpoint(self) -> str:
        """The judge's base URL without credentials (OpenAI's when none is set): safe to record.

        For the ``vllm`` backend: :data:`LOCAL_VLLM_ENDPOINT`.
        """
        if self.backend == "vllm":
            return LOCAL_VLLM_ENDPOINT
        return (redact_url(self.base_url) or OPENAI_BASE_URL).rstrip("/")

    def public(self) -> dict[str, Any]:
        """The settings without secrets: safe to log and to write into results."""
        return _public_fields(self)


def _public_fields(settings: JudgeSettings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.name != "api_key"}


# --- Local judge (judge_backend=vllm) ---------------------------------------------------------

#: The default local judge: ungated, Apache-2.0, and pinned to a Hugging Face commit so that it
#: never changes under the same name. The sha is the repository's main-branch commit
#: (https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/commit/a09a35458c702b33eeacc393d103063234e8bc28),
#: the revision that independent projects pin for this model.
DEFAULT_VLLM_MODEL = "Qwen/Qwen2.5-7B-Instruct"
DEFAULT_VLLM_REVISION = "a09a35458c702b33eeacc393d103063234e8bc28"
#: Requests in flight for a local judge: enough to fill vLLM's continuous batch.
DEFAULT_VLLM_CONCURRENCY = 64
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


def _vllm_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """The local judge's defaults where the user set nothing: the pinned model, a full batch."""
    values = dict(values)
    if "model" not in values:
        values["model"] = DEFAULT_VLLM_MODEL
        values.setdefault("vllm_revision", DEFAULT_VLLM_REVISION)
    values.setdefault("concurrency", DEFAULT_VLLM_CONCURRENCY)
    return values


def _check_vllm_fields(settings: JudgeSettings) -> None:
    """Bounds of the local-judge settings, and a pinned revision for a hub model."""
    if not 0.0 < settings.gpu_memory_utilization <= 1.0:
        raise JudgeConfigError(
            f"judge_gpu_memory_utilization={settings.gpu_memory_utilization} must be in (0, 1]: the "
            "fraction of each GPU's total memory the judge server may claim"
        )
    if settings.tensor_parallel_size < 1:
        raise JudgeConfigError("judge_tensor_parallel_size must be at least 1 (GPUs per judge server)")
    if settings.max_model_len is not None and settings.max_model_len < 512:
        raise JudgeConfigError("judge_max_model_len must be at least 512 tokens (a judge prompt is ~1-2k)")
    if settings.server_timeout <= 0:
        raise JudgeConfigError("judge_server_timeout must be positive (seconds to wait for the judge server)")
    if settings.backend != "vllm":
        return
    from pathlib import Path

    if Path(settings.model).expanduser().is_dir():
        return  # a local directory: its files are the revision
    if not settings.vllm_revision or not _COMMIT_SHA.fullmatch(settings.vllm_revision):
        raise JudgeConfigError(
            f"the local judge {settings.model!r} must be pinned to a Hugging Face commit: set --metadata "
            "judge_vllm_revision=<40-hex commit sha> (COCONOT_JUDGE_VLLM_REVISION; got "
            f"{settings.vllm_revision!r}). A branch or tag can move; a commit cannot."
        )
