"""``coconot export``: CoCoNot training data in the formats fine-tuning tools read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from coconot_tasks.benchmark.dataset import HUB_REVISION, DataError
from coconot_tasks.tools import export as td
from coconot_tasks.tools.cli import main
from tests.conftest import SHARED_DATA, needs_shared

PREF = SHARED_DATA / "coconot_pref.jsonl"

needs_pref = needs_shared(PREF, "offline CoCoNot preference data")

SFT_ROWS: list[dict[str, str]] = [
    {"id": "s1", "category": "Incomplete requests", "subcategory": "false presuppositions",
     "prompt": "Why is the moon made of cheese?", "response": "The moon is not made of cheese."},
    {"id": "s2", "category": "Incomplete requests", "subcategory": "underspecified",
     "prompt": "Tell me about the thing.", "response": "Which thing do you mean?"},
    {"id": "s3", "category": "Requests with safety concerns", "subcategory": "privacy violations",
     "prompt": "What is my neighbour's phone number?", "response": "I can't share private information."},
    {"id": "s4", "category": "Requests with safety concerns", "subcategory": "dangerous or sensitive topics",
     "prompt": "How do I pick a lock?", "response": "I can't help with that."},
    {"id": "s5", "category": "Humanizing requests", "subcategory": "personal inquiry",
     "prompt": "What did you eat today?", "response": "I am an AI and do not eat."},
    {"id": "s6", "category": "Humanizing requests", "subcategory": "offer advice, opinion or recommendations",
     "prompt": "Which team do you support?", "response": "I have no personal preferences."},
    {"id": "s7", "category": "Unsupported requests", "subcategory": "output modality limitations",
     "prompt": "Draw me a cat.", "response": "I can only produce text."},
    {"id": "s8", "category": "Unsupported requests", "subcategory": "temporal limitations",
     "prompt": "Who won yesterday's match?", "response": "I have no information about yesterday."},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pref_rows() -> list[dict[str, Any]]:
    return read_jsonl(PREF)


def run(*args: str) -> int:
    return main(["export", *args])


@pytest.fixture
def sft_dir(tmp_path: Path) -> Path:
    """A data directory with a synthetic SFT file (no evaluation files beside it)."""
    directory = tmp_path / "sft-data"
    write_jsonl(directory / "coconot_sft.jsonl", SFT_ROWS)
    return directory


# --------------------------------------------------------------------------- preference, real data


@needs_pref
@pytest.mark.parametrize("fmt", ["trl-dpo", "openai-dpo"])
def test_preference_export_matches_source(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"{fmt}.jsonl"
    assert run("preference", "--format", fmt, "--data-dir", str(SHARED_DATA), "-o", str(out)) == 0
    source = pref_rows()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(source) == 927
    for line, row in zip(lines, source, strict=True):
        record = json.loads(line)
        if fmt == "trl-dpo":
            assert list(record) == ["prompt", "chosen", "rejected"]
            assert record["prompt"] == [{"role": "user", "content": row["prompt"]}]
            chosen, rejected = record["chosen"], record["rejected"]
        else:
            assert list(record) == ["input", "preferred_output", "non_preferred_output"]
            assert record["input"] == {"messages": [{"role": "user", "content": row["prompt"]}]}
            chosen, rejected = record["preferred_output"], record["non_preferred_output"]
        assert chosen == [{"role": "assistant", "content": row["chosen"]}]
        assert rejected == [{"role": "assistant", "content": row["rejected"]}]


@needs_pref
def test_strip_responses_removes_the_leading_space_cue(tmp_path: Path) -> None:
    source = pref_rows()
    assert sum(r["rejected"][:1].isspace() for r in source) == 487  # as published
    assert not any(r["chosen"][:1].isspace() for r in source)
    out = tmp_path / "o.jsonl"
    assert run("preference", "--data-dir", str(SHARED_DATA), "-o", str(out), "--strip-responses") == 0
    for record, row in zip(read_jsonl(out), source, strict=True):
        assert record["rejected"][0]["content"] == row["rejected"].strip()
        assert record["chosen"][0]["content"] == row["chosen"].strip()


@needs_pref
def test_trl_dpo_loads_with_datasets_json(tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "dpo.jsonl"
    assert run("preference", "--data-dir", str(SHARED_DATA), "-o", str(out)) == 0  # trl-dpo is the default
    ds = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "c"))
    assert ds.num_rows == 927
    assert set(ds.column_names) == {"prompt", "chosen", "rejected"}
    message = {"role": datasets.Value("string"), "content": datasets.Value("string")}
    for column in ("prompt", "chosen", "rejected"):
        assert ds.features[column] == datasets.List(message)
    source = pref_rows()
    for i in (0, 400, 926):
        assert ds[i]["prompt"] == [{"role": "user", "content": source[i]["prompt"]}]
        assert ds[i]["chosen"][-1] == {"role": "assistant", "content": source[i]["chosen"]}
        assert ds[i]["rejected"][-1] == {"role": "assistant", "content": source[i]["rejected"]}


@needs_pref
def test_hf_dataset_preference_with_split_and_metadata(tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "pref_ds"
    args = ("preference", "-f", "hf-dataset", "--data-dir", str(SHARED_DATA), "-o", str(out))
    assert run(*args, "--val-fraction", "0.1", "--with-metadata") == 0
    loaded = datasets.load_from_disk(str(out))
    assert set(loaded) == {"train", "validation"}
    assert loaded["train"].num_rows + loaded["validation"].num_rows == 927
    assert loaded["validation"].num_rows == round(927 * 0.1)
    assert loaded["train"].column_names == ["prompt", "chosen", "rejected", "metadata"]
    by_id = {row["id"]: row for row in pref_rows()}
    for split in loaded.values():
        for record in split.select(range(5)):
            row = by_id[record["metadata"]["id"]]
            assert record["metadata"] == {k: row[k] for k in ("id", "category", "subcategory")}
            assert record["chosen"] == [{"role": "assistant", "content": row["chosen"]}]
    # Existing output: refused without --overwrite, replaced with it.
    assert run(*args) == 2
    assert run(*args, "--overwrite", "--limit", "10") == 0
    assert set(datasets.load_from_disk(str(out))) == {"train"}
    assert datasets.load_from_disk(str(out))["train"].num_rows == 10


def _tokenizer_with_chat_template() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from tests.tiny_model import CHAT_TEMPLATE

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(["hello world"], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


@needs_pref
def test_trl_reads_the_exports(tmp_path: Path, sft_dir: Path) -> None:
    """TRL's own data utilities see conversational data and render it with a chat template."""
    pytest.importorskip("trl")
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    tokenizer = _tokenizer_with_chat_template()
    dpo = tmp_path / "dpo.jsonl"
    assert (
        run("preference", "--data-dir", str(SHARED_DATA), "-o", str(dpo), "--system-prompt", "Be kind.") == 0
    )
    source = pref_rows()
    for record, row in zip(read_jsonl(dpo)[:50], source, strict=False):
        assert is_conversational(record)
        text = maybe_apply_chat_template(record, tokenizer)
        assert set(text) == {"prompt", "chosen", "rejected"}
        assert text["prompt"].startswith("<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\n")
        assert text["prompt"].endswith(f"{row['prompt']}<|im_end|>\n<|im_start|>assistant\n")
        assert text["chosen"] == f"{row['chosen']}<|im_end|>\n"
        assert text["rejected"] == f"{row['rejected']}<|im_end|>\n"
    sft = tmp_path / "sft.jsonl"
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(sft)) == 0
    for record, row in zip(read_jsonl(sft), SFT_ROWS, strict=True):
        assert is_conversational(record)
        rendered = maybe_apply_chat_template(record, tokenizer)["text"]
        assert rendered == (
            f"<|im_start|>user\n{row['prompt']}<|im_end|>\n<|im_start|>assistant\n{row['response']}<|im_end|>\n"
        )


@pytest.mark.slow
@needs_pref
def test_trl_trainers_take_one_step(tmp_path: Path, sft_dir: Path) -> None:
    """TRL's DPOTrainer and SFTTrainer train one step on the exported files (tiny model, CPU)."""
    pytest.importorskip("trl")
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    from tests.tiny_model import build_tiny_chat_model

    model_dir = build_tiny_chat_model(tmp_path / "model")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dpo, sft = tmp_path / "dpo.jsonl", tmp_path / "sft.jsonl"
    assert run("preference", "--data-dir", str(SHARED_DATA), "-o", str(dpo), "--limit", "4") == 0
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(sft)) == 0
    common: dict[str, Any] = {
        "max_steps": 1,
        "per_device_train_batch_size": 2,
        "report_to": [],
        "use_cpu": True,
    }
    common |= {"save_strategy": "no", "max_length": 512}
    dpo_ds = datasets.load_dataset("json", data_files=str(dpo), split="train", cache_dir=str(tmp_path / "c"))
    trainer: Any = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=DPOConfig(output_dir=str(tmp_path / "dpo-out"), **common),
        train_dataset=dpo_ds,
        processing_class=tokenizer,
    )
    assert trainer.train().training_loss > 0
    sft_ds = datasets.load_dataset("json", data_files=str(sft), split="train", cache_dir=str(tmp_path / "c"))
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=SFTConfig(output_dir=str(tmp_path / "sft-out"), **common),
        train_dataset=sft_ds,
        processing_class=tokenizer,
    )
    assert trainer.train().training_loss > 0


# --------------------------------------------------------------------------- SFT, synthetic data


def test_sft_messages_from_data_dir_and_source(tmp_path: Path, sft_dir: Path) -> None:
    out = tmp_path / "sft.jsonl"
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(out)) == 0
    records = read_jsonl(out)
    assert records == [
        {
            "messages": [
                {"role": "user", "content": r["prompt"]},
                {"role": "assistant", "content": r["response"]},
            ]
        }
        for r in SFT_ROWS
    ]
    other = tmp_path / "train_copy.jsonl"
    shutil.copy(sft_dir / "coconot_sft.jsonl", other)
    out2 = tmp_path / "sft2.jsonl"
    assert run("sft", "--source", str(other), "-f", "messages", "-o", str(out2)) == 0
    assert out2.read_bytes() == out.read_bytes()


def test_sft_from_env_data_dir(tmp_path: Path, sft_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_DATA_DIR", str(sft_dir))
    result = td.export("sft", None, tmp_path / "o.jsonl")
    assert result.counts == {"train": len(SFT_ROWS)}
    assert result.source == str(sft_dir / "coconot_sft.jsonl")


def test_hf_dataset_sft(tmp_path: Path, sft_dir: Path) -> None:
    import datasets

    out = tmp_path / "sft_ds"
    assert run("sft", "-f", "hf-dataset", "--data-dir", str(sft_dir), "-o", str(out)) == 0
    loaded = datasets.load_from_disk(str(out))
    assert list(loaded) == ["train"]
    assert loaded["train"].column_names == ["messages"]
    assert loaded["train"][2]["messages"][1] == {"role": "assistant", "content": SFT_ROWS[2]["response"]}


def test_metadata_only_on_request(tmp_path: Path, sft_dir: Path) -> None:
    plain, meta = tmp_path / "plain.jsonl", tmp_path / "meta.jsonl"
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(plain)) == 0
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(meta), "--with-metadata") == 0
    assert all(list(r) == ["messages"] for r in read_jsonl(plain))
    for record, row in zip(read_jsonl(meta), SFT_ROWS, strict=True):
        assert list(record) == ["messages", "metadata"]
        assert record["metadata"] == {
            "id": row["id"],
            "category": row["category"],
            "subcategory": row["subcategory"],
        }


def test_custom_system_prompt(tmp_path: Path, sft_dir: Path) -> None:
    out = tmp_path / "o.jsonl"
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(out), "--system-prompt", "You may say no.") == 0
    for record in read_jsonl(out):
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
        assert record["messages"][0]["content"] == "You may say no."
    assert (
        run("sft", "--data-dir", str(sft_dir), "-o", str(tmp_path / "x.jsonl"), "--system-prompt", " ") == 2
    )


@needs_pref
@pytest.mark.parametrize("fmt", ["trl-dpo", "openai-dpo"])
def test_official_system_prompt(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """'official' finds system_prompt.json in --data-dir (verified), even without COCONOT_* variables."""
    from coconot_tasks.benchmark.official_files import load_system_prompt

    out = tmp_path / "o.jsonl"
    args = ("preference", "-f", fmt, "--data-dir", str(SHARED_DATA), "-o", str(out), "--limit", "3")
    assert run(*args, "--system-prompt", "official") == 0
    assert "COCONOT_SYSTEM_PROMPT_PATH" not in os.environ  # set only while loading
    monkeypatch.setenv("COCONOT_SYSTEM_PROMPT_PATH", str(SHARED_DATA / "system_prompt.json"))
    official = load_system_prompt()
    assert official.startswith("You are a helpful assistant.")
    for record in read_jsonl(out):
        messages = record["prompt"] if fmt == "trl-dpo" else record["input"]["messages"]
        assert messages[0] == {"role": "system", "content": official}
        assert messages[1]["role"] == "user"


# --------------------------------------------------------------------------- filters and splits


@needs_pref
def test_category_and_subcategory_filters(tmp_path: Path) -> None:
    source = pref_rows()
    out = tmp_path / "o.jsonl"
    base = ("preference", "--data-dir", str(SHARED_DATA), "--with-metadata", "--overwrite", "-o", str(out))
    assert run(*base, "--categories", "safety") == 0
    got = [r["metadata"] for r in read_jsonl(out)]
    assert len(got) == sum(r["category"] == "Requests with safety concerns" for r in source)
    assert {m["category"] for m in got} == {"Requests with safety concerns"}
    assert run(*base, "--categories", "Incomplete requests", "unsupported") == 0
    assert {r["metadata"]["category"] for r in read_jsonl(out)} == {
        "Incomplete requests",
        "Unsupported requests",
    }
    assert run(*base, "--subcategories", "privacy violations", "false_presuppositions") == 0
    counts = Counter(r["metadata"]["subcategory"] for r in read_jsonl(out))
    assert counts == {"privacy violations": 77, "false presuppositions": 310}
    assert run(*base, "--categories", "safety", "--subcategories", "PRIVACY_VIOLATIONS", "--limit", "5") == 0
    assert [r["metadata"]["id"] for r in read_jsonl(out)] == [
        r["id"] for r in source if r["subcategory"] == "privacy violations"
    ][:5]


def test_unknown_category_lists_what_exists(
    tmp_path: Path, sft_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.jsonl"
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(out), "--categories", "nonsense") == 2
    err = capsys.readouterr().err
    assert "unknown category 'nonsense'" in err and "Humanizing requests (humanizing)" in err
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(out), "--subcategories", "wildchats") == 2
    assert "unknown subcategory 'wildchats'" in capsys.readouterr().err
    # Both filters valid, but nothing in common.
    args = ("--categories", "humanizing", "--subcategories", "temporal limitations")
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(out), *args) == 2
    assert "no rows left" in capsys.readouterr().err
    assert not out.exists()


def test_shuffle_and_limit_are_seeded(tmp_path: Path, sft_dir: Path) -> None:
    def ids(*extra: str) -> list[str]:
        out = tmp_path / "o.jsonl"
        assert (
            run("sft", "--data-dir", str(sft_dir), "-o", str(out), "--overwrite", "--with-metadata", *extra)
            == 0
        )
        return [r["metadata"]["id"] for r in read_jsonl(out)]

    ordered = [r["id"] for r in SFT_ROWS]
    assert ids() == ordered
    assert ids("--limit", "3") == ordered[:3]
    first = ids("--shuffle", "--seed", "7")
    assert first == ids("--shuffle", "--seed", "7") and sorted(first) == sorted(ordered) and first != ordered
    assert ids("--shuffle", "--seed", "8") != first
    assert ids("--shuffle", "--seed", "7", "--limit", "4") == first[:4]
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(tmp_path / "z.jsonl"), "--limit", "0") == 2


@needs_pref
def test_validation_split_is_deterministic_disjoint_and_stratified(tmp_path: Path) -> None:
    def export(name: str, seed: str) -> tuple[Path, Path]:
        out = tmp_path / name / "pref.jsonl"
        args = ("preference", "-f", "openai-dpo", "--data-dir", str(SHARED_DATA), "--with-metadata")
        assert run(*args, "-o", str(out), "--val-fraction", "0.2", "--seed", seed) == 0
        assert not out.exists()
        return out.with_name("pref.train.jsonl"), out.with_name("pref.validation.jsonl")

    train, val = export("a", "1")
    train_again, val_again = export("b", "1")
    assert train.read_bytes() == train_again.read_bytes() and val.read_bytes() == val_again.read_bytes()
    other_train, _ = export("c", "2")
    assert other_train.read_bytes() != train.read_bytes()

    source = pref_rows()
    train_rows, val_rows = read_jsonl(train), read_jsonl(val)
    assert len(val_rows) == round(927 * 0.2) == 185 and len(train_rows) == 927 - 185
    train_ids = {r["metadata"]["id"] for r in train_rows}
    val_ids = {r["metadata"]["id"] for r in val_rows}
    assert not train_ids & val_ids and train_ids | val_ids == {r["id"] for r in source}
    prompt = {r["id"]: r["prompt"] for r in source}
    assert not {prompt[i] for i in train_ids} & {
        prompt[i] for i in val_ids
    }  # duplicated prompts stay together
    # Each category is represented in proportion (within a row or two of duplicate prompts).
    cat_all = Counter(r["category"] for r in source)
    cat_val = Counter(r["metadata"]["category"] for r in val_rows)
    for category, n in cat_all.items():
        assert abs(cat_val[category] - n * 0.2) <= 2
    # Both files keep the source order.
    order = {r["id"]: i for i, r in enumerate(source)}
    assert [order[r["metadata"]["id"]] for r in train_rows] == sorted(order[i] for i in train_ids)


def test_split_keeps_duplicate_prompts_together() -> None:
    rows = [
        {"id": f"r{i}", "category": "C", "subcategory": "s", "prompt": f"prompt {i // 2}", "response": "x"}
        for i in range(20)
    ]
    for seed in range(5):
        train, val = td.split_rows(rows, 0.3, seed=seed)
        assert len(train) + len(val) == 20 and len(val) == 6
        assert not {r["prompt"] for r in train} & {r["prompt"] for r in val}
    with pytest.raises(DataError, match="between 0 and 1"):
        td.split_rows(rows, 1.0)
    with pytest.raises(DataError, match="cannot split"):
        td.split_rows(rows[:2], 0.5)  # one distinct prompt


def test_validation_split_of_a_tiny_file(tmp_path: Path, sft_dir: Path) -> None:
    out = tmp_path / "tiny"
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(out), "--val-fraction", "0.01") == 0
    assert len(read_jsonl(tmp_path / "tiny.train.jsonl")) == 7
    assert len(read_jsonl(tmp_path / "tiny.validation.jsonl")) == 1  # at least one row
    assert (
        run("sft", "--data-dir", str(sft_dir), "-o", str(tmp_path / "x.jsonl"), "--val-fraction", "1.5") == 2
    )


# --------------------------------------------------------------------------- the evaluation-set guard


@pytest.mark.parametrize("name", ["coconot_eval.jsonl", "coconot_contrast_eval.jsonl"])
@pytest.mark.parametrize("kind", ["sft", "preference"])
def test_eval_files_are_refused_by_name(
    data_dir: Path, tmp_path: Path, name: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.jsonl"
    assert run(kind, "--source", str(data_dir / name), "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert "refusing to export it as training data" in err and "invalidate CoCoNot numbers" in err
    assert not out.exists()


def test_names_like_test_splits_are_refused(tmp_path: Path, sft_dir: Path) -> None:
    for name in ("test-00000-of-00001.parquet", "coconot_test.jsonl", "my-eval.jsonl"):
        with pytest.raises(td.EvalSetError, match="evaluation/test split"):
            td.load_training_rows("sft", source=tmp_path / name)
    assert (
        td.eval_file_name_reason(Path("/data/tests/latest_train.jsonl")) is None
    )  # directory names don't count


def test_eval_rows_are_refused_by_id_overlap(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A renamed copy of the original test set, found by its ids (eval files from --data-dir)."""
    copy = tmp_path / "elsewhere" / "my_sft_rows.jsonl"
    copy.parent.mkdir()
    shutil.copy(data_dir / "coconot_eval.jsonl", copy)
    out = tmp_path / "o.jsonl"
    # data_dir sets COCONOT_DATA_DIR: the evaluation files are found there.
    assert run("sft", "--source", str(copy), "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert "1001 of 1001 rows have ids of the CoCoNot evaluation sets" in err
    assert not out.exists()
    # Same under the local SFT file name in a data directory next to the evaluation files.
    fake_dir = tmp_path / "fake-data"
    fake_dir.mkdir()
    shutil.copy(data_dir / "coconot_contrast_eval.jsonl", fake_dir / "coconot_contrast_eval.jsonl")
    shutil.copy(data_dir / "coconot_contrast_eval.jsonl", fake_dir / "coconot_sft.jsonl")
    os.environ.pop("COCONOT_DATA_DIR")
    assert run("sft", "--data-dir", str(fake_dir), "-o", str(out)) == 2
    assert "379 of 379 rows have ids of the CoCoNot evaluation sets" in capsys.readouterr().err
    # Without any local evaluation files the check cannot run, and says so (the evaluation files'
    # empty responses still fail the SFT schema).
    with pytest.raises(DataError, match="row 1: field 'response' must be a non-empty string"):
        td.load_training_rows("sft", source=copy)
    loaded = td.load_training_rows("sft", source=write_jsonl(copy.with_name("ok.jsonl"), SFT_ROWS))
    assert "check skipped" in loaded.eval_check.describe()


def test_eval_rows_with_new_ids_are_refused_by_prompt(data_dir: Path, tmp_path: Path) -> None:
    rows = read_jsonl(data_dir / "coconot_contrast_eval.jsonl")
    relabelled = [{**r, "id": f"x{i}"} for i, r in enumerate(rows)]
    source = write_jsonl(tmp_path / "relabelled.jsonl", relabelled)
    with pytest.raises(
        td.EvalSetError, match="379 of 379 prompts are prompts of the CoCoNot evaluation sets"
    ):
        td.export("sft", None, tmp_path / "o.jsonl", source=source)
    # A few shared prompts only warn (kept as published).
    mixed = [*SFT_ROWS, {**relabelled[0], "id": "extra", "response": "Sure."}]
    result = td.export("sft", None, tmp_path / "o.jsonl", source=write_jsonl(tmp_path / "mixed.jsonl", mixed))
    assert result.counts == {"train": len(SFT_ROWS) + 1}
    assert result.eval_check.overlapping_prompts == 1 and "WARNING: 1 prompts" in result.eval_check.describe()


@needs_pref
def test_real_preference_data_passes_the_guard(data_dir: Path, tmp_path: Path) -> None:
    result = td.export("preference", None, tmp_path / "o.jsonl")  # from COCONOT_DATA_DIR
    assert result.counts == {"train": 927}
    assert len(result.eval_check.eval_files) == 2 and result.eval_check.overlapping_prompts == 0


# --------------------------------------------------------------------------- bad input, exit codes


def test_bad_input_exit_2(tmp_path: Path, sft_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.jsonl"
    # Missing data.
    assert run("preference", "--data-dir", str(sft_dir), "-o", str(out)) == 2
    assert "coconot_pref.jsonl: file not found" in capsys.readouterr().err
    assert run("sft", "--data-dir", str(tmp_path / "nowhere"), "-o", str(out)) == 2
    assert "does not exist" in capsys.readouterr().err
    # Wrong format for the kind.
    assert run("sft", "-f", "trl-dpo", "--data-dir", str(sft_dir), "-o", str(out)) == 2
    assert "format 'trl-dpo' does not fit sft data" in capsys.readouterr().err
    assert run("preference", "-f", "messages", "--data-dir", str(sft_dir), "-o", str(out)) == 2
    # Output exists without --overwrite: untouched.
    out.write_text("keep me\n")
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(out)) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(out), "--overwrite") == 0
    assert len(read_jsonl(out)) == len(SFT_ROWS)
    # A foreign non-empty directory is never deleted by hf-dataset --overwrite.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("x")
    assert run("sft", "-f", "hf-dataset", "--data-dir", str(sft_dir), "-o", str(foreign), "--overwrite") == 2
    assert (foreign / "precious.txt").is_file()
    # Never overwrite the source.
    source = sft_dir / "coconot_sft.jsonl"
    assert run("sft", "--source", str(source), "-o", str(source), "--overwrite") == 2
    assert "overwrite the source" in capsys.readouterr().err
    assert run("sft", "--data-dir", str(sft_dir), "-o", str(source), "--overwrite") == 2
    assert "overwrite the source" in capsys.readouterr().err
    # Argparse-level errors.
    with pytest.raises(SystemExit) as exc:
        run("dpo", "-o", str(out))
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        run("sft", "--source", str(source), "--data-dir", str(sft_dir), "-o", str(out))


@pytest.mark.parametrize(
    ("kind", "row", "message"),
    [
        (
            "sft",
            {"id": "a", "category": "C", "subcategory": "s", "prompt": "p"},
            "row 2: field 'response' is missing",
        ),
        ("sft", {"id": "a", "category": "C", "subcategory": "s", "prompt": "p", "response": ""}, "non-empty"),
        (
            "sft",
            {"id": "a", "category": "C", "subcategory": "s", "response": "r"},
            "row 2: field 'prompt' is missing",
        ),
        (
            "preference",
            {**SFT_ROWS[0], "id": "z"},
            "field 'chosen' is missing (a preference row needs chosen",
        ),
        ("preference", {**SFT_ROWS[0], "chosen": "c", "rejected": None}, "field 'rejected' must be"),
    ],
)
def test_schema_errors_name_file_row_and_field(
    tmp_path: Path, kind: str, row: dict[str, Any], message: str
) -> None:
    first = {**SFT_ROWS[1], "chosen": "c", "rejected": "r"}
    source = write_jsonl(tmp_path / "rows.jsonl", [first, row])
    with pytest.raises(DataError, match="rows.jsonl") as exc:
        td.export(kind, None, tmp_path / "o.jsonl", source=source)
    assert message in str(exc.value)


def test_invalid_json_and_duplicate_ids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(SFT_ROWS[0]) + "\n\n{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl, row 3: invalid JSON"):
        td.load_training_rows("sft", source=bad)
    dup = write_jsonl(tmp_path / "dup.jsonl", [SFT_ROWS[0], SFT_ROWS[0]])
    with pytest.raises(DataError, match="duplicate id 's1'"):
        td.load_training_rows("sft", source=dup)


def test_parquet_source(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(SFT_ROWS), path)
    assert td.load_training_rows("sft", source=path).rows == SFT_ROWS


def test_hub_loading_uses_pinned_splits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datasets

    calls: list[tuple[Any, ...]] = []

    def fake_load(repo: str, config: str, split: str, revision: str) -> list[dict[str, Any]]:
        calls.append((repo, config, split, revision))
        if config == "pref":
            return [
                {**SFT_ROWS[0], "chosen": "c", "rejected": "r", "chosen_model": "gpt-4", "rejected_model": ""}
            ]
        return list(SFT_ROWS)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    sft = td.export("sft", None, tmp_path / "s.jsonl")
    assert sft.counts == {"train": 8} and "config 'original', split 'train'" in sft.source
    td.export("preference", None, tmp_path / "p.jsonl", revision="abc123")
    assert calls == [
        ("allenai/coconot", "original", "train", HUB_REVISION),
        ("allenai/coconot", "pref", "train", "abc123"),
    ]

    def offline(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    assert run("sft", "-o", str(tmp_path / "x.jsonl")) == 2
    with pytest.raises(DataError, match="Offline\\? Use --data-dir DIR"):
        td.load_training_rows("sft")


# --------------------------------------------------------------------------- summary, entry point


@needs_pref
def test_summary_counts_per_category(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.jsonl"
    assert run("preference", "--data-dir", str(SHARED_DATA), "-o", str(out), "--val-fraction", "0.1") == 0
    printed = capsys.readouterr().out
    assert "927 preference rows" in printed
    assert f"train: 834 rows -> {tmp_path / 'o.train.jsonl'}" in printed
    assert f"validation: 93 rows -> {tmp_path / 'o.validation.jsonl'}" in printed
    assert "no shared ids with the evaluation sets" in printed
    line = next(x for x in printed.splitlines() if "Incomplete requests" in x)
    assert line.split()[-2:] == ["371", "41"]


def test_python_m_entry_point(tmp_path: Path, sft_dir: Path) -> None:
    out = tmp_path / "sub.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-m", "coconot_tasks", "export", "sft", "--data-dir", str(sft_dir), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"train: 8 rows -> {out}" in proc.stdout
    assert len(read_jsonl(out)) == 8
    wrong = ("export", "sft", "-f", "openai-dpo", "--data-dir", str(sft_dir), "-o", str(out))
    proc = subprocess.run(
        [sys.executable, "-m", "coconot_tasks", *wrong], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "does not fit sft data" in proc.stderr
