"""The GPU validation run behind ``scripts/gpu-check.sh``: build, measure, write ``docs/gpu.md``.

It drives llem exactly as a user would (``llem campaign up`` with the local executor), so what it
validates is the shipped path: warm-start forks, the idle baseline, ``energy.min_window_s``, the
counter probe and the counter/sampled cross-check. The model is built in a child process so this
process never holds a CUDA context of its own while the campaign measures.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from llenergymeasure.campaign.layout import MANIFEST_NAME
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.energy.nvml import NvmlDevices, load_pynvml
from llenergymeasure.errors import EnergyUnavailableError
from llenergymeasure.gpucheck.harness import harness_ratio
from llenergymeasure.gpucheck.summary import fork_check, insert_run, run_section, scope_check
from llenergymeasure.results.reader import InvalidResultError, read_result
from llenergymeasure.results.schema import ExperimentResult

PREAMBLE = """# GPU validation

`bash scripts/gpu-check.sh` on a machine with an NVIDIA GPU (no network needed) builds a
randomly initialised model with Llama-3.2-1B's exact shape (`llenergymeasure.models.shaped`),
runs a short offline campaign through `llem campaign up --executor local` on the PyTorch backend
(and vLLM when it is installed), runs one config in a fresh process before and after it, and adds a section
below. Each section is one run, on the date given, and is never edited afterwards.

Columns: **J/token** is GPU energy per output token over the measured window (NVML's energy
counter), **±** its whole uncertainty budget (since 2026-11-30; earlier sections: the counter's
resolution alone), **J/token above idle** subtracts the idle baseline, **counter vs sampled** is the
largest relative gap over the cycles between the counter and the integral of sampled power (the
cross-check: one sensor behind both, so it checks integration and timing, not the sensor),
**counter update ms** the update period measured before each window, **loaded idle W** the baseline
(since 2026-11-30 measured after the model loads and warms up; earlier: before it loaded).
**J/decode token** and **decode tokens/s** come from the differential split (`energy.prefill_split`):
a second window of the same prompts with a quarter of the output tokens; decode J/token is the slope
between the two windows' energy per pass, prefill the intercept (since 2026-11-30; earlier: one-token
passes of the same batches, subtracted).
Lines under the table name the power reading sampled (the instant field or the 1 s average), the
budget's parts and what it leaves out, the loaded idle baseline, and the time each throttle
reason held. The check only reads the GPU's settings; it never changes them.
**Warm start** compares units forked from the warm-start server with a fresh process of the same
config: both must run on CUDA and agree in tokens/s and J/token.
"""

# The check's workload: long enough windows for the counter (min_window_s), two batch sizes that
# load the GPU very differently, two interleaved cycles, and a fixed prompt length.
DEFAULT_BATCHES = (4, 32)
# Per model shape: the real check's workload, and a smoke run's that finishes in seconds on a CPU.
WORKLOADS: dict[str, dict[str, Any]] = {
    "llama-1b": {"n_prompts": 64, "input_tokens": 256, "output_tokens": 64, "baseline_s": 5, "harness_rounds": 4},
    "smoke": {"n_prompts": 32, "input_tokens": 16, "output_tokens": 4, "baseline_s": 0.5, "harness_rounds": 2},
}
# The harness ratio's batch: several batches per pass, so a few rounds give enough pairs.
HARNESS_BATCH = 8
FRESH_BATCH = 32


def campaign_document(
    name: str,
    model: Path,
    backends: list[str],
    batches: tuple[int, ...],
    cycles: int,
    min_window_s: float,
    warm_start: bool,
    workload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The campaign file the check runs (also written next to its results, for the record)."""
    work = workload or WORKLOADS["llama-1b"]
    sweep: dict[str, Any] = {"pytorch.batch_size": list(batches)}
    if "vllm" in backends:
        sweep["vllm.max_num_seqs"] = list(batches)
    return {
        "name": name,
        "model": str(model),
        "backend": backends,
        "precision": "bf16",
        "n_prompts": work["n_prompts"],
        "dataset": {"kind": "synthetic", "input_tokens": work["input_tokens"]},
        "max_input_tokens": work["input_tokens"],
        "max_output_tokens": work["output_tokens"],
        "warmup": {"n_runs": 2},
        "baseline": {"duration_s": work["baseline_s"]},
        "energy": {"min_window_s": min_window_s},
        "sweep": sweep,
        "execution": {"n_cycles": cycles, "cycle_order": "interleaved", "warm_start": warm_start},
    }


def campaign_results(campaign_dir: Path) -> list[ExperimentResult]:
    """Every valid result file of a campaign directory, in file-name order."""
    out = []
    for path in sorted(campaign_dir.glob("*.json")):
        if path.name in (MANIFEST_NAME, "campaign.resolved.json") or path.name.endswith(".error.json"):
            continue
        try:
            out.append(read_result(path))
        except InvalidResultError:
            continue
    return out


def _llem(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-c", "from llenergymeasure.cli.main import main; main()", *args]
    print("+ " + " ".join(f"{k}={v}" for k, v in (env or {}).items()) + " llem " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})})


def _run_campaign(
    work: Path, doc: dict[str, Any], env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> Path:
    path = work / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    results_root = work / "results"
    before = set(results_root.glob(f"{doc['name']}_*"))
    args = ("campaign", "up", str(path), "--results-dir", str(results_root), "--executor", "local", "--again", *extra)
    _llem(*args, env=env)
    (created,) = set(results_root.glob(f"{doc['name']}_*")) - before
    return created


def build_model(out: Path, shape: str = "llama-1b") -> None:
    """Build the model of ``shape`` (models.shaped.SHAPES) into ``out`` in a child process (module docstring)."""
    if (out / "config.json").is_file():
        return
    code = (
        "import sys, torch; from pathlib import Path; from llenergymeasure.models import shaped; "
        "device = 'cuda' if torch.cuda.is_available() else 'cpu'; "
        "n = shaped.build_random_llama(Path(sys.argv[1]), shaped.SHAPES[sys.argv[2]], device); "
        "print(f'built {n / 1e9:.3f} B parameters')"
    )
    subprocess.run([sys.executable, "-c", code, str(out), shape], check=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m llenergymeasure.gpucheck [--out docs/gpu.md] [--work DIR] [--cycles N] [--min-window-s S]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="gpu-check", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/gpu.md"), help="markdown file to add the run to")
    parser.add_argument("--work", type=Path, default=Path("/tmp/llem-gpucheck"), help="model, campaign and results")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--min-window-s", type=float, default=10.0)
    parser.add_argument(
        "--shape", choices=["llama-1b", "smoke"], default="llama-1b", help="smoke: a 2-layer model, to try the kit"
    )
    args = parser.parse_args(argv)

    try:
        uuid = NvmlDevices(load_pynvml(), (0,)).info()[0].uuid
    except EnergyUnavailableError as exc:
        print(f"error: gpu-check needs an NVIDIA GPU with NVML: {exc}", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.work / f"{args.shape}-shape-random"
    build_model(model, args.shape)

    backends = ["pytorch"]
    skipped = []
    if importlib.util.find_spec("vllm") is not None:
        backends.append("vllm")
    else:
        skipped.append("vLLM (not installed in this interpreter)")
    # A fresh process of one config runs before and after the warm campaign, so the forked units are
    # compared with fresh ones bracketing them in time (the host's pace drifts; docs/gpu.md). The fresh
    # unit is given its GPU by UUID, as the multi-GPU scheduler does: it must measure that GPU.
    work = WORKLOADS[args.shape]
    fresh_doc = campaign_document(
        "gpu-check-fresh", model, ["pytorch"], (FRESH_BATCH,), 1, args.min_window_s, False, work
    )
    dirs = [_run_campaign(args.work, fresh_doc, env={"CUDA_VISIBLE_DEVICES": uuid})]
    # --gpus all: units run in GPU slots, each given its GPUs by UUID (the multi-GPU path, one slot per GPU).
    warm_doc = campaign_document(
        "gpu-check", model, backends, DEFAULT_BATCHES, args.cycles, args.min_window_s, True, work
    )
    dirs.append(_run_campaign(args.work, warm_doc, extra=("--gpus", "all")))
    dirs.append(_run_campaign(args.work, fresh_doc, env={"CUDA_VISIBLE_DEVICES": uuid}))
    warm = campaign_results(dirs[1])
    fresh = [*campaign_results(dirs[0]), *campaign_results(dirs[2])]
    if not warm or not fresh:
        print(f"error: the check's campaigns left no results; see {', '.join(map(str, dirs))}", file=sys.stderr)
        return 1
    forks = [fork_check(warm, fresh)]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    n_params = warm[0].metrics.n_parameters
    model_line = (
        f"random {'Llama-3.2-1B' if args.shape == 'llama-1b' else args.shape} shape ({n_params / 1e9:.3f} B"
        f" parameters), bf16, {work['n_prompts']} synthetic prompts of {work['input_tokens']}"
        f" tokens, {work['output_tokens']} output tokens each, energy.min_window_s {args.min_window_s:g}"
        if n_params
        else str(model)
    )
    # Every unit, slotted (warm) or given its GPU by hand (fresh), must have measured exactly that GPU.
    scope = list(dict.fromkeys(scope_check(uuid, r) for r in [*warm, *fresh]))
    # Last, in this process (the campaigns are done): the window against a bare generate on this device.
    harness_cfg = ExperimentConfig.model_validate(
        {
            "model": str(model),
            "backend": "pytorch",
            "precision": "bf16",
            "n_prompts": work["n_prompts"],
            "dataset": {"kind": "synthetic", "input_tokens": work["input_tokens"]},
            "max_input_tokens": work["input_tokens"],
            "max_output_tokens": work["output_tokens"],
            "pytorch": {"batch_size": HARNESS_BATCH},
        }
    )
    harness = harness_ratio(harness_cfg, str(model), work["harness_rounds"]).line()
    print(harness, flush=True)
    section = run_section(when, [*warm, *fresh], forks, skipped, model_line, scope, harness=[harness])
    existing = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
    args.out.write_text(insert_run(existing, PREAMBLE, section), encoding="utf-8")
    print(section)
    return 0 if all(f.ok for f in forks) and all(s.startswith("ok") for s in scope) else 1
