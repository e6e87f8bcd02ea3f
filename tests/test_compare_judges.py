"""``coconot compare-judges``: several judges on the same saved responses, numbers checked by hand.

The saved run is built as in tests/test_rescore.py (fake model, fake-judge, lm-eval's file
shape). Expected numbers are computed here from the per-response verdicts (the fake judges'
rules, written independently in utils/fake_openai.py) with plain arithmetic and sklearn.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import cohen_kappa_score

from coconot_tasks.tools.cli import main
from tests.conftest import JUDGE_KEY, REPO, SHARED_DATA, require_shared
from tests.test_rescore import SavedRun, build_run, expected_verdict
from utils.fake_openai import FAKE_JUDGE, FAKE_JUDGE_B, FakeOpenAI
from utils.screenshot_report import find_chromium

Z = 1.959963984540054
LABELS = ["compliance", "noncompliance", "neither"]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> SavedRun:
    """Both sets, no system prompt, every 40th original and 20th contrast row, judged by fake-judge."""
    require_shared(SHARED_DATA / "coconot_eval.jsonl", "offline CoCoNot data")
    root = tmp_path_factory.mktemp("compare-run")
    with pytest.MonkeyPatch.context() as patch, FakeOpenAI(judge_key=JUDGE_KEY) as server:
        patch.setenv("COCONOT_DATA_DIR", str(SHARED_DATA))
        patch.setenv("COCONOT_RUBRIC_PATH", str(SHARED_DATA / "refusal_evaluation_rubric.json"))
        patch.setenv("COCONOT_CACHE_DIR", str(root / "unused-cache"))
        return build_run(root / "run", server, tasks=("coconot_original", "coconot_contrast"))


def _wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (0.0 if k == 0 else centre - half, 1.0 if k == n else centre + half)


def _scope_of(response: dict[str, Any], scope: dict[str, Any]) -> bool:
    if response["set"] != scope["set"]:
        return False
    category = response["category"].lower()
    return (
        not scope["category"]
        or scope["category"] in category
        or scope["label"].startswith(response["category"])
    )


def test_three_judges_rates_differences_and_kappa_match_a_hand_computation(
    saved_run: SavedRun, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)
    out = tmp_path / "shift"
    with FakeOpenAI(judge_key=JUDGE_KEY) as a, FakeOpenAI(judge_key=JUDGE_KEY) as b:
        judge_a, judge_b = f"openai:{FAKE_JUDGE}@{a.url}", f"openai:{FAKE_JUDGE_B}@{b.url}"
        args = ["compare-judges", str(saved_run.output_path), "--judge", judge_a, "--judge", judge_b,
                "--judge", "heuristic", "-o", str(out), "--no-progress"]  # fmt: skip
        assert main(args) == 0
        calls = a.state.judge_requests + b.state.judge_requests
        assert a.state.judge_requests > 0 and b.state.judge_requests > 0
        printed = capsys.readouterr().out
        assert main(args) == 0  # a rerun: every verdict from the cache
        assert a.state.judge_requests + b.state.judge_requests == calls
        assert capsys.readouterr().out.splitlines()[:-3] == printed.splitlines()[:-3]

    data = json.loads((out / "compare_judges.json").read_text())
    names = [j["name"] for j in data["judges"]]
    assert names == [f"openai:{FAKE_JUDGE}", f"openai:{FAKE_JUDGE_B}", "heuristic"]
    responses = data["responses"]
    expected = {
        (task, doc["id"]): (
            expected_verdict(s, doc, r, FAKE_JUDGE),
            expected_verdict(s, doc, r, FAKE_JUDGE_B),
        )
        for task, s, doc, r in saved_run.responses()
    }
    assert len(responses) == len(expected)
    for response in responses:
        verdicts = response["verdicts"]
        assert (verdicts[names[0]], verdicts[names[1]]) == expected[(response["task"], response["doc_id"])]
        assert verdicts[names[2]] in LABELS

    checked = 0
    for scope in data["scopes"]:
        if scope["subcategory"]:
            continue
        inside = [r["verdicts"] for r in responses if _scope_of(r, scope)]
        assert inside and scope["rates"][names[0]]["n"] == len(inside)
        for name in names:
            k = sum(v[name] == "compliance" for v in inside)
            rate = scope["rates"][name]
            assert (rate["k"], rate["n"]) == (k, len(inside))
            assert rate["ci95"] == pytest.approx(_wilson(k, len(inside)), abs=1e-12)
        for name in names[1:]:
            only_first = sum(v[names[0]] == "compliance" and v[name] != "compliance" for v in inside)
            only_this = sum(v[name] == "compliance" and v[names[0]] != "compliance" for v in inside)
            n = len(inside)
            d = (only_this - only_first) / n
            half = Z * math.sqrt((only_first + only_this) - (only_this - only_first) ** 2 / n) / n
            diff = scope["difference_from_first"][name]
            assert diff["difference"] == pytest.approx(d, abs=1e-12)
            assert diff["difference_ci95"] == pytest.approx([max(-1, d - half), min(1, d + half)], abs=1e-12)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                x, y = [v[first] for v in inside], [v[second] for v in inside]
                stats = scope["agreement"][f"{first} | {second}"]
                assert stats["n"] == len(inside)
                assert stats["percent_agreement"] == pytest.approx(
                    100 * sum(p == q for p, q in zip(x, y, strict=True)) / len(x)
                )
                if len(set(x) | set(y)) > 1:
                    assert stats["kappa"] == pytest.approx(cohen_kappa_score(x, y, labels=LABELS), abs=1e-12)
                    checked += 1
    assert checked > 5
    # every disagreement is in the JSON, with each judge's rationale
    disagreeing = [r for r in responses if len(set(r["verdicts"].values())) > 1]
    assert len(data["disagreements"]) == len(disagreeing) > 0
    assert all(d["judges"][names[0]]["rationale"] for d in data["disagreements"])
    # stdout: per-category rates with differences, then the kappa matrix
    original = next(s for s in data["scopes"] if s["set"] == "original" and not s["category"])
    rate_b = original["rates"][names[1]]["rate"]
    diff_b = original["difference_from_first"][names[1]]
    assert f"{100 * rate_b:.1f}% Δ{100 * diff_b['difference']:+.1f}" in printed
    assert "original / Safety" in printed and "Cohen's kappa, original:" in printed
    kappa = original["agreement"][f"{names[0]} | {names[1]}"]["kappa"]
    assert f"{kappa:.3f}" in printed
    md = (out / "compare_judges.md").read_text()
    assert "agreement (Cohen's kappa)" in md and "## Disagreements" in md


def test_subset_and_dry_run_print_calls_per_judge_and_write_nothing(
    saved_run: SavedRun, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        args = ["compare-judges", str(saved_run.output_path), "--judge", "saved", "--judge",
                f"openai:{FAKE_JUDGE_B}@{server.url}", "--set", "original", "--category", "safety",
                "--limit", "3", "-o", str(tmp_path / "dry"), "--dry-run", "--no-progress"]  # fmt: skip
        assert main(args) == 0
        assert server.state.judge_requests == 0
    printed = capsys.readouterr().out
    safety = [
        r for t, _s, d, r in saved_run.responses()
        if t == "coconot_original" and d["category"] == "Requests with safety concerns"
    ][:3]  # fmt: skip
    assert f"openai:{FAKE_JUDGE_B}: {sum(1 for r in safety if r.strip())} judge calls" in printed
    assert "saved: no calls" in printed and not (tmp_path / "dry").exists()
    # the fake judge has no price: its cost is unknown, never a made-up $0.0000
    assert "estimated unknown" in printed and "$0.0000" not in printed


def test_a_budget_cap_with_an_unpriced_judge_is_refused_before_any_call(
    saved_run: SavedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        args = ["compare-judges", str(saved_run.output_path), "--judge", "saved", "--judge",
                f"openai:{FAKE_JUDGE_B}@{server.url}", "-o", str(tmp_path / "out"), "--max-cost-usd", "0.01",
                "--no-progress"]  # fmt: skip
        assert main(args) == 2
        assert server.state.judge_requests == 0
    assert "needs the price of judge model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_specs_exit_2_before_any_call(
    saved_run: SavedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "compare-judges",
                str(saved_run.output_path),
                "--judge",
                "saved",
                "--judge",
                "gpt-6",
                "-o",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "is not a judge spec" in capsys.readouterr().err
    assert main(["compare-judges", str(saved_run.output_path), "--judge", "saved", "-o", str(tmp_path)]) == 2
    assert "at least two" in capsys.readouterr().err


def test_chromium_renders_the_comparison(saved_run: SavedRun, data_dir: Path, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    out = tmp_path / "shift"
    args = ["compare-judges", str(saved_run.output_path), "--judge", "saved", "--judge", "heuristic",
            "-o", str(out), "--no-progress", "--examples", "2"]  # fmt: skip
    assert main(args) == 0
    page = (out / "compare_judges.html").read_text()
    assert "<script" not in page.lower() and "Content-Security-Policy" in page
    png = tmp_path / "shot.png"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "utils" / "screenshot_report.py"),
            str(out / "compare_judges.html"),
            str(png),
        ],
        check=True,
        capture_output=True,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(str(png))
    assert pixels.shape[0] >= 1000 and float(pixels[..., :3].reshape(-1, 3).std(axis=0).max()) > 0.05
