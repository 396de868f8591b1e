"""A ``pynvml`` module for child processes (``llem-exp`` started by a campaign) in tests.

Put this folder and the repository root on ``PYTHONPATH``: the unit then measures the fake NVML
(tests/fakes/nvml.py) at the pynvml boundary, as it would the real one. The fake's time origin is
CLOCK_MONOTONIC's zero, which every process on the machine shares, so a test can compute the
ground truth of any window a result reports in monotonic seconds. vLLM never imports this module
(it vendors its own pynvml), so a vLLM server started by the unit still sees no GPU.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.nvml import FakeNvml, NVMLError

_FAKE = FakeNvml()
_FAKE.t0 = 0.0

__all__ = ["NVMLError"]


def __getattr__(name: str) -> Any:
    return getattr(_FAKE, name)


def fake() -> FakeNvml:
    """The fake behind this module (same parameters in every process)."""
    return _FAKE
