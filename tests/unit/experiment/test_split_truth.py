"""The differential split recovers a known prefill and decode energy within its stated bound.

A simulated engine (``tests/fakes/sim_engine``) draws a known energy per prefill token and per
decode token from the fake NVML on a manual clock, under static and continuous batching; the
windows are measured by the real ``MeasuredWindow`` and split by the real ``prepare_windows`` and ``measure_windows``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.experiment.measure import MeasuredWindow
from llenergymeasure.experiment.offline import (
    MAX_PROMPT_SETS,
    UNKNOWN_PASS_SETS,
    measure_windows,
    prepare_windows,
    sets_needed,
)
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml
from tests.fakes.sim_engine import SimEngine

INPUT_TOKENS = 16


def config(**energy: object) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "model": "m",
            "backend": "pytorch",
            "n_prompts": 8,
            "max_output_tokens": 16,
            "dataset": {"kind": "synthetic", "input_tokens": INPUT_TOKENS},
            "energy": {"min_window_s": 2.0, "sample_interval_ms": 1000, **energy},
        }
    )


def measure(  # type: ignore[no-untyped-def]
    mode: str, cycle: int, tmp_path: Path, est_pass_s: float | None = None, busy_w: float = 0.0, **energy: object
):
    clock = ManualClock(start_s=0.0)
    fake = FakeNvml(clock=clock, profile="steps", steps=((0.0, 50.0),), counter_update_s=0.1)
    cfg = config(**energy)
    engine = SimEngine(fake, clock, mode, cfg.max_output_tokens, busy_w=busy_w)
    window = MeasuredWindow(NvmlDevices(fake), cfg.energy, tmp_path / "no-rapl", clock, clock.sleep, lambda: 0.0)
    window.prepare()
    try:
        return measure_windows(prepare_windows(engine, cfg, window, est_pass_s), cfg, window, clock, cycle), engine
    finally:
        window.release()


# A static pass of the simulated engine: 2 batches x (1 prefill + 15 decode steps) x 20 ms.
STATIC_PASS_S = 0.64


@pytest.mark.parametrize(("mode", "busy_w"), [("static", 0.0), ("static", 150.0), ("continuous", 0.0)])
def test_split_recovers_known_prefill_and_decode_energy(mode: str, busy_w: float, tmp_path: Path) -> None:
    out, engine = measure(mode, 1, tmp_path, STATIC_PASS_S, busy_w)
    split = out.split
    assert split is not None
    assert out.split_run is not None
    assert out.split_run.output_tokens == 4  # a quarter of 16
    # Static batches: a prefill step per batch of 4 (busy power for its 20 ms, plus its prompt
    # tokens), and a decode step per further token of 4 requests.
    step_j = busy_w * engine.step_s
    batches = 2 * out.main.n_passes
    true_prefill_j = step_j * batches + engine.alpha_j * INPUT_TOKENS * 8 * out.main.n_passes
    true_decode_j = engine.beta_j + step_j / engine.slots
    assert split.prefill_uncertainty_j is not None
    assert split.energy_per_decode_token_uncertainty_j is not None
    assert abs(split.prefill_energy_j - true_prefill_j) <= split.prefill_uncertainty_j
    assert abs(split.energy_per_decode_token_j - true_decode_j) <= split.energy_per_decode_token_uncertainty_j
    # The bounds mean something even over 2 s windows (one 0.1 s counter update of power is ~5 % of
    # each): under a quarter of prefill, under 6 % of a decode token.
    assert split.prefill_uncertainty_j < 0.25 * true_prefill_j
    assert split.energy_per_decode_token_uncertainty_j < 0.06 * true_decode_j
    assert split.decode_tokens == out.main.n_passes * 8 * 15
    assert out.notes == ()  # the warmup-timed estimate prepared enough prompt sets for both windows


def test_continuous_batching_mixes_prefill_into_decode_steps(tmp_path: Path) -> None:
    # Under the token budget one 16-token prompt is admitted per step, beside the running sequences'
    # decode: 7 of the continuous pass's steps prefill and decode at once, none of the static one's.
    static = SimEngine(FakeNvml(clock=ManualClock()), ManualClock(), "static", 16)
    static.execute(static.prepare([[1] * INPUT_TOKENS] * 8))
    continuous = SimEngine(FakeNvml(clock=ManualClock()), ManualClock(), "continuous", 16)
    continuous.execute(continuous.prepare([[1] * INPUT_TOKENS] * 8))
    assert (static.steps_run, static.mixed_steps) == (32, 0)
    assert (continuous.steps_run, continuous.mixed_steps) == (34, 7)


def test_the_split_window_order_alternates_across_cycles(tmp_path: Path) -> None:
    odd, _ = measure("static", 1, tmp_path)
    even, _ = measure("static", 2, tmp_path)
    assert odd.split_run is not None
    assert even.split_run is not None
    assert (odd.split_first, even.split_first) == (False, True)
    assert odd.main.measured.start_s < odd.split_run.measured.start_s
    assert even.split_run.measured.end_s < even.main.measured.start_s


def test_no_pass_repeats_prompts_while_the_dataset_lasts(tmp_path: Path) -> None:
    out, _ = measure("static", 1, tmp_path, STATIC_PASS_S)
    # 6 sets prepared for the main window (1.5 x 2 s / 0.64 s, plus one), 20 for the 4-token one.
    assert out.split_run is not None
    assert (out.main.n_passes, out.prompt_sets_distinct, out.notes) == (4, 4, ())
    assert (out.split_run.n_passes, out.split_prompt_sets_distinct) == (13, 13)


def test_passes_beyond_the_prepared_sets_are_noted_for_either_window(tmp_path: Path) -> None:
    out, _ = measure("static", 1, tmp_path)  # no warmup timing: 8 sets each
    assert out.split_run is not None
    assert (out.main.n_passes, out.split_run.n_passes, out.split_prompt_sets_distinct) == (4, 13, 8)
    assert out.notes == (
        "split window: the window ran 13 passes over 8 prepared prompt sets (more passes than warmup's timing "
        "predicted): later passes repeat prompts; KV/prefix reuse would make them cache hits",
    )


def test_split_off_measures_one_window(tmp_path: Path) -> None:
    out, _ = measure("static", 1, tmp_path, prefill_split=False)
    assert (out.split, out.split_run) == (None, None)


def test_prompt_sets_cover_the_window_with_a_margin() -> None:
    assert sets_needed(0.0, 0.5) == 1
    assert sets_needed(10.0, None) == UNKNOWN_PASS_SETS
    assert sets_needed(10.0, 1.0) == 16  # 1.5 x 10 passes, plus one
    assert sets_needed(10.0, 0.001) == MAX_PROMPT_SETS


def test_default_window_keeps_the_counter_bound_under_one_percent(tmp_path: Path) -> None:
    clock = ManualClock(start_s=0.0)
    fake = FakeNvml(clock=clock, counter_update_s=0.1)
    cfg = config(min_window_s=None)
    window = MeasuredWindow(NvmlDevices(fake), cfg.energy, tmp_path, clock, clock.sleep, lambda: 0.0)
    window.prepare()
    assert window.target_s(None) == pytest.approx(10.0, rel=0.03)  # 100 updates of 0.1 s (as probed)
    assert window.target_s(2.5) == 2.5  # asked for: as asked
    sampled = MeasuredWindow(
        NvmlDevices(FakeNvml(clock=clock, counter_supported=False)), config(sample_interval_ms=50).energy, tmp_path
    )
    assert sampled.target_s(None) == pytest.approx(5.0)  # 100 samples of 50 ms
    assert MeasuredWindow(None, cfg.energy, tmp_path).target_s(None) == 0.0  # no energy: one pass
