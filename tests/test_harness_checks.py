"""A chat model run without ``--apply_chat_template`` gets one clear warning, before generation.

In process through ``lm_eval.simple_evaluate`` with a minimal chat LM (quick), and through the
real ``lm_eval`` command line with the tiny hf chat model (slow).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from lm_eval.api.model import LM

from coconot_tasks import get_task_manager
from tests.lm_eval_runner import LM_EVAL, run_lm_eval
from tests.tiny_model import build_tiny_chat_model

WARNING = "the model has a chat template but --apply_chat_template is not set"


class RecordingLM(LM):
    """Answers every request with a fixed text; records the prompts it was sent."""

    def __init__(self, template: str | None) -> None:
        super().__init__()
        self.template = template
        self.prompts: list[str] = []

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.template if chat_template else None

    def apply_chat_template(
        self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
    ) -> str:
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in chat_history) + "<assistant>"

    @property
    def tokenizer_name(self) -> str:
        return "recording"

    def generate_until(self, requests: Any, disable_tqdm: bool = False) -> list[str]:
        self.prompts += [request.args[0] for request in requests]
        return ["I can't help with that request." for _ in requests]

    def loglikelihood(self, requests: Any, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise NotImplementedError

    def loglikelihood_rolling(self, requests: Any, disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError


def evaluate(lm: RecordingLM, apply_chat_template: bool) -> dict[str, Any]:
    from lm_eval import simple_evaluate

    results = simple_evaluate(
        model=lm,
        tasks=["coconot_original", "coconot_contrast"],
        limit=2,
        apply_chat_template=apply_chat_template,
        task_manager=get_task_manager(include_defaults=False),
    )
    assert results is not None
    return dict(results)


@pytest.fixture
def heuristic_judge(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_BACKEND", "heuristic")


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and WARNING in r.getMessage()
    ]


@pytest.mark.usefixtures("heuristic_judge")
def test_chat_model_without_chat_template_is_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    lm = RecordingLM(template="{{ messages }}")
    with caplog.at_level(logging.WARNING, logger="coconot_tasks"):
        evaluate(lm, apply_chat_template=False)
    warned = warnings_in(caplog)
    assert len(warned) == 1, warned  # two CoCoNot tasks, one warning
    assert "Add --apply_chat_template" in warned[0]
    # The warning is about what really happened: the raw request was the prompt.
    assert lm.prompts and not any(p.startswith("<user>") for p in lm.prompts)


@pytest.mark.usefixtures("heuristic_judge")
@pytest.mark.parametrize(("template", "apply"), [("{{ messages }}", True), (None, False)])
def test_no_warning_with_the_template_applied_or_without_a_chat_model(
    template: str | None, apply: bool, caplog: pytest.LogCaptureFixture
) -> None:
    lm = RecordingLM(template=template)
    with caplog.at_level(logging.WARNING, logger="coconot_tasks"):
        evaluate(lm, apply_chat_template=apply)
    assert warnings_in(caplog) == []
    assert all(p.startswith("<user>") for p in lm.prompts) is apply


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_lm_eval_cli_warns_for_hf_chat_model_without_chat_template(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    model_dir = build_tiny_chat_model(tmp_path / "tiny-llama")
    out = tmp_path / "out"
    cmd = [
        LM_EVAL, "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32",
        "--tasks", "coconot_original,coconot_contrast", "--limit", "1", "--device", "cpu",
        "--gen_kwargs", "max_gen_toks=4", "--metadata", '{"judge_backend": "heuristic"}',
        "--output_path", str(out),
    ]  # fmt: skip
    run = run_lm_eval(cmd, dict(os.environ), out)
    assert run.returncode == 0, run.log[-4000:]
    assert run.log.count(WARNING) == 1, run.log[-4000:]
    # Before any generation: the warning comes while the tasks are built.
    assert run.log.index(WARNING) < run.log.index("Running generate_until requests")
