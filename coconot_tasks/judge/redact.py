"""Credentials in names and URLs: what looks like one, and URLs with them removed."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def redact_url(url: str | None) -> str | None:
    """``url`` with any credentials removed: user info, and query values of secret-looking keys.

    ``https://user:pw@host/v1?api-key=x&a=1`` -> ``https://***@host/v1?api-key=***&a=1``. Use it
    wherever an endpoint is logged, cached or written.
    """
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(looks_secret(k) for k, _ in pairs):
        query = urlencode([(k, "***" if looks_secret(k) else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing to hide: unchanged, byte for byte
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_SECRET_WORDS = frozenset(
    {
        "key", "apikey", "accesstoken", "secret", "password", "passwd", "pwd", "auth", "authorization",
        "credential", "credentials", "bearer", "signature", "sig",
    }
)  # fmt: skip


#: Words that make "token" a language-model token (``add_bos_token``, ``think_end_token``,
#: ``prefix_token_id``: lm-eval model arguments, which it merges into ``--metadata``).
_LM_TOKEN_WORDS = frozenset(
    {
        "bos", "eos", "pad", "unk", "sep", "cls", "mask", "end", "start", "stop", "prefix", "suffix", "think",
        "image", "audio", "special", "id", "ids", "max", "min", "num",
    }
)  # fmt: skip


def words_of(name: str) -> list[str]:
    """``name`` split into lower-case words at any separator and at camelCase humps."""
    return [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()) if w]


def looks_secret(name: str) -> bool:
    """True if a setting or parameter name looks like it holds a credential (any case or separator).

    ``judge_token``, ``apiKey``, ``COCONOT_JUDGE_API_KEY``, ``auth_token``: yes;
    ``add_bos_token``, ``max_tokens``: no (language-model tokens).
    """
    words = words_of(name)
    if any(word in _SECRET_WORDS for word in words):
        return True
    return "token" in words and not _LM_TOKEN_WORDS.intersection(words)
