"""The measured window as whole passes over the prompt set, repeated until it is long enough.

A pass is the engine's work alone: ``run_pass`` executes inputs prepared before the window and
returns the engine's raw output with the timestamps taken inside it; per-request records are
built from those after the window closes (``Backend.records``), so no bookkeeping is charged to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Window(Generic[T]):
    """Every pass's raw output, the pass count, and the window's length on the given clock."""

    outputs: list[T]
    n_passes: int
    wall_s: float


def run_passes(run_pass: Callable[[int], T], clock: Callable[[], float], min_window_s: float) -> Window[T]:
    """Run ``run_pass(k)`` (pass ``k`` over its prompt set) until ``min_window_s`` has passed on ``clock``.

    Always at least one pass, and only whole passes, so every pass has the same kind of prompt mix
    and per-token figures stay comparable across window lengths.
    """
    t0 = clock()
    outputs: list[T] = []
    n = 0
    while True:
        outputs.append(run_pass(n))
        n += 1
        elapsed = clock() - t0
        if elapsed >= min_window_s:
            return Window(outputs=outputs, n_passes=n, wall_s=elapsed)
