"""The local judge's defaults and its server settings (declared here, part of ``JudgeSettings``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coconot_tasks.judge.declare import setting

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings

#: The default local judge: ungated, Apache-2.0, and pinned to a Hugging Face commit so that it
#: never changes under the same name. The sha is the repository's main-branch commit
#: (https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/commit/a09a35458c702b33eeacc393d103063234e8bc28),
#: the revision that independent projects pin for this model.
DEFAULT_VLLM_MODEL = "Qwen/Qwen2.5-7B-Instruct"
DEFAULT_VLLM_REVISION = "a09a35458c702b33eeacc393d103063234e8bc28"
#: Requests in flight for a local judge: enough to fill vLLM's continuous batch.
DEFAULT_VLLM_CONCURRENCY = 64


@dataclass(frozen=True)
class VllmServerSettings:
    """The local judge's server settings (``judge_backend=vllm``): recorded for that backend only."""

    vllm_revision: str | None = setting(
        None,
        "**required** for any other hub model: a 40-hex commit sha (a branch or tag can move)",
        allowed="40-hex commit sha",
        shown_default=f"`{DEFAULT_VLLM_REVISION}` for the default model",
    )
    gpu_memory_utilization: float = setting(
        0.9,
        "fraction of each GPU's *total* memory vLLM claims; startup fails if that much is not free",
        gt=0, le=1, unit="(a fraction of each GPU's total memory)",
    )  # fmt: skip
    tensor_parallel_size: int = setting(
        1, "GPUs per judge server", ge=1, le=256, unit="GPUs per judge server"
    )
    max_model_len: int | None = setting(
        8192,
        "tokens of context (a judge prompt is ~1-2k; less context, less KV memory)",
        ge=512, le=1048576, unit="tokens (a judge prompt is ~1-2k)",
    )  # fmt: skip
    server_timeout: float = setting(
        1800.0,
        "seconds to wait for the server (a first run downloads ~15 GB)",
        gt=0, le=86400, unit="seconds to wait for the judge server",
    )  # fmt: skip
    structured_outputs: bool = setting(
        False,
        "constrain every answer to a rationale of at most 800 characters and one valid `<label>` "
        '(vLLM structured outputs, `{"regex": ...}`)',
    )
    devices: str | None = setting(
        None, "`CUDA_VISIBLE_DEVICES` of the judge server only, e.g. `1`", shown_default="inherited"
    )


def server_settings(settings: JudgeSettings) -> VllmServerSettings:
    """The local judge's part of ``settings`` (``JudgeSettings`` inherits it: the backend declares it)."""
    assert isinstance(settings, VllmServerSettings)
    return settings
