"""A ``pynvml`` for processes the tests start (``llem``, ``llem-exp``): the fake NVML, at the same boundary.

Put this folder and the repository root first on ``PYTHONPATH``; ``import pynvml`` then gives the
fake NVML (tests/fakes/nvml.py), so the real code paths (host GPU discovery, ``llem-exp``'s meter)
run unchanged. ``LLEM_FAKE_NVML`` may hold a JSON object of ``FakeNvml`` arguments, the same in every
process; ``fake_args_from_json`` maps it onto the fields:

- today's: ``n_gpus``, ``base_w`` (list of W per GPU), ``amp_w``/``amps_w``, ``period_s``,
  ``counter_*``, ``power_avg_s`` (s; NVML's power reading is a 1 s trailing average on Ampere and
  newer except GA100), ``idle_w``, ``load_spans`` (list of [start, end] monotonic seconds), ...;
- the power profile: ``"profile": "sine" | "steps" | "square"``, ``"steps": [[t_rel_s, watts], ...]``,
  ``low_w``/``high_w``/``duty`` (with ``period_s``) for the square wave;
- ``instant_supported``: whether ``nvmlDeviceGetFieldValues`` gives ``NVML_FI_DEV_POWER_INSTANT``,
  NVML's unaveraged power reading (mW);
- ``violation_shares``: ``{"<perf policy>": fraction of time in violation}`` (keys become ints),
  ``violation_supported``: ``nvmlDeviceGetViolationStatus``'s cumulative throttle time, in ns;
- ``sm_clock_mhz``, ``mem_clock_mhz``, ``compute_capability`` ([major, minor] or null),
  ``enforced_limit_mw``, ``management_limit_mw`` (null: not supported);
- driver settings (``gpu.*`` fields): ``limit_constraints_mw`` ([min, max]), ``default_limit_mw``,
  ``supported_mem_clocks``/``supported_sm_clocks`` (lists of MHz; [] means that clock lock is not
  supported), ``can_set`` (false: every set/reset raises ``NVML_ERROR_NO_PERMISSION``) and
  ``settings_file`` (a path: every process shares the settings through that JSON file, and appends
  each set/reset call to ``settings_file + ".calls"``, one JSON line per call).

Lists become the tuples the fields hold. The fake's time origin is CLOCK_MONOTONIC's zero, which
every process on the machine shares, so a test can compute the ground truth of any window a result
reports in monotonic seconds (``steps`` times are then monotonic seconds too). vLLM never imports
this module (it vendors its own pynvml), so a vLLM server started by the unit still sees no GPU.
"""

from __future__ import annotations

import os
from typing import Any

from tests.fakes.nvml import FakeNvml, NVMLError, fake_args_from_json

_FAKE = FakeNvml(**fake_args_from_json(os.environ.get("LLEM_FAKE_NVML", "{}")))
_FAKE.t0 = 0.0

__all__ = ["NVMLError"]


def __getattr__(name: str) -> Any:
    return getattr(_FAKE, name)


def fake() -> FakeNvml:
    """The fake behind this module (same parameters in every process)."""
    return _FAKE
