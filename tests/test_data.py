"""Loading the CoCoNot evaluation sets from a local directory, and schema errors."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from coconot_tasks.benchmark import dataset as data
from coconot_tasks.benchmark import official_files as resources
from coconot_tasks.benchmark.dataset import DataError
from coconot_tasks.benchmark.taxonomy import EXPECTED_COUNTS
from tests.conftest import JUDGE_KEY, SHARED_DATA, require_shared
from tests.lm_eval_runner import judge_environment, lm_eval_command, run_lm_eval, task_metrics
from utils.fake_openai import FakeOpenAI

# From DESIGN.md ("The benchmark (facts to reproduce exactly)"). The taxonomy's per-subcategory
# counts are checked against these totals and against the official files.
TOTALS = {"original": 1001, "contrast": 379}


def good_row(row_id: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "id": row_id,
        "category": "Incomplete requests",
        "subcategory": "underspecified",
        "prompt": f"prompt {row_id}",
        "response": "",
    }
    row.update(overrides)
    return row


def write_lines(directory: Path, lines: list[str], name: str = "coconot_eval.jsonl") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("set_name", ["original", "contrast"])
def test_expected_table_matches_design_totals(set_name: str) -> None:
    assert sum(EXPECTED_COUNTS[set_name].values()) == TOTALS[set_name]


@pytest.mark.parametrize("set_name", ["original", "contrast"])
def test_all_rows_load_with_design_counts(set_name: str, data_dir: Path) -> None:
    rows = data.load_rows(set_name)
    assert len(rows) == TOTALS[set_name]
    assert len({row["id"] for row in rows}) == TOTALS[set_name]
    counts = Counter((row["category"], row["subcategory"]) for row in rows)
    assert dict(counts) == EXPECTED_COUNTS[set_name]


def test_rows_keep_their_own_category(data_dir: Path) -> None:
    # The one safety row labelled "incomprehensible" is not moved to Incomplete requests.
    rows = data.load_rows("original")
    odd = [r for r in rows if r["subcategory"] == "incomprehensible" and r["category"].startswith("Requests")]
    assert len(odd) == 1


@pytest.mark.parametrize("set_name", ["original", "contrast"])
def test_load_dataset_dict_has_one_test_split(set_name: str, data_dir: Path) -> None:
    dataset = data.load_dataset_dict(set_name)
    assert list(dataset) == ["test"]
    test = dataset["test"]
    assert test.num_rows == TOTALS[set_name]
    assert {"id", "category", "subcategory", "prompt", "response"} <= set(test.column_names)
    rows = data.load_rows(set_name)
    assert test[0]["id"] == rows[0]["id"]
    assert test[-1]["prompt"] == rows[-1]["prompt"]


def test_explicit_data_dir_argument(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COCONOT_DATA_DIR")
    assert len(data.load_rows("contrast", data_dir=data_dir)) == 379


@pytest.mark.parametrize("set_name", ["original", "contrast"])
def test_every_subcategory_has_a_rubric(set_name: str, data_dir: Path) -> None:
    for _, subcategory in EXPECTED_COUNTS[set_name]:
        entry = resources.rubric_for(subcategory)
        assert entry["refusal"].strip()
        assert entry["compliance"].strip()
    for row in data.load_rows(set_name):
        assert resources.rubric_for(row["subcategory"])  # no row without a rubric


def test_unknown_subcategory_has_no_rubric(data_dir: Path) -> None:
    with pytest.raises(resources.ResourceError, match="no entry for subcategory 'nonsense'"):
        resources.rubric_for("nonsense")


def test_missing_field_names_file_row_and_field(tmp_path: Path) -> None:
    row = good_row("b")
    del row["subcategory"]
    path = write_lines(tmp_path / "d", [json.dumps(good_row("a")), json.dumps(row)])
    with pytest.raises(DataError) as info:
        data.load_rows("original", data_dir=tmp_path / "d")
    assert str(info.value) == f"{path}, row 2: field 'subcategory' is missing"


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", "''"), ("   ", "'   '"), (None, "None"), (42, "42")],
    ids=["empty", "blank", "null", "int"],
)
def test_bad_prompt_names_file_row_and_value(tmp_path: Path, value: Any, shown: str) -> None:
    rows = [good_row("a"), good_row("b"), good_row("c", prompt=value)]
    path = write_lines(tmp_path / "d", [json.dumps(r) for r in rows])
    with pytest.raises(DataError) as info:
        data.load_rows("original", data_dir=tmp_path / "d")
    assert str(info.value) == f"{path}, row 3: field 'prompt' must be a non-empty string, got {shown}"


def test_duplicate_id_names_both_rows(tmp_path: Path) -> None:
    rows = [good_row("x1"), good_row("x2"), good_row("x1"), good_row("x3")]
    path = write_lines(tmp_path / "d", [json.dumps(r) for r in rows], name="coconot_contrast_eval.jsonl")
    with pytest.raises(DataError) as info:
        data.load_rows("contrast", data_dir=tmp_path / "d")
    assert str(info.value) == f"{path}, row 3: duplicate id 'x1' (first at row 1)"


def test_invalid_json_line_names_file_and_row(tmp_path: Path) -> None:
    lines = [json.dumps(good_row("a")), json.dumps(good_row("b")), '{"id": "c", "prompt": ']
    path = write_lines(tmp_path / "d", lines)
    with pytest.raises(DataError) as info:
        data.load_rows("original", data_dir=tmp_path / "d")
    message = str(info.value)
    assert message.startswith(f"{path}, row 3: invalid JSON (")


def test_non_object_row_is_rejected(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d", [json.dumps(good_row("a")), json.dumps(["a", "list"])])
    with pytest.raises(DataError) as info:
        data.load_rows("original", data_dir=tmp_path / "d")
    assert str(info.value) == f"{path}, row 2: expected a JSON object, got list"


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d", [""])
    with pytest.raises(DataError) as info:
        data.load_rows("original", data_dir=tmp_path / "d")
    assert str(info.value) == f"{path}: no rows"


def test_valid_small_file_loads(tmp_path: Path) -> None:
    write_lines(tmp_path / "d", [json.dumps(good_row("a")), "", json.dumps(good_row("b", response="ok"))])
    rows = data.load_rows("original", data_dir=tmp_path / "d")
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[1]["response"] == "ok"


def test_schema_error_row_number_is_the_file_line_despite_blank_lines(tmp_path: Path) -> None:
    # Invalid JSON errors report the file's line number; schema errors should point at the
    # same line a user opens in an editor, also when the file has blank lines.
    lines = [json.dumps(good_row("a")), "", json.dumps(good_row("b", prompt=""))]
    path = write_lines(tmp_path / "d", lines)
    with pytest.raises(DataError) as info:
        data.load_rows("original", data_dir=tmp_path / "d")
    assert str(info.value).startswith(f"{path}, row 3:")


def test_missing_data_dir_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-dir"
    monkeypatch.setenv("COCONOT_DATA_DIR", str(missing))
    with pytest.raises(DataError) as info:
        data.load_rows("original")
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)
    assert "COCONOT_DATA_DIR" in str(info.value)


def test_missing_file_in_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as info:
        data.load_rows("contrast", data_dir=tmp_path / "empty")
    assert str(info.value) == f"{tmp_path / 'empty' / 'coconot_contrast_eval.jsonl'}: file not found"


def test_unknown_set_is_rejected(data_dir: Path) -> None:
    with pytest.raises(DataError, match="unknown CoCoNot set 'pref'"):
        data.load_rows("pref")


def test_offline_hub_failure_points_at_local_data_dir() -> None:
    # isolated_env: no COCONOT_DATA_DIR, HF_HUB_OFFLINE=1, HF_HOME in tmp_path.
    with pytest.raises(DataError) as info:
        data.load_rows("original")
    message = str(info.value)
    assert "allenai/coconot" in message
    assert "COCONOT_DATA_DIR" in message
    assert "coconot_eval.jsonl" in message


# --- categories and subcategories are the set's own ---------------------------------------------


def test_unknown_category_names_file_row_and_the_valid_categories(tmp_path: Path) -> None:
    rows = [good_row("a"), good_row("b", category="Incomplete request")]  # typo: singular
    path = write_lines(tmp_path / "d", [json.dumps(r) for r in rows])
    with pytest.raises(DataError) as info:
        data.load_rows("original", data_dir=tmp_path / "d")
    assert str(info.value) == (
        f"{path}, row 2: category 'Incomplete request' is not a category of the CoCoNot original set; "
        "expected one of ['Incomplete requests', 'Unsupported requests', 'Indeterminate requests', "
        "'Requests with safety concerns', 'Humanizing requests']"
    )


@pytest.mark.parametrize(
    ("set_name", "category", "subcategory", "valid"),
    [
        # exists in the contrast set only
        ("original", "Unsupported requests", "modality limitations",
         "['input modality limitations', 'output modality limitations', 'style and length limitations', "
         "'temporal limitations']"),
        # exists in the original set only
        ("contrast", "Incomplete requests", "incomprehensible",
         "['false presuppositions', 'underspecified']"),
        # a real subcategory under another category of the same set
        ("original", "Humanizing requests", "misinformation",
         "['offer advice, opinion or recommendations', 'personal inquiry']"),
    ],
    ids=["original-has-no-modality-limitations", "contrast-has-no-incomprehensible", "moved-subcategory"],
)  # fmt: skip
def test_a_pair_not_in_the_set_names_file_row_and_the_valid_subcategories(
    tmp_path: Path, set_name: str, category: str, subcategory: str, valid: str
) -> None:
    rows = [good_row("a"), good_row("b"), good_row("c", category=category, subcategory=subcategory)]
    path = write_lines(tmp_path / "d", [json.dumps(r) for r in rows], name=data.LOCAL_FILES[set_name])
    with pytest.raises(DataError) as info:
        data.load_rows(set_name, data_dir=tmp_path / "d")
    assert str(info.value) == (
        f"{path}, row 3: subcategory {subcategory!r} does not exist under {category!r} in the CoCoNot "
        f"{set_name} set; expected one of {valid}"
    )


def test_the_one_safety_row_labelled_incomprehensible_is_valid(tmp_path: Path) -> None:
    row = good_row("a", category="Requests with safety concerns", subcategory="incomprehensible")
    write_lines(tmp_path / "d", [json.dumps(row)])
    assert len(data.load_rows("original", data_dir=tmp_path / "d")) == 1


# --- a set that is not the official one is flagged ----------------------------------------------


def _official_lines(set_name: str) -> list[str]:
    require_shared(SHARED_DATA / data.LOCAL_FILES[set_name], "offline CoCoNot data")
    text = (SHARED_DATA / data.LOCAL_FILES[set_name]).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def _load_flagged(directory: Path, set_name: str, caplog: pytest.LogCaptureFixture) -> tuple[bool, list[str]]:
    """(every row's official_set flag, the warnings logged) of load_dataset_dict."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="coconot_tasks"):
        dataset = data.load_dataset_dict(set_name, data_dir=directory)
    flags = set(dataset["test"]["official_set"])
    assert len(flags) == 1
    return flags.pop(), [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("set_name", ["original", "contrast"])
def test_the_official_files_are_the_official_set(set_name: str, caplog: pytest.LogCaptureFixture) -> None:
    _official_lines(set_name)
    assert data.official_set_differences(set_name, data.load_rows(set_name, data_dir=SHARED_DATA)) == []
    assert _load_flagged(SHARED_DATA, set_name, caplog) == (True, [])


def test_901_rows_are_flagged_not_official(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = _official_lines("original")
    misinformation = [i for i, line in enumerate(lines) if '"misinformation"' in line]
    dropped = {*misinformation, *range(9)}  # 91 + 9 = 100 rows
    path = write_lines(tmp_path / "d", [line for i, line in enumerate(lines) if i not in dropped])
    official, warnings = _load_flagged(tmp_path / "d", "original", caplog)
    assert official is False
    assert len(warnings) == 1
    assert warnings[0].startswith(f"CoCoNot original: {path} is NOT the official CoCoNot original set (")
    assert (
        "901 rows instead of 1001; its ids are not the official ones; rows per subcategory: " in warnings[0]
    )
    assert "safety/misinformation 0 (official 91)" in warnings[0]


def test_1002_rows_are_flagged_not_official(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = _official_lines("original")
    extra = json.loads(lines[0]) | {"id": "extra-row"}
    write_lines(tmp_path / "d", [*lines, json.dumps(extra)])
    official, warnings = _load_flagged(tmp_path / "d", "original", caplog)
    assert official is False
    assert "1002 rows instead of 1001; its ids are not the official ones" in warnings[0]


def test_same_size_with_other_ids_is_flagged_not_official(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = _official_lines("contrast")
    renamed = json.loads(lines[5]) | {"id": "not-an-official-id"}
    write_lines(
        tmp_path / "d", [*lines[:5], json.dumps(renamed), *lines[6:]], name="coconot_contrast_eval.jsonl"
    )
    official, warnings = _load_flagged(tmp_path / "d", "contrast", caplog)
    assert official is False
    assert "(its ids are not the official ones)" in warnings[0]


# --- encodings ----------------------------------------------------------------------------------


def test_a_non_utf8_byte_names_file_and_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d", [json.dumps(good_row("a")), json.dumps(good_row("b"))])
    latin1 = json.dumps(good_row("c", prompt="caf\u00e9"), ensure_ascii=False).encode("latin-1")
    path.write_bytes(path.read_bytes() + b"\n" + latin1 + b"\n")
    with pytest.raises(DataError) as info:
        data.load_rows("original", data_dir=tmp_path / "d")
    assert str(info.value).startswith(f"{path}, row 4: not UTF-8 text (invalid continuation byte at byte ")
    assert str(info.value).endswith("save the file as UTF-8")


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    lines = _official_lines("original")
    path = write_lines(tmp_path / "d", lines)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    rows = data.load_rows("original", data_dir=tmp_path / "d")
    assert rows[0]["id"] == json.loads(lines[0])["id"]
    assert data.official_set_differences("original", rows) == []


def test_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "d" / "coconot_eval.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"\r\n".join(json.dumps(good_row(i)).encode() for i in "ab") + b"\r\n")
    assert [r["id"] for r in data.load_rows("original", data_dir=tmp_path / "d")] == ["a", "b"]


# --- through lm_eval: the flag reaches the results JSON and the log ----------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_lm_eval_flags_a_set_that_is_not_official_but_not_a_limited_subset(
    fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    # original: 1,002 rows (one extra); contrast: the official file. Both runs use --limit 4,
    # which lm-eval applies after loading the whole set: a subset of the official set is official.
    data = tmp_path / "data"
    lines = _official_lines("original")
    write_lines(data, [*lines, json.dumps(json.loads(lines[0]) | {"id": "extra-row"})])
    write_lines(data, _official_lines("contrast"), name="coconot_contrast_eval.jsonl")
    out = tmp_path / "out"
    cmd = lm_eval_command(
        fake_server.url, out, "coconot_original,coconot_contrast", "--limit", "4",
        "--metadata", json.dumps({"data_dir": str(data)}),
    )  # fmt: skip
    run = run_lm_eval(cmd, judge_environment(fake_server.url, JUDGE_KEY), out)
    assert run.returncode == 0, run.log[-3000:]
    results = run.results()
    assert task_metrics(results, "coconot_original")["official_set"] == 0.0
    assert task_metrics(results, "coconot_contrast")["official_set"] == 1.0
    assert results["higher_is_better"]["coconot_original"]["official_set"] is True
    assert (
        f"CoCoNot original: {data / 'coconot_eval.jsonl'} is NOT the official CoCoNot original set "
        "(1002 rows instead of 1001; its ids are not the official ones; rows per subcategory: "
        "safety/dangerous_or_sensitive_topics 83 (official 82))"
    ) in run.log
    assert "is NOT the official CoCoNot contrast set" not in run.log
    assert all(line["doc"]["official_set"] is False for line in run.samples("coconot_original"))
