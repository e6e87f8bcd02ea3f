"""``coconot report`` names each run's judge and refuses to mix judges unless told to."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_report import make_items, run_report, write_run

LUNA_RECORD: dict[str, Any] = {
    "judge": "openai:gpt-6-luna",
    "backend": "openai",
    "model": "gpt-6-luna",
    "endpoint": "https://api.openai.com/v1",
    "served_models": {"gpt-6-luna-2026-09-22": 40},
    "paper_request": False,
    "request": {"max_completion_tokens": 256, "reasoning_effort": "none", "temperature": 0},
}


def _set_judge_record(results_path: Path, record: dict[str, Any] | None) -> None:
    """Give every task config of a saved run the judge record ``record`` (``None``: no record)."""
    data = json.loads(results_path.read_text())
    for config in data["configs"].values():
        config["metadata"] = {"judge_settings": record} if record else {}
    results_path.write_text(json.dumps(data))


def _forget_sample_judges(results_path: Path) -> None:
    """Make a run look saved before any judge provenance existed (no judge in its verdicts)."""
    for path in results_path.parent.glob("samples_*.jsonl"):
        lines = []
        for line in path.read_text().splitlines():
            sample = json.loads(line)
            verdict = json.loads(sample["filtered_resps"][0])
            verdict["judge"] = ""
            sample["filtered_resps"] = [json.dumps(verdict)]
            lines.append(json.dumps(sample))
        path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def two_judges(tmp_path: Path) -> tuple[Path, Path]:
    """``fake-a`` judged by openai:fake-judge (read from its verdicts), ``fake-b`` by gpt-6-luna."""
    first = write_run(tmp_path / "runs-a", "fake-a", {False: make_items("fake-a", False)})
    second = write_run(tmp_path / "runs-b", "fake-b", {False: make_items("fake-b", False)})
    _set_judge_record(second, LUNA_RECORD)
    return first, second


def test_runs_of_different_judges_are_refused_in_one_line(
    two_judges: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert run_report(*two_judges, "-o", out) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "openai:fake-judge" in err and "openai:gpt-6-luna" in err and "--allow-mixed-judges" in err
    assert not out.exists()


def test_with_the_flag_every_format_names_both_judges(two_judges: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert run_report(*two_judges, "-o", out, "--allow-mixed-judges") == 0
    md = (out / "report.md").read_text()
    notice = next(line for line in md.splitlines() if line.startswith("> **Different judges"))
    assert "openai:fake-judge" in notice and "openai:gpt-6-luna" in notice
    page = html.unescape((out / "report.html").read_text())
    assert 'class="warning judges"' in (out / "report.html").read_text()
    assert "Different judges" in page and "openai:gpt-6-luna" in page and "openai:fake-judge" in page
    data = json.loads((out / "report.json").read_text())
    assert data["judges"]["mixed"] is True
    assert "openai:fake-judge" in data["judges"]["notice"] and "openai:gpt-6-luna" in data["judges"]["notice"]
    # each run names its judge: requested model, served model, endpoint, and the non-paper request
    luna = data["rows"][1]["judge"][0]
    assert luna["judge"] == "openai:gpt-6-luna" and luna["served_models"] == ["gpt-6-luna-2026-09-22"]
    assert luna["endpoint"] == "https://api.openai.com/v1" and luna["backend"] == "openai"
    assert luna["request"] == LUNA_RECORD["request"]
    runs_table = md[md.index("## Runs") :]
    assert "served gpt-6-luna-2026-09-22" in runs_table and '"reasoning_effort": "none"' in runs_table


def test_the_same_judge_needs_no_flag_and_shows_no_notice(tmp_path: Path) -> None:
    first = write_run(tmp_path / "runs-a", "fake-a", {False: make_items("fake-a", False)})
    second = write_run(tmp_path / "runs-b", "fake-b", {False: make_items("fake-b", False)})
    same = {**LUNA_RECORD, "paper_request": True}
    _set_judge_record(first, same)
    _set_judge_record(second, {**same, "served_models": {"gpt-6-luna-2026-09-22": 3}})
    out = tmp_path / "report"
    assert run_report(first, second, "-o", out) == 0
    assert "Different judges" not in (out / "report.md").read_text()
    data = json.loads((out / "report.json").read_text())
    assert data["judges"]["mixed"] is False and data["rows"][0]["judge"][0]["request"] is None


def test_an_unknown_judge_is_named_and_never_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_run(tmp_path / "runs-a", "fake-a", {False: make_items("fake-a", False)})
    second = write_run(tmp_path / "runs-b", "fake-b", {False: make_items("fake-b", False)})
    for path in (first, second):
        _forget_sample_judges(path)
    assert run_report(first, second, "-o", tmp_path / "refused") != 0
    assert "judge unknown" in capsys.readouterr().err
    out = tmp_path / "alone"
    assert run_report(first, "-o", out) == 0  # one run: nothing is mixed
    md = (out / "report.md").read_text()
    assert "Different judges" not in md and "judge unknown" in md[md.index("## Runs") :]
