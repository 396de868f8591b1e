"""A clock that moves only when told to, so timing logic is tested without sleeping."""

from __future__ import annotations


class ManualClock:
    """Call it for the time; ``sleep``/``advance`` move it forward exactly."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, dt_s: float) -> None:
        self.now_s += dt_s

    advance = sleep
