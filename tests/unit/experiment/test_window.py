"""Whole passes over the prompts until the window is long enough, timed on an injected clock."""

from llenergymeasure.backends.base import RequestRecord
from llenergymeasure.experiment.window import run_passes
from tests.fakes.clock import ManualClock


def one_pass(clock: ManualClock, dt_s: float, n: int = 3):  # type: ignore[no-untyped-def]
    def run(k: int) -> list[RequestRecord]:
        clock.advance(dt_s)
        return [RequestRecord(input_tokens=10 + k, output_tokens=4, latency_s=dt_s)] * n

    return run


def test_zero_min_window_is_one_pass() -> None:
    clock = ManualClock()
    w = run_passes(one_pass(clock, 0.25), clock, 0.0)
    assert (w.n_passes, len([r for o in w.outputs for r in o]), w.wall_s) == (1, 3, 0.25)


def test_passes_repeat_until_min_window_reached() -> None:
    clock = ManualClock()
    w = run_passes(one_pass(clock, 0.25), clock, 1.0)  # 0.25 is exact in binary: 4 passes reach 1.0 exactly
    assert (w.n_passes, len([r for o in w.outputs for r in o]), w.wall_s) == (4, 12, 1.0)
    clock = ManualClock()
    w = run_passes(one_pass(clock, 0.25), clock, 1.01)
    assert (w.n_passes, len([r for o in w.outputs for r in o]), w.wall_s) == (5, 15, 1.25)


def test_a_pass_longer_than_the_window_is_still_whole() -> None:
    clock = ManualClock()
    w = run_passes(one_pass(clock, 7.5), clock, 2.0)
    assert (w.n_passes, w.wall_s) == (1, 7.5)


def test_each_pass_gets_its_own_index() -> None:
    clock = ManualClock()
    w = run_passes(one_pass(clock, 0.25, n=1), clock, 0.5)
    assert [o[0].input_tokens for o in w.outputs] == [10, 11]
