"""Tests that need ../shared skip without it on a developer's machine, and fail in CI.

Runs pytest on two of those tests (one marked ``needs_shared``, one using the ``data_dir``
fixture) with the shared folder pointed at a place that does not exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

NEEDING_SHARED = (
    "tests/test_validation.py::test_loading_maps_types_to_sets",  # needs_shared marker
    "tests/test_validation.py::test_sft_check_with_fake_judge",  # data_dir fixture
)


def run_pytest(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COCONOT_REQUIRE_SHARED", "COCONOT_TEST_DATA")}
    env["COCONOT_TEST_SHARED"] = str(tmp_path / "no-shared-here")
    if require is not None:
        env["COCONOT_REQUIRE_SHARED"] = require
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *NEEDING_SHARED]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_missing_shared_data_skips_by_default(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 skipped" in done.stdout
    assert f"XSTest files not found at {tmp_path / 'no-shared-here'}" in done.stdout


def test_missing_shared_data_fails_when_required(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 errors" in done.stdout and "skipped" not in done.stdout
    assert "COCONOT_REQUIRE_SHARED is set: the shared test data must be present" in done.stdout
    assert f"offline CoCoNot data not found at {tmp_path / 'no-shared-here' / 'coconot'}" in done.stdout
