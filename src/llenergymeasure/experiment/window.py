"""The measured window as whole passes over the prompt set, repeated until it is long enough."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llenergymeasure.backends.base import RequestRecord


@dataclass(frozen=True)
class Window:
    """Every request of every pass, the pass count, and the window's length on the given clock."""

    records: list[RequestRecord]
    n_passes: int
    wall_s: float


def run_passes(run_once: Callable[[], list[RequestRecord]], clock: Callable[[], float], min_window_s: float) -> Window:
    """Run ``run_once`` (one pass over the prompts) until ``min_window_s`` has passed on ``clock``.

    Always at least one pass, and only whole passes, so every pass has the same prompt mix and
    per-token figures stay comparable across window lengths.
    """
    t0 = clock()
    records: list[RequestRecord] = []
    n = 0
    while True:
        records.extend(run_once())
        n += 1
        elapsed = clock() - t0
        if elapsed >= min_window_s:
            return Window(records=records, n_passes=n, wall_s=elapsed)
