"""The official rubric and system prompt: local copies, pinned sha256, download and cache."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from coconot_tasks.benchmark import official_files as resources
from coconot_tasks.benchmark.official_files import ResourceError

RUBRIC_SHA = "54cd2460c776a06952ce6eebe1daa0412ea4729c41165cc173af2a9aa0713034"
SYSTEM_SHA = "1cb7962f0625409ce8cf057b7af8e49662a5fcee61434767ef4aefd8d7e6e139"
COMMIT = "25bf77cc668814360405cdb8197c4368205806c7"


@pytest.fixture
def shared(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The offline copies, with no local-path variables set (only the files)."""
    for name in ("COCONOT_DATA_DIR", "COCONOT_RUBRIC_PATH", "COCONOT_SYSTEM_PROMPT_PATH"):
        monkeypatch.delenv(name, raising=False)
    return data_dir


@dataclass
class Served:
    url: str
    root: Path
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A loopback HTTP server laid out like the pinned repository (``prompts/...``)."""
    root = tmp_path / "www"
    (root / "prompts").mkdir(parents=True)
    for name in ("refusal_evaluation_rubric.json", "system_prompt.json"):
        shutil.copy(shared / name, root / "prompts" / name)
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    served = Served(url=f"http://127.0.0.1:{httpd.server_address[1]}", root=root, requests=requests)
    monkeypatch.setenv("COCONOT_RESOURCE_BASE_URL", served.url)
    for name in ("no_proxy", "NO_PROXY"):  # never route loopback through a proxy
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    try:
        yield served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def cached_file(cache: Path, name: str) -> Path:
    return cache / "resources" / COMMIT / name


def test_pinned_shas_match_design() -> None:
    assert resources.RUBRIC.sha256 == RUBRIC_SHA
    assert resources.SYSTEM_PROMPT.sha256 == SYSTEM_SHA
    assert resources.SOURCE_COMMIT == COMMIT


def test_offline_copies_have_the_pinned_sha(shared: Path) -> None:
    # If this fails, the other tests here test the wrong files.
    assert hashlib.sha256((shared / "refusal_evaluation_rubric.json").read_bytes()).hexdigest() == RUBRIC_SHA
    assert hashlib.sha256((shared / "system_prompt.json").read_bytes()).hexdigest() == SYSTEM_SHA


def test_local_paths_via_env_vars(shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_RUBRIC_PATH", str(shared / "refusal_evaluation_rubric.json"))
    monkeypatch.setenv("COCONOT_SYSTEM_PROMPT_PATH", str(shared / "system_prompt.json"))
    raw = json.loads((shared / "refusal_evaluation_rubric.json").read_text(encoding="utf-8"))
    rubric = resources.load_rubric()
    assert rubric == {key.lower(): value for key, value in raw.items()}
    assert resources.rubric_for("Privacy Violations") == raw["privacy violations"]
    assert resources.rubric_for("OFFER ADVICE") == raw["Offer advice"]
    expected_prompt = json.loads((shared / "system_prompt.json").read_text(encoding="utf-8"))["content"]
    assert resources.load_system_prompt() == expected_prompt
    assert expected_prompt.strip()


def test_data_dir_holding_the_files_is_enough(shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_DATA_DIR", str(shared))
    monkeypatch.setenv("COCONOT_RESOURCE_BASE_URL", "http://127.0.0.1:9/unreachable")
    assert resources.rubric_for("underspecified")["compliance"]
    assert resources.load_system_prompt()


@pytest.mark.parametrize(
    ("resource", "loader"),
    [
        (resources.RUBRIC, resources.load_rubric),
        (resources.SYSTEM_PROMPT, resources.load_system_prompt),
    ],
    ids=["rubric", "system-prompt"],
)
def test_local_copy_with_wrong_sha_is_rejected(
    resource: resources.Resource, loader: Any, shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = tmp_path / resource.name
    original = json.loads((shared / resource.name).read_text(encoding="utf-8"))
    tampered.write_text(json.dumps(original), encoding="utf-8")  # same content, other bytes
    monkeypatch.setenv(resource.env_var, str(tampered))
    with pytest.raises(ResourceError) as info:
        loader()
    message = str(info.value)
    assert str(tampered) in message
    assert resource.sha256 in message
    assert resource.env_var in message


def test_local_path_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_RUBRIC_PATH", str(tmp_path / "nope.json"))
    with pytest.raises(ResourceError, match="COCONOT_RUBRIC_PATH=.*no such file"):
        resources.load_rubric()


def test_download_once_then_served_from_cache(
    server: Served, shared: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rubric = resources.load_rubric()
    assert server.requests == ["/prompts/refusal_evaluation_rubric.json"]
    raw = json.loads((shared / "refusal_evaluation_rubric.json").read_text(encoding="utf-8"))
    assert rubric == {key.lower(): value for key, value in raw.items()}
    cached = cached_file(isolated_env, "refusal_evaluation_rubric.json")
    assert cached.read_bytes() == (shared / "refusal_evaluation_rubric.json").read_bytes()

    assert resources.load_rubric() == rubric
    assert resources.resource_bytes(resources.RUBRIC) == cached.read_bytes()
    assert server.requests == ["/prompts/refusal_evaluation_rubric.json"]

    prompt = resources.load_system_prompt()
    assert prompt == json.loads((shared / "system_prompt.json").read_text(encoding="utf-8"))["content"]
    assert resources.load_system_prompt() == prompt
    assert server.requests == ["/prompts/refusal_evaluation_rubric.json", "/prompts/system_prompt.json"]
    assert sorted(p.name for p in cached.parent.iterdir()) == [
        "refusal_evaluation_rubric.json",
        "system_prompt.json",
    ]


def test_base_url_with_trailing_slash(server: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_RESOURCE_BASE_URL", server.url + "/")
    assert resources.load_system_prompt()
    assert server.requests == ["/prompts/system_prompt.json"]


def test_tampered_download_is_rejected_and_not_cached(server: Served, isolated_env: Path) -> None:
    served = server.root / "prompts" / "refusal_evaluation_rubric.json"
    good = served.read_bytes()
    served.write_bytes(good.replace(b"refus", b"REFUS", 1))
    with pytest.raises(ResourceError) as info:
        resources.load_rubric()
    message = str(info.value)
    assert f"{server.url}/prompts/refusal_evaluation_rubric.json" in message
    assert RUBRIC_SHA in message
    assert "COCONOT_RUBRIC_PATH" in message
    cache_root = isolated_env / "resources"
    assert not cache_root.exists() or not any(p.is_file() for p in cache_root.rglob("*"))

    # Nothing was poisoned: once the server is fixed, the genuine file is fetched.
    served.write_bytes(good)
    assert resources.rubric_for("underspecified")
    assert cached_file(isolated_env, "refusal_evaluation_rubric.json").read_bytes() == good
    assert len(server.requests) == 2


def test_corrupt_cache_file_is_replaced(server: Served, shared: Path, isolated_env: Path) -> None:
    cached = cached_file(isolated_env, "system_prompt.json")
    cached.parent.mkdir(parents=True)
    cached.write_text('{"role": "system", "content": "evil"}', encoding="utf-8")
    prompt = resources.load_system_prompt()
    assert prompt != "evil"
    assert server.requests == ["/prompts/system_prompt.json"]
    assert cached.read_bytes() == (shared / "system_prompt.json").read_bytes()


def test_unreachable_source_names_the_offline_fix(server: Served) -> None:
    (server.root / "prompts" / "system_prompt.json").unlink()  # 404
    with pytest.raises(ResourceError) as info:
        resources.load_system_prompt()
    message = str(info.value)
    assert f"{server.url}/prompts/system_prompt.json" in message
    assert "COCONOT_SYSTEM_PROMPT_PATH" in message
    assert "COCONOT_DATA_DIR" in message
