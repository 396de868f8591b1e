"""Server mode's failure paths against a stand-in OpenAI server (tests/fakes/openai_server.py).

A server that never becomes healthy or exits fails the unit with one clear line; a server that
dies mid-run fails it too (with its log's tail); failed requests of a live server are counted and
reported while the rest are measured.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.errors import ServerError
from llenergymeasure.experiment.measure import MeasuredWindow
from llenergymeasure.experiment.serving import run_server_experiment
from llenergymeasure.models.tiny import ensure_tiny_model
from llenergymeasure.serving.client import LoadSpec, drive
from llenergymeasure.serving.server import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


def fake_argv(mode: str, port: int) -> list[str]:
    return [sys.executable, "-m", "tests.fakes.openai_server", str(port), mode]


def start(tmp_path: Path, mode: str) -> ServerProcess:
    port = free_port()
    server = ServerProcess(fake_argv(mode, port), tmp_path / "logs" / "s.log", f"http://127.0.0.1:{port}")
    server.start()
    return server


def load(server: ServerProcess, n: int, concurrency: int) -> LoadSpec:
    return LoadSpec(server.base_url, "m", [[1, 2, 3]] * n, [0.0] * n, concurrency, {"max_tokens": 4}, 30.0)


def test_a_server_that_never_becomes_healthy_times_out_with_its_log(tmp_path: Path) -> None:
    server = start(tmp_path, "never-healthy")
    try:
        with pytest.raises(ServerError, match=r"^server not healthy after 1\.5 s \(scenario.startup_timeout_s; log "):
            server.wait_healthy(1.5, poll_s=0.1)
    finally:
        server.stop()


def test_a_server_that_exits_at_start_says_so_with_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    server = ServerProcess([sys.executable, "-c", "print('no such model'); raise SystemExit(3)"], log, "http://x")
    server.start()
    with pytest.raises(ServerError, match=r"^server exited with status 3 \(log .*s\.log\): no such model$"):
        server.wait_healthy(30, poll_s=0.05)


def test_failed_requests_are_counted_and_the_rest_measured(tmp_path: Path) -> None:
    server = start(tmp_path, "fail-every-3")
    try:
        server.wait_healthy(30, poll_s=0.1)
        out = drive(load(server, 9, 2))
    finally:
        server.stop()
    assert [r.error is None for r in out].count(False) == 3
    assert {r.error for r in out if r.error} == {'HTTP 500: {"error": {"message": "injected failure"}}'}
    ok = [r for r in out if r.ok]
    assert [(len(r.token_times_s), r.usage_output_tokens, r.queue_s) for r in ok] == [(4, 4, 0.0005)] * 6


def test_a_server_dying_mid_run_fails_its_requests_and_check_alive(tmp_path: Path) -> None:
    server = start(tmp_path, "die-after-3")
    try:
        server.wait_healthy(30, poll_s=0.1)
        out = drive(load(server, 6, 1))
        with pytest.raises(ServerError, match=r"^server exited with status 7"):
            server.check_alive()
    finally:
        server.stop()
    assert [r.ok for r in out[:2]] == [True, True]
    assert all(not r.ok for r in out[2:])
    assert out[2].error is not None


def stand_in(mode: str) -> Any:
    """A server module of the stand-in, in the shape of backends/vllm/server.py."""
    return types.SimpleNamespace(
        server_argv=lambda config, model_path, host, port: fake_argv(mode, port),
        request_extras=lambda config: {"max_tokens": config.max_output_tokens},
    )


def run_unit(tmp_path: Path, mode: str) -> Any:
    from transformers import AutoTokenizer

    config = ExperimentConfig.model_validate(
        {
            "model": "llem/tiny-llama",
            "backend": "vllm",
            "n_prompts": 12,
            "max_output_tokens": 4,
            "scenario": {"kind": "server", "concurrency": 3, "warmup_requests": 0},
        }
    )
    return run_server_experiment(
        config,
        tmp_path,
        "u",
        config_hash(config),
        1,
        MeasuredWindow(None, config.energy),
        "no NVML here",
        str(ensure_tiny_model(config.model)),
        tokenizer_loader=AutoTokenizer.from_pretrained,
        server_module=stand_in(mode),
    )


def test_unit_with_some_failed_requests_reports_them(tmp_path: Path) -> None:
    result = run_unit(tmp_path, "fail-every-4")
    s = result.serving
    assert s is not None
    assert (s.n_requests, s.n_failed, s.goodput_requests) == (12, 3, 9)
    assert s.failures == ['3x HTTP 500: {"error": {"message": "injected failure"}}']
    assert result.metrics.n_requests == 9
    written = json.loads((tmp_path / "u.json").read_text())
    assert written["serving"]["n_failed"] == 3
    assert (tmp_path / "logs" / "u.server.log").is_file()


def test_unit_whose_server_dies_mid_run_fails_with_the_exit_status(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match=r"^server exited with status 7 \(log .*u\.server\.log\)"):
        run_unit(tmp_path, "die-after-5")
    assert not (tmp_path / "u.json").exists()
