"""A ``pynvml`` for processes the tests start (``llem``, ``llem-exp``): the fake NVML, at the same boundary.

Put this folder and the repository root first on ``PYTHONPATH``; ``import pynvml`` then gives the
fake NVML (tests/fakes/nvml.py), so the real code paths (host GPU discovery, ``llem-exp``'s meter)
run unchanged. ``LLEM_FAKE_NVML`` may hold a JSON object of ``FakeNvml`` arguments (several GPUs,
their powers), the same in every process. The fake's time origin is CLOCK_MONOTONIC's zero, which
every process on the machine shares, so a test can compute the ground truth of any window a result
reports in monotonic seconds. vLLM never imports this module (it vendors its own pynvml), so a
vLLM server started by the unit still sees no GPU.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.fakes.nvml import FakeNvml, NVMLError

_ARGS = json.loads(os.environ.get("LLEM_FAKE_NVML", "{}"))
for _key in ("base_w", "amps_w", "counter_phase_s", "idle_w"):
    if isinstance(_ARGS.get(_key), list):
        _ARGS[_key] = tuple(_ARGS[_key])
_FAKE = FakeNvml(**_ARGS)
_FAKE.t0 = 0.0

__all__ = ["NVMLError"]


def __getattr__(name: str) -> Any:
    return getattr(_FAKE, name)


def fake() -> FakeNvml:
    """The fake behind this module (same parameters in every process)."""
    return _FAKE
