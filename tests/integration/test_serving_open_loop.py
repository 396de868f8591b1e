"""The open-loop client against the stand-in OpenAI server (tests/fakes/openai_server.py): sends keep to
their schedule whatever the server does, an uncapped loop is never serialised, a cap shows as lateness,
and a unit's result records the schedule, the sends and their lateness, seeded per cycle.
"""

from __future__ import annotations

import statistics
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.experiment.measure import MeasuredWindow
from llenergymeasure.experiment.serving import run_server_experiment
from llenergymeasure.models.tiny import ensure_tiny_model
from llenergymeasure.serving.arrivals import arrival_offsets_s, schedule_rate_per_s
from llenergymeasure.serving.client import LoadSpec, drive
from llenergymeasure.serving.server import ServerProcess, free_port
from llenergymeasure.serving.stats import StreamedRequest, achieved_rate_per_s

pytestmark = pytest.mark.xdist_group("serving-timing")  # sends are timed: keep them off a busy worker


def fake_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "tests.fakes.openai_server", str(port), "ok"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    port = free_port()
    logs = tmp_path_factory.mktemp("open-loop") / "s.log"
    proc = ServerProcess(fake_argv(port), logs, f"http://127.0.0.1:{port}")
    proc.start()
    try:
        proc.wait_healthy(30, poll_s=0.1)
        yield proc
    finally:
        proc.stop()


def most_in_flight(out: list[StreamedRequest]) -> int:
    events = sorted([(r.sent_s, 1) for r in out] + [(r.done_s, -1) for r in out], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_an_uncapped_open_loop_keeps_its_schedule_and_overlaps_requests(server: ServerProcess) -> None:
    # 120 requests at 40/s, each streaming 40 tokens 2 ms apart (over 80 ms): several in flight at once.
    offsets = arrival_offsets_s(120, 40.0, 5)
    spec = LoadSpec(server.base_url, "m", [[1, 2, 3]] * 120, offsets, None, {"max_tokens": 40}, 30.0, open_loop=True)
    out = drive(spec)
    assert all(r.ok for r in out)
    assert most_in_flight(out) > 1
    lateness = [r.lateness_s for r in out if r.lateness_s is not None]
    assert len(lateness) == 120
    assert statistics.median(lateness) < 0.010
    schedule = schedule_rate_per_s(offsets)
    assert schedule is not None
    assert achieved_rate_per_s(out) >= 0.95 * schedule
    # Due times are the schedule itself, moved to when the dispatcher started.
    origin = out[0].due_s
    assert origin is not None
    assert [r.due_s - origin for r in out if r.due_s is not None] == pytest.approx(offsets, abs=1e-9)


def test_a_cap_of_one_serialises_and_the_wait_is_lateness(server: ServerProcess) -> None:
    offsets = arrival_offsets_s(12, 40.0, 5)
    spec = LoadSpec(server.base_url, "m", [[1, 2, 3]] * 12, offsets, 1, {"max_tokens": 40}, 30.0, open_loop=True)
    out = drive(spec)
    assert most_in_flight(out) == 1
    lateness = sorted(r.lateness_s for r in out if r.lateness_s is not None)
    assert lateness[-1] > 0.2  # the last one waited behind eleven 80 ms streams
    assert all(r.ttft_s is not None and r.send_ttft_s is not None and r.ttft_s > r.send_ttft_s for r in out[1:])


def stand_in() -> Any:
    return types.SimpleNamespace(
        server_argv=lambda config, model_path, host, port: fake_argv(port),
        request_extras=lambda config: {"max_tokens": config.max_output_tokens},
    )


def run_cycle(tmp_path: Path, cycle: int, schedule: str) -> Any:
    from transformers import AutoTokenizer

    config = ExperimentConfig.model_validate(
        {
            "model": "llem/tiny-llama",
            "backend": "vllm",
            "n_prompts": 24,
            "max_output_tokens": 8,
            "scenario": {"kind": "server", "request_rate": 20.0, "warmup_requests": 0, "arrival_schedule": schedule},
        }
    )
    return run_server_experiment(
        config,
        tmp_path,
        f"u{cycle}{schedule}",
        config_hash(config),
        cycle,
        MeasuredWindow(None, config.energy),
        "no NVML here",
        str(ensure_tiny_model(config.model)),
        tokenizer_loader=AutoTokenizer.from_pretrained,
        server_module=stand_in(),
    )


def test_a_unit_records_schedule_sends_and_lateness_and_draws_a_schedule_per_cycle(tmp_path: Path) -> None:
    one, two = run_cycle(tmp_path, 1, "per_cycle").serving, run_cycle(tmp_path, 2, "per_cycle").serving
    fixed = run_cycle(tmp_path, 2, "fixed").serving
    for s in (one, two, fixed):
        assert s.concurrency is None
        assert s.requested_rate_per_s == 20.0
        assert s.send_lateness_ms is not None
        assert s.send_lateness_ms.p50 < 10.0
        assert s.achieved_rate_per_s >= 0.95 * s.schedule_rate_per_s
        dues = [r.due_s - s.requests[0].due_s for r in s.requests]
        assert schedule_rate_per_s(dues) == pytest.approx(s.schedule_rate_per_s, rel=1e-9)
        assert s.load_state in ("steady", "overload", "unresolved")
        assert len(s.requests) == 24
    assert fixed.arrival_seed == 42
    assert len({one.arrival_seed, two.arrival_seed, fixed.arrival_seed}) == 3
    assert one.schedule_rate_per_s != two.schedule_rate_per_s
    assert fixed.schedule_rate_per_s == schedule_rate_per_s(arrival_offsets_s(24, 20.0, 42))
