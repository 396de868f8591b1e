"""optimum-benchmark's side of ``benchmarks.peer_optimum``: runs in build/venv-optimum, imports no llem.

``python peer_optimum_driver.py`` reads one JSON workload per line on stdin, runs it through
optimum-benchmark's Python API (``Benchmark.launch`` with its PyTorch backend and inference
scenario, latency only) and answers one line, ``PEER-RESULT {json}``, on stdout. Anything else the
peer or its libraries print is left to the caller to ignore. The process launcher spawns a child
that imports this file again as ``__mp_main__``, so nothing runs at import time.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

MARK = "PEER-RESULT "


def benchmark_config(spec: dict[str, Any]) -> Any:
    """The peer's config for ``spec``: CPU, fp32, real weights, exactly ``calls`` timed generates."""
    from optimum_benchmark import BenchmarkConfig, InferenceConfig, InlineConfig, ProcessConfig, PyTorchConfig

    new = spec["output_tokens"]
    return BenchmarkConfig(
        name="peer",
        launcher=InlineConfig() if spec["launcher"] == "inline" else ProcessConfig(),
        backend=PyTorchConfig(
            device="cpu", model=spec["model"], task="text-generation", torch_dtype="float32", no_weights=False
        ),
        scenario=InferenceConfig(
            input_shapes={"batch_size": spec["batch_size"], "sequence_length": spec["input_tokens"]},
            generate_kwargs={"max_new_tokens": new, "min_new_tokens": new},
            iterations=spec["calls"],
            duration=0,  # exactly `iterations` timed generates, not "at least 10 s"
            warmup_runs=1,  # the least that warms up: 0 skips its warmup (and first_generate) entirely
            latency=True,
            memory=False,
            energy=False,
        ),
        log_report=False,
    )


def launch(spec: dict[str, Any]) -> dict[str, Any]:
    """One benchmark; the peer's own timers, and this job's wall time from config to report."""
    from optimum_benchmark import Benchmark

    start = time.perf_counter()
    report = Benchmark.launch(benchmark_config(spec))
    job_s = time.perf_counter() - start
    return {
        "generate_s": [float(v) for v in report.generate.latency.values],
        "load_model_s": float(report.load_model.latency.values[0]),
        "first_generate_s": float(report.first_generate.latency.values[0]),
        "job_s": job_s,
    }


def main() -> None:
    import optimum_benchmark  # noqa: F401  (imported before the first job, as its CLI does)

    for line in sys.stdin:
        if line.strip():
            print(MARK + json.dumps(launch(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
