"""The meter against a fake NVML with known ground truth, on a manual clock: nothing sleeps.

Every reading is known exactly: the counter path must give the middle of its measured brackets
(the fake's integral read in whole mJ at the edges and at the next reads after them), the sampling
path the trapezoid of the fake's mW readings; both lie within their own budget of the truth.
"""

import pytest

from llenergymeasure.energy.integrate import counter_delta_mj, relative_gap
from llenergymeasure.energy.meter import POLL_S, EnergyMeasurement, EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices, load_pynvml, throttle_flags
from llenergymeasure.energy.settle import COUNTER_RESOLUTION_J, READING_RESOLUTION_W
from llenergymeasure.errors import EnergyUnavailableError
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml
from tests.unit.energy.manual_meter import counter_mj, half_riemann_gap_j, manual_meter, trapezoid_j

WINDOW_S = 0.8
STEP_S = 0.005
STEPS = 160  # WINDOW_S / STEP_S

COUNTER_KEYS = {"sensor_accuracy", "counter_latency"}
SAMPLED_KEYS = {"sensor_accuracy", "aliasing"}


def measure(
    fake: FakeNvml, clock: ManualClock, method: str = "auto", steps: int = STEPS
) -> tuple[EnergyMeasurement, EnergyMeter, float]:
    """One window of ``steps`` sample intervals 2 s after the fake's origin: measurement, meter, truth."""
    meter = manual_meter(fake, clock, method, step_s=STEP_S)  # type: ignore[arg-type]
    clock.advance(2.0)  # away from the fake's t0, in the middle of a sine period
    meter.begin()
    for _ in range(steps - 1):
        clock.advance(STEP_S)
        meter.sampler.sample_now()
    clock.advance(STEP_S)
    m = meter.end()  # samples at its edge
    truth = sum(fake.energy_between_j(g, m.start_s, m.end_s) for g in range(fake.n_gpus))
    return m, meter, truth


def in_window(m: EnergyMeasurement, gpu: int = 0) -> list[float]:
    """The times GPU ``gpu`` was sampled inside the window, edges included, each once."""
    return sorted({s.t_s for s in m.samples if s.gpu == gpu and m.start_s <= s.t_s <= m.end_s})


def readings_w(fake: FakeNvml, gpu: int, times: list[float]) -> list[float]:
    """What NVML read at each time: whole mW, scaled as the meter scales them."""
    return [fake.power_reading_mw(gpu, t) * 1e-3 for t in times]


def brackets_j(fake: FakeNvml, meter: EnergyMeter, m: EnergyMeasurement, gpu: int) -> tuple[float, float, float]:
    """The counter delta and both edges' brackets: up to the counter's next value read after each edge."""
    after_start = min(s.t_s for s in m.samples if s.t_s > m.start_s)
    assert meter.last_readings is not None
    after_end = meter.last_readings.polls[0][0]
    c0, c1 = counter_mj(fake, gpu, m.start_s), counter_mj(fake, gpu, m.end_s)
    b0 = counter_delta_mj(c0, counter_mj(fake, gpu, after_start)) / 1000.0
    b1 = counter_delta_mj(c1, counter_mj(fake, gpu, after_end)) / 1000.0
    return counter_delta_mj(c0, c1) / 1000.0, b0, b1


def test_continuous_counter_is_the_truth_within_its_brackets() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock, power_avg_s=1.0)
    m, meter, truth = measure(fake, clock)
    delta, b0, b1 = brackets_j(fake, meter, m, 0)
    assert (m.method, m.uncertainty_method) == ("counter", "counter_brackets")
    assert m.duration_s == pytest.approx(WINDOW_S, abs=1e-9)
    assert abs(delta - truth) < 0.002  # the counter is read in whole mJ at both edges
    # The start edge was aligned (a bracket of at most 1.4 J at the 700 W limit), but the next
    # sample, STEP_S later, narrows it to the energy of that step.
    assert b0 < 700.0 * POLL_S
    assert m.total_energy_j == pytest.approx(delta + (b1 - b0) / 2.0, rel=1e-12)
    assert m.total_energy_uncertainty_j == pytest.approx((b0 + b1) / 2.0 + COUNTER_RESOLUTION_J, rel=1e-12)
    assert abs(m.total_energy_j - truth) <= m.total_energy_uncertainty_j
    assert list(m.budget.components_j) == ["counter_resolution"]
    assert set(m.budget.not_included) == COUNTER_KEYS
    assert m.sample_count == STEPS + 1
    # The 1 s averaged readings of a 0.8 s window say less, and within their own (wide) bound.
    assert m.counter_sampling_gap == relative_gap(m.total_energy_j, m.sampled_energy_j)
    assert abs(m.sampled_energy_j - truth) <= m.sampled_budget.total_j
    assert m.notes == []


def test_sampling_path_is_the_trapezoid_of_the_readings_within_its_bound() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, clock=clock)  # instantaneous readings (GA100)
    m, _, truth = measure(fake, clock)
    times = in_window(m)
    readings = readings_w(fake, 0, times)
    assert (m.method, m.uncertainty_method, m.power_source, m.power_average_s) == (
        "sampling",
        "sampling",
        "power_usage_instant",
        0.0,
    )
    assert (m.sample_count, len(times)) == (STEPS + 1, STEPS + 1)
    assert m.total_energy_j == pytest.approx(trapezoid_j(times, readings), rel=1e-12)
    assert m.budget.components_j == pytest.approx(
        {"sampling": half_riemann_gap_j(times, readings), "reading_resolution": READING_RESOLUTION_W * m.duration_s},
        rel=1e-12,
    )
    assert set(m.budget.not_included) == SAMPLED_KEYS
    assert abs(m.total_energy_j - truth) <= m.total_energy_uncertainty_j
    assert m.total_energy_j == pytest.approx(truth, rel=0.001)
    assert m.notes == []


def test_averaged_power_is_integrated_shifted_by_half_its_window() -> None:
    """Power steps 100 -> 300 W inside the window; the 1 s average ramps, the shift puts the ramp back."""
    clock = ManualClock()
    steps = ((0.0, 100.0), (3.0, 300.0))
    fake = FakeNvml(counter_supported=False, power_avg_s=1.0, profile="steps", steps=steps, clock=clock)
    meter = manual_meter(fake, clock, step_s=0.01)
    clock.advance(2.0)
    meter.begin()
    meter.sleep(4.0)
    m = meter.end()
    truth = fake.energy_between_j(0, m.start_s, m.end_s)
    assert truth == pytest.approx(100.0 * 1.0 + 300.0 * 3.0, rel=1e-12)
    assert (m.power_source, m.power_average_s) == ("power_usage_average", 1.0)
    assert max(s.t_s for s in m.samples) >= m.end_s + 0.5  # the tail was read
    assert set(m.budget.components_j) == {"sampling", "reading_resolution", "power_averaging"}
    assert set(m.budget.not_included) == {*SAMPLED_KEYS, "power_excursions"}
    # Flat at both shifted edges: each edge's averaging term is A m (P - m) / 2P at its reading.
    expected = sum(1.0 * p * (700.0 - p) / (2 * 700.0) for p in (100.0, 300.0))
    assert m.budget.components_j["power_averaging"] == pytest.approx(expected, rel=1e-9)
    assert m.total_energy_j == pytest.approx(truth, abs=0.01)  # only the ramp's kinks fall between samples
    assert abs(m.total_energy_j - truth) <= m.total_energy_uncertainty_j
    # Unshifted, the same readings would miss half the averaging window of the step: 100 J.
    inside = [s for s in m.samples if m.start_s <= s.t_s <= m.end_s]
    unshifted = trapezoid_j([s.t_s for s in inside], [s.power_w for s in inside])
    assert truth - unshifted == pytest.approx(100.0, abs=0.5)


def test_a_window_shorter_than_the_averaging_is_bounded_by_the_power_limit() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, power_avg_s=1.0, clock=clock)
    meter = manual_meter(fake, clock, step_s=0.01)
    clock.advance(2.0)
    meter.begin()
    meter.sleep(0.5)
    m = meter.end()
    assert m.budget.components_j["power_averaging"] == pytest.approx(700.0 * 0.5, rel=1e-9)
    assert m.notes == [
        "window 0.500 s is shorter than the power reading's 1 s averaging: its energy is bounded only by the"
        " power limit; set energy.min_window_s"
    ]


def test_sampling_forced_even_where_counter_exists() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    m, _, truth = measure(fake, clock, method="sampling")
    times = in_window(m)
    assert (m.method, m.counter_sampling_gap, m.counter_update_period_s) == ("sampling", None, None)
    assert set(m.budget.components_j) == {"sampling", "reading_resolution"}
    assert m.duration_s == pytest.approx(WINDOW_S, abs=1e-9)  # nothing to align without the counter
    assert m.total_energy_j == pytest.approx(trapezoid_j(times, readings_w(fake, 0, times)), rel=1e-12)
    assert m.total_energy_j == pytest.approx(truth, rel=0.001)


def test_counter_asked_for_but_unsupported_falls_back_with_a_note() -> None:
    clock = ManualClock()
    m, *_ = measure(FakeNvml(counter_supported=False, clock=clock), clock, method="counter", steps=10)
    assert (m.method, m.notes) == ("sampling", ["energy counter unsupported on this GPU; used sampled power"])


def test_counter_wrap_during_window() -> None:
    """The counter is set to wrap exactly mid-window on a manual clock, so the wrap is inside it."""
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    begin_s, window_s = fake.t0 + 1.0, 2.0
    mid_mj = int(fake.energy_between_j(0, fake.t0, begin_s + window_s / 2) * 1000)
    fake.counter_start_mj = fake.counter_modulus - mid_mj
    meter = manual_meter(fake, clock)  # only the edge samples
    clock.advance(begin_s - clock())
    aligned_from = clock()
    meter.begin()
    t0 = clock()
    clock.advance(window_s)
    m = meter.end()
    assert meter.last_readings is not None
    c0, c1 = counter_mj(fake, 0, t0), counter_mj(fake, 0, m.end_s)
    c_next = counter_mj(fake, 0, meter.last_readings.polls[0][0])
    assert c1 < c0  # the raw counter wrapped between the two edges
    assert m.method == "counter"
    # No read between the edges: the start's bracket is the alignment's, the limit over one poll.
    b0 = 700.0 * (t0 - aligned_from) + COUNTER_RESOLUTION_J
    b1 = counter_delta_mj(c1, c_next) / 1000.0
    assert m.total_energy_j == pytest.approx(counter_delta_mj(c0, c1) / 1000.0 + (b1 - b0) / 2.0, rel=1e-12)
    assert m.total_energy_uncertainty_j == pytest.approx((b0 + b1) / 2.0 + COUNTER_RESOLUTION_J, rel=1e-12)
    truth = fake.energy_between_j(0, m.start_s, m.end_s)
    assert abs(m.total_energy_j - truth) <= m.total_energy_uncertainty_j


def test_counter_reset_falls_back_to_sampling() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    meter = manual_meter(fake, clock)
    clock.advance(2.0)
    aligned_from = clock()
    meter.begin()
    c0 = counter_mj(fake, 0, clock())
    clock.advance(2.0)
    fake.counter_start_mj = -(10**12)  # driver reload: the counter jumps backwards
    m = meter.end()
    assert meter.last_readings is not None
    c1 = counter_mj(fake, 0, m.end_s)
    # The counter went 10**12 mJ below its start, which reads as almost 2**64 mJ gained.
    assert counter_delta_mj(c0, c1) > 2**63
    b0 = 700.0 * (m.start_s - aligned_from) + COUNTER_RESOLUTION_J
    b1 = counter_delta_mj(c1, counter_mj(fake, 0, meter.last_readings.polls[0][0])) / 1000.0
    implied_w = (counter_delta_mj(c0, c1) / 1000.0 + (b1 - b0) / 2.0) / m.duration_s
    assert m.method == "sampling"
    assert m.notes == [f"energy counter jumped (implied {implied_w:.0f} W, reset?); used sampled power"]
    assert m.total_energy_j == m.sampled_energy_j
    assert m.counter_sampling_gap is None


def test_failed_power_samples_are_bridged() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, fail_power_every=3, clock=clock)
    m, _, truth = measure(fake, clock)
    # Reads 3, 6, 9, ... failed (the window's 161 and the closing one after it): the trapezoid
    # runs over the others only, and both edges were read.
    times = in_window(m)
    kept = [t for i, t in enumerate(times) if (i + 1) % 3 != 0]
    assert (kept[0], kept[-1]) == (times[0], times[-1])
    assert m.total_energy_j == pytest.approx(trapezoid_j(kept, readings_w(fake, 0, kept)), rel=1e-12)
    assert m.total_energy_j == pytest.approx(truth, rel=0.005)
    failed = [s.t_s for s in m.samples if s.power_w is None]
    assert len(failed) == 54
    assert m.notes == ["54 power samples failed and were bridged"]


def test_multi_gpu_sums_and_keeps_per_gpu() -> None:
    clock = ManualClock()
    fake = FakeNvml(n_gpus=2, base_w=(100.0, 300.0), clock=clock)
    m, meter, truth = measure(fake, clock)
    assert set(m.per_gpu_energy_j) == {0, 1}
    for g in (0, 1):
        delta, b0, b1 = brackets_j(fake, meter, m, g)
        assert m.per_gpu_energy_j[g] == pytest.approx(delta + (b1 - b0) / 2.0, rel=1e-12)
        assert m.per_gpu_uncertainty_j[g] == pytest.approx((b0 + b1) / 2.0 + COUNTER_RESOLUTION_J, rel=1e-12)
        assert abs(m.per_gpu_energy_j[g] - fake.energy_between_j(g, m.start_s, m.end_s)) <= m.per_gpu_uncertainty_j[g]
    assert m.total_energy_j == pytest.approx(sum(m.per_gpu_energy_j.values()), rel=1e-12)
    assert m.budget.components_j == {"counter_resolution": pytest.approx(sum(m.per_gpu_uncertainty_j.values()))}
    assert abs(m.total_energy_j - truth) <= m.total_energy_uncertainty_j
    assert m.per_gpu_energy_j[1] > 2 * m.per_gpu_energy_j[0]


def test_violation_time_gives_the_throttle_share() -> None:
    clock = ManualClock()
    m, *_ = measure(FakeNvml(violation_shares={0: 0.5}, clock=clock), clock)  # policy 0: power
    assert m.throttle_method == "violation_time"
    assert m.throttle_share["power"] == pytest.approx(0.5, abs=1e-9)
    assert {k: v for k, v in m.throttle_share.items() if k != "power"} == {
        "thermal": 0.0,
        "sync_boost": 0.0,
        "board_limit": 0.0,
        "low_utilization": 0.0,
        "reliability": 0.0,
        "below_app_clocks": 0.0,
        "below_base_clocks": 0.0,
    }
    assert m.throttle_reasons == ["power"]


def test_without_violation_time_the_sampled_clock_event_bits_are_used() -> None:
    clock = ManualClock()
    m, *_ = measure(FakeNvml(violation_supported=False, throttle=0x4, clock=clock), clock, steps=10)
    assert m.throttle_method == "sampled_clock_event_bits"
    assert m.throttle_share == {
        "sw_power_cap": 1.0,
        "hw_slowdown": 0.0,
        "sw_thermal": 0.0,
        "hw_thermal": 0.0,
        "hw_power_brake": 0.0,
    }
    assert m.throttle_reasons == ["sw_power_cap"]
    clock = ManualClock()
    m, *_ = measure(FakeNvml(violation_supported=False, throttle=0x20 | 0x4, clock=clock), clock, steps=10)
    assert m.throttle_reasons == ["sw_power_cap", "sw_thermal"]
    assert throttle_flags(0x1) == []


def test_no_nvml_gives_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml

    def fail() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    with pytest.raises(EnergyUnavailableError, match="no NVIDIA driver or GPU is visible"):
        load_pynvml()


def test_bad_gpu_index() -> None:
    with pytest.raises(EnergyUnavailableError, match=r"^GPU index \[3\] not present; this machine has 1 GPUs$"):
        NvmlDevices(FakeNvml(), (3,))


def test_info_and_driver() -> None:
    d = NvmlDevices(FakeNvml())
    (info,) = d.info()
    assert (info.name, info.power_limit_w, info.energy_counter_supported) == ("Fake H100", 700.0, True)
    assert d.driver() == {"driver_version": "550.54.15", "cuda_driver_version": "12.4"}
