"""Server-mode workloads against the stand-in OpenAI server: a replayed trace keeps its times and lengths,
a ramp grows its rate, gamma arrivals have the spread their burstiness asks for, a saturation sweep draws
its curve, and every request's own output length reaches the server.
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.experiment.measure import MeasuredWindow
from llenergymeasure.experiment.serving import run_server_experiment
from llenergymeasure.models.tiny import ensure_tiny_model
from llenergymeasure.results.schema import ExperimentResult
from llenergymeasure.serving.arrivals import arrival_seed, ramp_offsets_s
from tests.integration.test_serving_open_loop import stand_in

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving-timing")]  # sends are timed


def run(tmp_path: Path, scenario: dict[str, Any], cycle: int = 1, **over: Any) -> ExperimentResult:
    from transformers import AutoTokenizer

    config = ExperimentConfig.model_validate(
        {
            "model": "llem/tiny-llama",
            "backend": "vllm",
            "n_prompts": 8,
            "max_output_tokens": 6,
            "scenario": {"kind": "server", "warmup_requests": 0, **scenario},
            **over,
        }
    )
    return run_server_experiment(
        config,
        tmp_path,
        f"u{cycle}",
        config_hash(config),
        cycle,
        MeasuredWindow(None, config.energy),
        "no NVML here",
        str(ensure_tiny_model(config.model)),
        tokenizer_loader=AutoTokenizer.from_pretrained,
        server_module=stand_in(),
    )


def test_a_replayed_trace_is_sent_at_its_times_with_its_lengths(tmp_path: Path) -> None:
    times_ms = [5000, 5040, 5045, 5200, 5210, 5500, 5510, 5515, 5800, 6000]
    lines = [
        {"timestamp": t, "input_length": 4 + i, "output_length": 2 + i % 5}
        if i % 3
        else {"timestamp": t, "prompt": f"tell me about the number {i}", "output_length": 3}
        for i, t in enumerate(times_ms)
    ]
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = run(tmp_path, {"replay": {"path": str(trace), "time_unit": "ms", "time_scale": 2.0}})
    serving = result.serving
    assert serving is not None
    assert serving.n_requests == 10
    assert serving.n_failed == 0
    origin = serving.requests[0].due_s
    assert origin is not None
    want = [(t - 5000) / 1000 * 2.0 for t in times_ms]
    assert [round(r.due_s - origin, 9) for r in serving.requests if r.due_s is not None] == pytest.approx(want)
    late_ms = [(r.sent_s - origin - w) * 1000 for r, w in zip(serving.requests, want, strict=True)]
    assert statistics.median(late_ms) < 5.0
    assert max(late_ms) < 50.0
    assert [r.output_tokens for r in serving.requests] == [3, 3, 4, 3, 6, 2, 3, 4, 5, 3]
    workload = result.workload
    assert workload is not None
    assert (workload.dataset, workload.arrivals, workload.n_requests, workload.output_lengths) == (
        "trace",
        "trace",
        10,
        "dataset",
    )
    assert workload.output_tokens.total == 36
    assert workload.requested_output_tokens is not None
    assert workload.requested_output_tokens.total == 36


@pytest.mark.parametrize("burstiness", [0.5, 4.0])
def test_gamma_arrivals_have_the_spread_their_burstiness_asks_for(tmp_path: Path, burstiness: float) -> None:
    n = 200
    result = run(
        tmp_path,
        {"request_rate": 40.0, "burstiness": burstiness, "arrival_schedule": "fixed"},
        n_prompts=n,
        max_output_tokens=2,
        dataset={"kind": "synthetic", "input_tokens": 4},
    )
    serving = result.serving
    assert serving is not None

    def cv(times: list[float]) -> float:
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return statistics.stdev(gaps) / statistics.mean(gaps)

    want = burstiness**-0.5
    drawn = cv(sorted(r.due_s for r in serving.requests if r.due_s is not None))
    sent = cv(sorted(r.sent_s for r in serving.requests))
    # The schedule's CV is the requested one within sampling error: for gamma gaps its standard error
    # is about cv * sqrt((1 + 2 cv^2) / (2 n)); three of them.
    assert abs(drawn - want) < 3 * want * ((1 + 2 * want**2) / (2 * n)) ** 0.5
    # The sends keep it: the client's few-ms jitter moves the CV by under 10 %.
    assert abs(sent - drawn) < 0.1 * drawn


def test_a_ramp_is_sent_on_its_drawn_schedule(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {"request_rate": 80.0, "ramp_up": {"start_rate": 8.0}},
        n_prompts=60,
        max_output_tokens=2,
        dataset={"kind": "synthetic", "input_tokens": 4},
    )
    serving = result.serving
    assert serving is not None
    origin = serving.requests[0].due_s
    assert origin is not None
    dues = [r.due_s - origin for r in serving.requests if r.due_s is not None]
    assert dues == pytest.approx(ramp_offsets_s(60, 8.0, 80.0, arrival_seed(42, 1, "per_cycle")), abs=1e-9)
    sends = [r.sent_s - origin for r in serving.requests]
    assert statistics.median(s - d for s, d in zip(sends, dues, strict=True)) < 0.005
    assert result.workload is not None
    assert result.workload.arrivals == "ramp"


def test_a_saturation_sweep_runs_every_phase_and_names_the_highest_rate_that_held(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {"saturation": {"points": 4}},
        n_prompts=12,
        max_output_tokens=4,
        dataset={"kind": "synthetic", "input_tokens": 4},
    )
    serving = result.serving
    assert serving is not None
    curve = serving.saturation
    assert curve is not None
    assert [p.profile for p in curve.points] == ["synchronous", "throughput", "rate", "rate"]
    assert [p.n_requests for p in curve.points] == [12, 12, 12, 12]
    sync, top, *rates = curve.points
    assert sync.completed_rate_per_s is not None
    assert top.completed_rate_per_s is not None
    assert top.completed_rate_per_s > sync.completed_rate_per_s  # the stand-in serves requests concurrently
    targets = [p.target_rate_per_s for p in rates]
    step = (top.completed_rate_per_s - sync.completed_rate_per_s) / 3
    assert targets == pytest.approx([sync.completed_rate_per_s + step, sync.completed_rate_per_s + 2 * step])
    # Twelve requests per phase mostly leave the stability test unresolved: unjudged, with a note.
    assert all(
        p.stability is not None and p.sustained is {"steady": True, "overload": False}.get(p.stability.verdict)
        for p in rates
    )
    assert curve.note is None or curve.note.endswith("raise n_prompts for longer phases")
    held = [p.offered_rate_per_s for p in rates if p.sustained]
    assert curve.max_sustained_rate_per_s == (max(held) if held else None)
    # The unit's own figures are the throughput phase's: every request at once.
    assert serving.n_requests == 12
