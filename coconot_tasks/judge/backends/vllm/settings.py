"""The local judge's defaults."""

from __future__ import annotations

#: The default local judge: ungated, Apache-2.0, and pinned to a Hugging Face commit so that it
#: never changes under the same name. The sha is the repository's main-branch commit
#: (https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/commit/a09a35458c702b33eeacc393d103063234e8bc28),
#: the revision that independent projects pin for this model.
DEFAULT_VLLM_MODEL = "Qwen/Qwen2.5-7B-Instruct"
DEFAULT_VLLM_REVISION = "a09a35458c702b33eeacc393d103063234e8bc28"
#: Requests in flight for a local judge: enough to fill vLLM's continuous batch.
DEFAULT_VLLM_CONCURRENCY = 64
