"""Scaling out: N short units on G GPU slots against one at a time, and Slurm's per-unit overhead.

Part 1 runs the same campaign of N units through ``llem campaign up --executor local`` twice:
one unit at a time (no ``--gpus``) and on G slots (``--gpus all``, with the fake NVML of the tests
exposing G GPUs at the pynvml boundary). Each unit is the tiny model plus a 10 s idle baseline
(a sleep while a sampler reads the fake GPU), so it is dominated by waiting, as a GPU-bound unit is
for the host's CPUs. Each unit still spends about 2 s of CPU (fork, model load, generation), and 4
of those at once share this VM's 2 cores: that, and the warm-start server's one-time start (in
both runs), is what keeps the ratio below G.
Target: parallel time about serial / G (ratio printed).

Part 2 (needs a Slurm cluster: scripts/ensure-slurm.sh) runs 4 units through ``--executor
slurm`` one job at a time, and the same campaign through the local executor with a fresh process
per unit, in alternating pairs; (Slurm wall - local wall) / 4 is what Slurm adds per unit (submit,
hold and release, scheduling, job start, polling, result check). Skipped with a note where there is
no Slurm.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import scratch

ROOT = Path(__file__).resolve().parents[1]
N_UNITS = 8
N_GPUS = 4
SETTLE_S = 10.0
ROUNDS = 3
UNIT = """model: llem/tiny-llama
backend: pytorch
precision: fp32
n_prompts: 2
max_input_tokens: 32
max_output_tokens: 4
warmup: {n_runs: 0}
baseline: BASELINE
sweep:
  pytorch.batch_size: [1, 2, 3, 4]
"""


def campaign(where: Path, name: str, execution: str, settle_s: float = SETTLE_S) -> Path:
    path = where / f"{name}.yaml"
    baseline = f"{{enabled: true, duration_s: {settle_s}}}" if settle_s else "{enabled: false}"
    path.write_text(f"name: {name}\n{UNIT.replace('BASELINE', baseline)}execution: {execution}\n")
    return path


def up(where: Path, path: Path, *args: str) -> tuple[float, Path]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "fakes" / "pynvml_shim"), str(ROOT)]),
        "LLEM_FAKE_NVML": json.dumps({"n_gpus": N_GPUS, "base_w": [100.0] * N_GPUS, "amp_w": 0.0}),
    }
    results = where / f"results-{path.stem}"
    t = time.perf_counter()
    argv = [sys.executable, "-m", "llenergymeasure.cli.main", "campaign", "up", str(path)]
    subprocess.run([*argv, "--results-dir", str(results), *args], cwd=where, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t
    (d,) = [p for p in results.iterdir() if p.is_dir()]
    return wall, d


def main() -> None:
    where = scratch()
    n_cycles = N_UNITS // 4
    if "--slurm-only" in sys.argv:
        return slurm_part(where)
    serial, _ = up(where, campaign(where, "serial", f"{{n_cycles: {n_cycles}}}"), "--executor", "local")
    parallel, _ = up(
        where, campaign(where, "slots", f"{{n_cycles: {n_cycles}}}"), "--executor", "local", "--gpus", "all"
    )
    print(f"{N_UNITS} units, serial: {serial:.1f} s; on {N_GPUS} slots: {parallel:.1f} s")
    print(f"ratio serial/parallel: {serial / parallel:.2f} (ideal {N_GPUS}); parallel/serial {parallel / serial:.2f}")
    slurm_part(where)


def slurm_part(where: Path) -> None:
    try:
        subprocess.run(["sinfo"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        print("slurm: no cluster here (scripts/ensure-slurm.sh); overhead not measured")
        return
    # This VM is shared and its speed drifts: the two executors run in alternating pairs of short
    # campaigns, and the median of the per-pair differences is reported.
    slurm_cfg = "{warm_start: false, slurm: {gpus_per_unit: 0, max_jobs: 1, poll_s: 0.2}}"
    per_unit = []
    for r in range(ROUNDS):
        walls = {}
        for executor in ("local", "slurm") if r % 2 == 0 else ("slurm", "local"):
            walls[executor], _ = up(where, campaign(where, f"{executor}{r}", slurm_cfg, 0.0), "--executor", executor)
        per_unit.append((walls["slurm"] - walls["local"]) / 4)
        print(
            f"  pair {r + 1}: 4 units, local fresh processes {walls['local']:.1f} s, slurm jobs {walls['slurm']:.1f} s"
        )
    print(
        f"slurm: adds {statistics.median(per_unit):.2f} s per unit (submit to result, median of {ROUNDS} pairs; "
        f"each: {', '.join(f'{x:.2f}' for x in per_unit)})"
    )


if __name__ == "__main__":
    main()
