"""One rank of a data-parallel ``lm_eval`` run on CPU (tests only; started by ``torchrun``).

lm-eval 0.4.13 shards the documents only when it sees more than one GPU, so this reports
the world size as the device count, and makes accelerate run its CPU processes as one
data-parallel group (``ACCELERATE_USE_CPU``); then it runs lm-eval's own command line.
"""

from __future__ import annotations

import os

import torch

os.environ.setdefault("ACCELERATE_USE_CPU", "true")
torch.cuda.device_count = lambda: int(os.environ.get("WORLD_SIZE", "1"))  # type: ignore[assignment]

from lm_eval.__main__ import cli_evaluate  # noqa: E402

if __name__ == "__main__":
    cli_evaluate()
