"""A ``pynvml`` for processes the tests start (``llem``, ``llem-exp``): the fake NVML, at the same boundary.

Put this folder first on ``PYTHONPATH`` (with the repository root, for ``tests.fakes``) and set
``LLEM_FAKE_NVML`` to a JSON object of ``FakeNvml`` arguments; ``import pynvml`` then gives a
``FakeNvml``, so the real code paths (host GPU discovery, ``llem-exp``'s meter) run unchanged.
"""

from __future__ import annotations

import json
import os
import sys

from tests.fakes.nvml import FakeNvml

_args = json.loads(os.environ.get("LLEM_FAKE_NVML", "{}"))
for _key in ("base_w", "amps_w", "counter_phase_s"):
    if _key in _args:
        _args[_key] = tuple(_args[_key])
sys.modules[__name__] = FakeNvml(**_args)  # type: ignore[assignment]
