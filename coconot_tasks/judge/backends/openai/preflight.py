"""The OpenAI backend's preflight: the endpoint answers, knows the model, and accepts the request."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import openai

from coconot_tasks.judge.backends.base import JudgeFacts
from coconot_tasks.judge.backends.openai import OpenAIBackend
from coconot_tasks.judge.backends.openai.errors import endpoint_message, rejection_message
from coconot_tasks.judge.backends.openai.retired import check_reported_shutdown
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.prompt import JUDGE_SYSTEM_MESSAGE

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings


def check_endpoint(settings: JudgeSettings, today: datetime.date | None = None) -> JudgeFacts:
    """A key for api.openai.com; the endpoint answers, knows the model, reports no past
    ``shutdown_date``, and accepts a "ping" with the run's exact decoding (``JudgeConfigError``)."""
    where = settings.endpoint
    hint = (
        "Set COCONOT_JUDGE_API_KEY (or OPENAI_API_KEY) for the judge, point it elsewhere with "
        "COCONOT_JUDGE_BASE_URL (lm_eval: --metadata judge_base_url=...; coconot tools: "
        "--judge-base-url), or run a keyless smoke test with the heuristic backend "
        "(COCONOT_JUDGE_BACKEND=heuristic; not the paper's metric)."
    )
    if not settings.api_key and settings.base_url is None:
        raise JudgeConfigError(f"CoCoNot judge: no API key for {where}. {hint}")
    client = openai.OpenAI(
        api_key=settings.api_key or "no-key-set",
        base_url=settings.base_url,
        max_retries=1,
        timeout=min(settings.timeout, 20.0),
    )
    secrets = (settings.api_key,)
    try:
        shutdown = check_reported_shutdown(settings, _reported_shutdown_date(client, settings.model), today)
        _send_check_request(client, settings)
        return JudgeFacts(shutdown_date=shutdown)
    except openai.BadRequestError as exc:
        rejected = rejection_message(exc, secrets)
        if rejected is None:
            raise _refused(settings, exc, secrets) from None
        raise JudgeConfigError(f"CoCoNot judge at {where}, model {settings.model!r}: {rejected}.") from None
    except openai.AuthenticationError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge at {where} rejected the API key (HTTP {exc.status_code}: "
            f'"{endpoint_message(exc, secrets)}"). {hint}'
        ) from None
    except openai.PermissionDeniedError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge at {where}: permission denied for model {settings.model!r} "
            f'(HTTP {exc.status_code}: "{endpoint_message(exc, secrets)}"). Set judge_model to a model '
            "this key may use."
        ) from None
    except openai.NotFoundError as exc:
        if settings.model not in str(exc):  # a 404 for the route itself, not for the model
            raise JudgeConfigError(
                f"CoCoNot judge at {where}: no OpenAI API at that URL (HTTP 404 for the model and the chat "
                f'routes: "{endpoint_message(exc, secrets)}"). The base URL must be the API root, usually '
                "ending in /v1 (e.g. http://localhost:8000/v1); set COCONOT_JUDGE_BASE_URL or --metadata "
                "judge_base_url=..."
            ) from None
        raise JudgeConfigError(
            f"CoCoNot judge at {where} does not know model {settings.model!r} "
            f'("{endpoint_message(exc, secrets)}"). Set COCONOT_JUDGE_MODEL or --metadata judge_model=... '
            "to a model the endpoint serves."
        ) from None
    except openai.APIConnectionError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge endpoint {where} is unreachable ({type(exc).__name__}). Check "
            f"COCONOT_JUDGE_BASE_URL / --metadata judge_base_url=... {hint}"
        ) from None
    except openai.APIStatusError as exc:
        raise _refused(settings, exc, secrets) from None
    finally:
        client.close()


def _refused(
    settings: JudgeSettings, exc: openai.APIStatusError, secrets: tuple[str | None, ...]
) -> JudgeConfigError:
    """The error for any other HTTP error of a check request, quoting the endpoint's message."""
    return JudgeConfigError(
        f"CoCoNot judge at {settings.endpoint} answered HTTP {exc.status_code} to a check request for "
        f'model {settings.model!r}: "{endpoint_message(exc, secrets)}". Fix the judge settings '
        "(judge_model, judge_max_tokens, judge_reasoning_effort) or set COCONOT_JUDGE_PREFLIGHT=0 to "
        "skip this check."
    )


def _reported_shutdown_date(client: openai.OpenAI, model: str) -> str | None:
    """The ``shutdown_date`` the endpoint reports for ``model`` (``GET /models/{model}``, else the list)."""
    try:
        entry: Any = client.models.retrieve(model)
    except openai.NotFoundError:
        try:
            entry = next((m for m in client.models.list() if m.id == model), None)
        except openai.APIStatusError:
            return None  # no list either: the check request tells route from model
    value = getattr(entry, "shutdown_date", None)
    return str(value) if value else None


def _send_check_request(client: openai.OpenAI, settings: JudgeSettings) -> None:
    """A tiny chat request ("ping") with exactly the decoding parameters the run will send."""
    messages = [{"role": "system", "content": JUDGE_SYSTEM_MESSAGE}, {"role": "user", "content": "ping"}]
    body = {"model": settings.model, "messages": messages, **OpenAIBackend.request_shape(settings).params}
    client.post("/chat/completions", body=body, cast_to=object)
