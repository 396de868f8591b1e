"""The saturation sweep's phases after the unit's main window (``scenario.saturation``).

The main window is the sweep's throughput phase (every request at once), so the unit's headline
figures are the server's at full load. This module then runs the synchronous phase and the rate
phases between the two, each with its own fresh prompts and its own energy window on the same
meter, and returns the curve. The arithmetic (rates, verdicts) is ``serving.saturation``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from loguru import logger

from llenergymeasure.config.load import Saturation
from llenergymeasure.experiment.measure import MeasuredWindow, WindowMeasurement
from llenergymeasure.results.schema import SaturationCurve, SaturationPoint
from llenergymeasure.serving.arrivals import even_offsets_s, schedule_rate_per_s
from llenergymeasure.serving.client import LoadSpec, drive
from llenergymeasure.serving.saturation import (
    completed_rate_per_s,
    highest_sustained,
    phase_rates,
    rate_stability,
    sustained,
)
from llenergymeasure.serving.stats import StreamedRequest, achieved_rate_per_s, ms_distribution, serving_window

# (prompts, own lengths, due offsets, open loop, concurrency) -> the load to send
SpecFor = Callable[[list[list[int]], list[int] | None, list[float], bool, int | None], LoadSpec]


def point(
    profile: Literal["synchronous", "throughput", "rate"],
    requests: Sequence[StreamedRequest],
    window: WindowMeasurement,
    target_per_s: float | None,
    offsets_s: Sequence[float] | None,
) -> SaturationPoint:
    """One phase's figures: offered and completed rates, latencies, its verdict and its energy window's throughput."""
    ok = [r for r in requests if r.ok]
    offered = schedule_rate_per_s(offsets_s) if offsets_s is not None else (achieved_rate_per_s(requests) or None)
    failed = len(requests) - len(ok)
    stability = rate_stability(requests) if profile == "rate" else None
    m = window.gpu
    return SaturationPoint(
        profile=profile,
        target_rate_per_s=target_per_s,
        offered_rate_per_s=offered,
        completed_rate_per_s=completed_rate_per_s(requests),
        sustained=sustained(failed, stability) if profile == "rate" else None,
        stability=stability,
        n_requests=len(requests),
        n_failed=failed,
        ttft_ms=ms_distribution([r.ttft_s for r in ok if r.ttft_s is not None]),
        itl_ms=ms_distribution([g for r in ok for g in r.itl_s]),
        e2e_ms=ms_distribution([r.e2e_s for r in ok]),
        window=serving_window(
            requests,
            0.0,
            window.duration_s,
            m.total_energy_j if m is not None else None,
            m.total_energy_uncertainty_j if m is not None else None,
            window.start_s,
            window.start_unix_s,
        ),
    )


def run_phases(
    sat: Saturation,
    throughput: SaturationPoint,
    phases: Sequence[tuple[list[list[int]], list[int] | None]],
    spec_for: SpecFor,
    measured: MeasuredWindow,
    clock: Callable[[], float],
) -> SaturationCurve:
    """The synchronous phase, then ``points - 2`` open-loop rates between it and ``throughput``; the curve."""

    def measure(
        prompts: list[list[int]], own: list[int] | None, offsets: list[float], open_loop: bool, cap: int | None
    ) -> tuple[list[StreamedRequest], WindowMeasurement]:
        measured.begin()
        try:
            requests = drive(spec_for(prompts, own, offsets, open_loop, cap), clock, None, measured.start_s)
        finally:
            window = measured.end()
        return requests, window

    sets = list(phases) or [([], None)]
    prompts, own = sets[0]
    reqs, win = measure(prompts, own, [0.0] * len(prompts), False, 1)
    sync = point("synchronous", reqs, win, None, None)
    low = sync.completed_rate_per_s or sync.offered_rate_per_s or 0.0
    high = throughput.completed_rate_per_s or 0.0
    points = [sync, throughput]
    rates = phase_rates(low, high, sat.points - 2) if low > 0 else []
    for k, rate in enumerate(rates):
        prompts, own = sets[(k + 1) % len(sets)]
        offsets = even_offsets_s(len(prompts), rate)
        logger.info("saturation: rate {:.3g}/s ({} of {})", rate, k + 1, len(rates))
        reqs, win = measure(prompts, own, offsets, True, None)
        points.append(point("rate", reqs, win, rate, offsets))
    best = highest_sustained([(p.offered_rate_per_s, p.sustained) for p in points if p.profile == "rate"])
    unjudged = sum(1 for p in points if p.profile == "rate" and p.sustained is None)
    note = None
    if not rates:
        note = "no rate phase: the synchronous phase completed nothing to set a rate from"
    elif unjudged:
        note = (
            f"{unjudged} of {len(rates)} rates too short to judge (their stability test was unresolved): "
            "raise n_prompts for longer phases"
        )
    elif best is None:
        note = "no rate held: the server fell behind even the lowest rate between synchronous and throughput"
    return SaturationCurve(points=points, max_sustained_rate_per_s=best, note=note)
