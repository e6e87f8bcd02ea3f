"""What the model generated -> the answer the judge sees.

Reasoning models write their reasoning before the answer: ``<think>...</think>`` (Qwen3,
DeepSeek-R1 distills), or only a bare ``</think>`` when the chat template put the opening
``<think>`` into the prompt; gpt-oss writes an analysis channel before its final one. CoCoNot
judges the answer only -- reasoning that weighs refusing would otherwise flip verdicts -- and a
response whose reasoning never finished has **no answer**: it is not judged, and is reported as
``no_answer_rate`` instead of a verdict.

The rules (:meth:`AnswerRules.answer`), with the end marker ``</think>`` (``--metadata
reasoning_end``; its opening tag ``<think>`` is derived from it when it has the shape ``</x>``):

- a response that starts with the opening tag: the answer is what follows the first end
  marker; without an end marker the reasoning never finished (no answer);
- a response with an end marker before any opening tag (a bare close: the template opened the
  block in the prompt): the answer is what follows it;
- a response without any tag: all of it is the answer -- unless the prompt is known to end with
  the opening tag (:meth:`AnswerRules.prompt_opens_reasoning`), then the reasoning never finished;
- a tag later in an answer (a model explaining ``<think>`` tags) is text, not reasoning.

A marker without an opening counterpart (gpt-oss's ``<|channel|>final<|message|>``) declares a
model that always reasons first: the answer follows the first marker; without one, no answer.

lm-eval's own ``think_end_token`` model argument (``hf``, ``vllm``, ``sglang``,
``local-(chat-)completions``) keeps ``generation.split(think_end_token)[-1]``; lm-eval merges
``--model_args`` into the task metadata, where :meth:`AnswerRules.from_metadata` sees it. The
reasoning is then already gone and is not stripped again; what can still be told is a response
that starts with the opening tag (its reasoning never closed, so lm-eval returned it whole). A
never-closed reasoning after a template-opened ``<think>`` comes back from lm-eval as bare text,
indistinguishable from an answer: run without ``think_end_token`` to have it detected.

API models: lm-eval turns a null ``content`` (a reasoning model that ran out of tokens) into
``LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER``, by default ``""``, the same as an empty answer (which
the paper scores as noncompliance). When the user sets a non-empty placeholder, a response equal
to it has no answer.
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
    """lm-eval's ``LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER``.

    An environment variable because lm-eval reads it from there (``lm_eval.models.api_models``):
    the plugin must see the value lm-eval used, and lm-eval offers no other way to set it.
    """
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

    #: The marker that ends the reasoning.
    end: str = DEFAULT_REASONING_END
    #: lm-eval's ``think_end_token`` when it was set: lm-eval already removed the reasoning.
    lm_eval_think_end: str | int | None = None
    #: lm-eval's placeholder for a null API answer; ``""`` (its default) cannot be recognised.
    none_placeholder: str = ""

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], none_placeholder: str = "") -> AnswerRules:
        """The rules of a task from its metadata (``reasoning_end``, lm-eval's ``think_end_token``).

        Raises:
            AnswerConfigError: ``reasoning_end`` is set but is not a non-empty string.
        """
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
    """Judge the answers of ``items`` (whose ``response`` is the raw generation) with ``judge``.

    Only items with an answer are sent, with the answer as the response; the others get
    a result without a verdict (``no_answer``). A result whose answer differs from the raw response records it
    (``JudgeResult.answer``). Returns one result per item, in order, and ``judge``'s stats.
    """
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
            continue
        result = next(verdicts)
        results.append(result if answer.text == item.response else replace(result, answer=answer.text))
    return results, stats


def warn_about_answers(task: str, rules: AnswerRules, answers: Sequence[Answer], opened: int) -> list[str]:
    """The warnings a set's answers call for (once per set): unfinished reasoning, many empty answers.

    ``opened`` counts the prompts that end with the opening tag. Returns the messages (the caller logs them).
    """
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
