"""The official rubric and system-prompt files of github.com/allenai/noncompliance: downloaded once
from a pinned commit, checked against a known sha256 and cached. Offline machines point at a
local copy: ``COCONOT_RUBRIC_PATH`` / ``COCONOT_SYSTEM_PROMPT_PATH``, or a data directory that
holds them under their official names.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from coconot_tasks.benchmark.dataset import ENV_DATA_DIR, resolve_data_dir
from coconot_tasks.paths import cache_dir

SOURCE_REPO = "allenai/noncompliance"
SOURCE_COMMIT = "25bf77cc668814360405cdb8197c4368205806c7"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{SOURCE_REPO}/{SOURCE_COMMIT}"
ENV_BASE_URL = "COCONOT_RESOURCE_BASE_URL"


class ResourceError(RuntimeError):
    """A rubric or system-prompt file is missing, unreachable or not the pinned one."""


@dataclass(frozen=True)
class Resource:
    """One pinned file of the official repository (in its ``prompts/`` folder)."""

    name: str
    sha256: str
    env_var: str


RUBRIC = Resource(
    name="refusal_evaluation_rubric.json",
    sha256="54cd2460c776a06952ce6eebe1daa0412ea4729c41165cc173af2a9aa0713034",
    env_var="COCONOT_RUBRIC_PATH",
)
SYSTEM_PROMPT = Resource(
    name="system_prompt.json",
    sha256="1cb7962f0625409ce8cf057b7af8e49662a5fcee61434767ef4aefd8d7e6e139",
    env_var="COCONOT_SYSTEM_PROMPT_PATH",
)


def _verified(resource: Resource, data: bytes, origin: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != resource.sha256:
        raise ResourceError(
            f"{origin}: sha256 {actual} does not match the pinned {resource.name} "
            f"({resource.sha256}, {SOURCE_REPO}@{SOURCE_COMMIT[:12]}). The metric is defined by "
            f"that exact file; point {resource.env_var} at an unmodified copy."
        )
    return data


def resource_bytes(resource: Resource, data_dir: str | os.PathLike[str] | None = None) -> bytes:
    """The verified bytes of ``resource``, from the first of: its environment variable (a file),
    ``data_dir`` (else ``COCONOT_DATA_DIR``), the cache, a download."""
    explicit = os.environ.get(resource.env_var)
    folder = resolve_data_dir(data_dir, must_exist=False)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ResourceError(f"{resource.env_var}={explicit}: no such file")
        return _verified(resource, path.read_bytes(), str(path))
    if folder and (path := folder / resource.name).is_file():
        return _verified(resource, path.read_bytes(), str(path))
    cached = cache_dir() / "resources" / SOURCE_COMMIT / resource.name
    if cached.is_file() and hashlib.sha256(data := cached.read_bytes()).hexdigest() == resource.sha256:
        return data
    url = f"{os.environ.get(ENV_BASE_URL, DEFAULT_BASE_URL).rstrip('/')}/prompts/{resource.name}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - pinned URL
            data = _verified(resource, response.read(), url)
    except OSError as exc:
        raise ResourceError(
            f"could not download {resource.name} from {url} ({exc}). On an offline machine set "
            f"{resource.env_var} to a local copy, or {ENV_DATA_DIR} to a directory holding it."
        ) from exc
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return data


Rubric = dict[str, dict[str, str]]


def load_rubric(data_dir: str | os.PathLike[str] | None = None) -> Rubric:
    """Return the rubric: ``{subcategory.lower(): {"refusal": ..., "compliance": ...}}``."""
    return {str(k).lower(): v for k, v in json.loads(resource_bytes(RUBRIC, data_dir)).items()}


def rubric_entry(rubric: Rubric, subcategory: str) -> dict[str, str]:
    """The rubric entry of one subcategory (looked up by ``subcategory.lower()``)."""
    try:
        return rubric[subcategory.lower()]
    except KeyError:
        raise ResourceError(f"the official rubric has no entry for subcategory {subcategory!r}") from None


def rubric_for(subcategory: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Load the rubric and return one subcategory's entry (for one-off lookups)."""
    return rubric_entry(load_rubric(data_dir), subcategory)


def load_system_prompt(data_dir: str | os.PathLike[str] | None = None) -> str:
    """Return the paper's evaluation system prompt (Figure 6) as plain text."""
    return str(json.loads(resource_bytes(SYSTEM_PROMPT, data_dir))["content"])
