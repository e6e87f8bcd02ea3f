"""What the model generated -> the answer the judge sees (user guide: docs/reasoning-models.md).

CoCoNot judges the answer only -- reasoning that weighs refusing would otherwise flip verdicts.
With the end marker ``</think>`` (``--metadata reasoning_end``; a marker shaped ``</x>`` has the
opening tag ``<x>``, any other marker means the model always reasons first):

- a response that starts with the opening tag: the answer follows the first end marker;
- an end marker before any opening tag (the template opened the block): the answer follows it;
- no tag: all of it is the answer, unless the prompt ends with the opening tag;
- a tag later in an answer is text, not reasoning.

Reasoning that never finished is **no answer**: not judged, reported as ``no_answer_rate``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from coconot_tasks.judge.types import OUTCOME_NO_ANSWER, JudgeItem, JudgeResult, JudgeStats

#: The end of the reasoning block of Qwen3, DeepSeek-R1 and most open reasoning models.
DEFAULT_REASONING_END = "</think>"

#: ``--metadata`` key of the end marker (outside the ``judge_*`` settings: it is about the model).
REASONING_END_KEY = "reasoning_end"

#: lm-eval's model argument that strips reasoning itself (merged into the task metadata).
THINK_END_TOKEN_KEY = "think_end_token"

#: lm-eval's environment variable for the text it puts in place of a null API answer.
NONE_PLACEHOLDER_VARIABLE = "LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER"

#: A set whose share of empty answers is larger than this gets a warning.
EMPTY_WARNING_SHARE = 0.1

_CLOSING_TAG = re.compile(r"</([A-Za-z][\w.-]*)>")


def lm_eval_none_placeholder() -> str:
    """lm-eval's ``LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER``: read from the environment because lm-eval
    reads it there (``lm_eval.models.api_models``) and offers no other way to set it."""
    return os.environ.get(NONE_PLACEHOLDER_VARIABLE, "")


class AnswerConfigError(ValueError):
    """A setting of the answer extraction is invalid (the message names it and the fix)."""


@dataclass(frozen=True)
class Answer:
    """The answer in one generation; ``text`` is ``None`` when there is none (``reason`` says why)."""

    text: str | None
    reason: str = ""


@dataclass(frozen=True)
class AnswerRules:
    """How to find the answer in a generation (see the module docstring)."""

    end: str = DEFAULT_REASONING_END
    #: lm-eval's ``think_end_token`` when it was set: lm-eval already removed the reasoning.
    lm_eval_think_end: str | int | None = None
    #: lm-eval's placeholder for a null API answer; ``""`` (its default) cannot be recognised.
    none_placeholder: str = ""

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], none_placeholder: str = "") -> AnswerRules:
        """The rules of a task from its metadata (``reasoning_end``, lm-eval's ``think_end_token``)."""
        end = metadata.get(REASONING_END_KEY)
        if end is None or end == "":
            end = DEFAULT_REASONING_END
        elif not isinstance(end, str) or not end.strip():
            raise AnswerConfigError(
                f"--metadata {REASONING_END_KEY} must be the text that ends the model's reasoning "
                f"(default {DEFAULT_REASONING_END!r}), got {end!r}"
            )
        think_end = metadata.get(THINK_END_TOKEN_KEY)
        return cls(
            end=end,
            lm_eval_think_end=think_end if isinstance(think_end, (str, int)) and think_end != "" else None,
            none_placeholder=none_placeholder,
        )

    @property
    def start(self) -> str | None:
        """The opening tag of the end marker (``<think>`` for ``</think>``), if it has that shape."""
        match = _CLOSING_TAG.fullmatch(self.end)
        return f"<{match.group(1)}>" if match else None

    def prompt_opens_reasoning(self, prompt: str) -> bool:
        """True if the rendered prompt ends with the opening tag (the template opened the reasoning)."""
        return self.start is not None and prompt.rstrip().endswith(self.start)

    def answer(self, generated: str, *, prompt_opened: bool = False) -> Answer:
        """The answer in ``generated`` (the text the model returned, as lm-eval logs it)."""
        if self.none_placeholder and generated == self.none_placeholder:
            return Answer(None, f"the API returned no content ({NONE_PLACEHOLDER_VARIABLE})")
        text = generated.lstrip()
        start = self.start
        unfinished = Answer(None, f"the reasoning never finished (no {self.end} in the response)")
        if self.lm_eval_think_end is not None:  # lm-eval split at its marker already: not twice
            return unfinished if start is not None and text.startswith(start) else Answer(generated)
        if start is not None and text.startswith(start):
            end = text.find(self.end, len(start))
            return unfinished if end < 0 else Answer(text[end + len(self.end) :].lstrip())
        end = text.find(self.end)
        if end >= 0 and (start is None or start not in text[:end]):
            return Answer(text[end + len(self.end) :].lstrip())
        if prompt_opened or start is None:
            return unfinished
        return Answer(generated)


def judge_answers(
    items: Sequence[JudgeItem],
    answers: Sequence[Answer],
    judge: Callable[[list[JudgeItem]], tuple[list[JudgeResult], JudgeStats]],
) -> tuple[list[JudgeResult], JudgeStats]:
    """Judge the answers of ``items`` (whose ``response`` is the raw generation) with ``judge``: one
    result per item, in order (``no_answer`` without one; ``answer`` set when not the raw response)."""
    answered = [
        replace(item, response=answer.text)
        for item, answer in zip(items, answers, strict=True)
        if answer.text is not None
    ]
    judged, stats = judge(answered)
    verdicts = iter(judged)
    results: list[JudgeResult] = []
    for item, answer in zip(items, answers, strict=True):
        if answer.text is None:
            results.append(JudgeResult.without_verdict(item, OUTCOME_NO_ANSWER, answer.reason))
        elif answer.text == item.response:
            results.append(next(verdicts))
        else:
            results.append(replace(next(verdicts), answer=answer.text))
    return results, stats


def warn_about_answers(task: str, rules: AnswerRules, answers: Sequence[Answer], opened: int) -> list[str]:
    """The warnings a set's answers call for; ``opened`` counts the prompts ending with the opening tag."""
    messages: list[str] = []
    missing = [answer for answer in answers if answer.text is None]
    if missing:
        messages.append(
            f"CoCoNot {task}: {len(missing)} of {len(answers)} responses have NO answer "
            f"({missing[0].reason}); they are not judged, are reported as no_answer_rate and are left "
            "out of compliance_rate. Give the model room to finish its reasoning: --gen_kwargs "
            "max_gen_toks=N (CoCoNot's default is the paper's 512). If the model ends its reasoning "
            f"with another marker, name it: --metadata {REASONING_END_KEY}=... (or lm-eval's "
            "think_end_token in --model_args)."
        )
    empty = sum(1 for answer in answers if answer.text is not None and not answer.text.strip())
    if answers and empty / len(answers) > EMPTY_WARNING_SHARE:
        messages.append(
            f"CoCoNot {task}: {empty} of {len(answers)} answers are empty, scored as noncompliance (the "
            "paper's rule). If the model is an API reasoning model, lm-eval turns a null answer (reasoning "
            f"that ran out of tokens) into {NONE_PLACEHOLDER_VARIABLE}, by default '' like an empty answer: "
            f"set {NONE_PLACEHOLDER_VARIABLE}='<no content>' and CoCoNot reports those as no_answer_rate; "
            "raise --gen_kwargs max_gen_toks=N."
        )
    if opened and rules.lm_eval_think_end is not None:
        messages.append(
            f"CoCoNot {task}: the chat template opens the reasoning in the prompt and lm-eval strips it "
            f"(think_end_token={rules.lm_eval_think_end!r}), so a response whose reasoning never finished "
            "cannot be told from an answer and is judged as one. Drop think_end_token from --model_args: "
            f"CoCoNot removes the reasoning itself and reports those as no_answer_rate."
        )
    return messages
