import math
import statistics
from collections.abc import Callable

import pytest

from llenergymeasure.config.experiment import WarmupConfig
from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.energy.thermal import ThermalProbe, ThermalReading, probe_of
from llenergymeasure.experiment.warmup import coefficient_of_variation, run_warmup, settle_warmup
from llenergymeasure.results.schema import GpuSettle, WarmupSettle
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml


def test_fixed_runs_exactly_n() -> None:
    calls = []
    out = run_warmup(WarmupConfig(n_runs=3), lambda: calls.append(1) or 1.0)
    assert (out.runs, len(calls), out.final_cv) == (3, 3, None)


def test_cv_mode_stops_when_latency_settles() -> None:
    latencies = iter([5.0, 3.0, 2.0, 1.0, 1.01, 0.99, 1.0, 1.0])
    out = run_warmup(WarmupConfig(mode="cv", n_runs=2, window=3, cv_threshold=0.05), lambda: next(latencies))
    assert out.runs == 6
    assert out.final_cv is not None
    assert out.final_cv <= 0.05


def test_cv_mode_is_bounded() -> None:
    values = iter([1.0, 2.0] * 50)
    out = run_warmup(WarmupConfig(mode="cv", max_runs=7, cv_threshold=0.01), lambda: next(values))
    assert out.runs == 7
    assert out.final_cv is not None
    assert out.final_cv > 0.01


def test_cv() -> None:
    assert coefficient_of_variation([1.0]) == 0.0
    assert coefficient_of_variation([1.0, 3.0]) == pytest.approx(1.41421356 / 2)


class RampProbe:
    """GPU 0 heats 1 °C/s from 40 °C to ``top_c`` on the clock (whole degrees, as NVML), at a steady 300 W."""

    def __init__(self, clock: ManualClock, top_c: float = 60.0) -> None:
        self.clock = clock
        self.start_s = clock()
        self.top_c = top_c
        self.reads = 0

    def __call__(self) -> list[ThermalReading]:
        self.reads += 1
        t = self.clock()
        return [ThermalReading(t, min(40.0 + math.floor(t - self.start_s), self.top_c), 300.0)]


def stepper(clock: ManualClock, dt_s: float = 0.5) -> Callable[[], float]:
    """A warmup batch that takes ``dt_s`` on the manual clock and reports it as its latency."""

    def step() -> float:
        clock.advance(dt_s)
        return dt_s

    return step


SETTLE = {"until_settled": True, "settle_window_s": 10.0, "settle_max_drift_c": 1.0, "settle_max_s": 100.0}


def test_until_settled_runs_batches_until_the_temperature_stops_rising() -> None:
    clock = ManualClock()
    ramp = RampProbe(clock)
    out = run_warmup(WarmupConfig(n_runs=2, **SETTLE), stepper(clock), ThermalProbe((0,), ramp), clock)
    # Readings every 1 s (10 per 10 s window); the ramp ends at 20 s. At 29 s the window [19, 29] holds
    # 59 then ten 60s: the line through them rises 5/110 °C/s, 5/11 °C over 10 s, within 1 °C; at 28 s
    # (59, 60 x 9 after 58) it is 14/11 °C: not yet.
    assert out.settle is not None
    assert out.settle.gpus[0].temperature_drift_c == pytest.approx(5 / 11, rel=1e-12)
    assert out.settle == WarmupSettle(
        outcome="settled",
        duration_s=29.0,
        runs=58,
        gpus=[
            GpuSettle(
                gpu=0,
                start_temperature_c=40.0,
                start_power_w=300.0,
                end_temperature_c=60.0,
                end_power_w=300.0,
                temperature_drift_c=out.settle.gpus[0].temperature_drift_c,
                power_change=0.0,
            )
        ],
    )
    assert (out.runs, out.final_cv) == (58, None)  # the rule's 2 batches are among the 58
    assert ramp.reads == 30  # at 0, 1, ..., 29 s


def test_until_settled_is_capped_and_says_so() -> None:
    clock = ManualClock()
    cfg = WarmupConfig(n_runs=0, **{**SETTLE, "settle_max_s": 15.0})
    out = run_warmup(cfg, stepper(clock), ThermalProbe((0,), RampProbe(clock, top_c=1000.0)), clock)
    assert out.settle is not None
    assert (out.settle.outcome, out.settle.duration_s, out.settle.runs, out.runs) == ("capped", 15.0, 30, 30)
    assert out.settle.gpus[0].temperature_drift_c == pytest.approx(10.0)  # still 1 °C/s over the 10 s window
    assert out.settle.gpus[0].end_temperature_c == 55.0


def test_a_rule_that_outlasts_settling_runs_to_its_end() -> None:
    clock = ManualClock()
    ramp = RampProbe(clock, top_c=40.0)  # flat from the start: settled once the 10 s window is covered
    out = run_warmup(WarmupConfig(n_runs=30, **SETTLE), stepper(clock), ThermalProbe((0,), ramp), clock)
    assert out.runs == 30
    assert out.settle is not None
    assert (out.settle.outcome, out.settle.duration_s, out.settle.runs) == ("settled", 15.0, 30)


def test_without_readings_settling_is_unavailable_and_the_rule_alone_runs() -> None:
    clock = ManualClock()
    out = run_warmup(WarmupConfig(n_runs=3, **SETTLE), stepper(clock), None, clock)
    assert (out.runs, out.settle) == (
        3,
        WarmupSettle(outcome="unavailable", reason="no GPU readings (NVML unavailable)"),
    )
    blind = ThermalProbe((0,), lambda: [ThermalReading(clock(), None, None)])
    out = run_warmup(WarmupConfig(n_runs=3, **SETTLE), stepper(clock), blind, clock)
    assert out.runs == 3
    assert out.settle == WarmupSettle(outcome="unavailable", reason="the GPUs report neither temperature nor power")


def test_settling_not_asked_for_reads_nothing() -> None:
    def never() -> list[ThermalReading]:
        raise AssertionError("read")

    clock = ManualClock()
    out = run_warmup(WarmupConfig(n_runs=2), stepper(clock), ThermalProbe((0,), never), clock)
    assert (out.runs, out.settle) == (2, None)
    assert settle_warmup(WarmupConfig(), stepper(clock), ThermalProbe((0,), never), clock) is None


def test_settle_warmup_repeats_a_server_warmup_round_until_settled() -> None:
    clock = ManualClock()
    rounds = []

    def warm_round() -> None:
        rounds.append(clock())
        clock.advance(2.0)

    out = settle_warmup(WarmupConfig(**SETTLE), warm_round, ThermalProbe((0,), RampProbe(clock)), clock)
    assert out is not None
    # Readings every 2 s (one per round); the ramp reaches 60 at 20 s, and at 30 s the window [20, 30] is flat.
    assert (out.outcome, out.duration_s, out.runs, len(rounds)) == ("settled", 30.0, 15, 15)
    assert settle_warmup(WarmupConfig(**SETTLE), warm_round, None, clock) == WarmupSettle(
        outcome="unavailable", reason="no GPU readings (NVML unavailable)"
    )


def test_until_settled_on_the_fake_nvml_matches_its_temperature_curve() -> None:
    clock = ManualClock()
    fake = FakeNvml(
        clock=clock, idle_w=(50.0,), profile="steps", steps=((0.0, 300.0),), thermal_tau_s=20.0, c_per_w=0.1
    )
    clock.advance(100.0)  # idle at 30 + 5 = 35 °C
    fake.start_load()  # towards 30 + 30 = 60 °C, tau 20 s
    start = clock()
    out = run_warmup(WarmupConfig(n_runs=0, **SETTLE), stepper(clock), probe_of(NvmlDevices(fake), clock), clock)
    # Oracle: the fake's own curve, read at each whole second as NVML would, fitted by the stdlib.

    def nvml_c(t: float) -> int:
        return round(fake.temperature_at(0, start + t))

    settled_at = next(
        n
        for n in range(10, 600)
        if abs(statistics.linear_regression(range(n - 10, n + 1), [nvml_c(t) for t in range(n - 10, n + 1)]).slope) * 10
        <= 1.0
    )
    assert out.settle is not None
    assert (out.settle.outcome, out.settle.duration_s, out.runs) == ("settled", float(settled_at), 2 * settled_at)
    gpu = out.settle.gpus[0]
    assert (gpu.start_temperature_c, gpu.end_temperature_c) == (35.0, float(nvml_c(settled_at)))
    assert (gpu.start_power_w, gpu.end_power_w, gpu.power_change) == (300.0, 300.0, 0.0)


def test_a_server_without_warmup_requests_has_nothing_to_settle_with() -> None:
    clock = ManualClock()
    out = settle_warmup(WarmupConfig(**SETTLE), None, ThermalProbe((0,), RampProbe(clock)), clock)
    assert out == WarmupSettle(outcome="unavailable", reason="no warmup work to repeat (scenario.warmup_requests is 0)")
    assert clock() == 1000.0
