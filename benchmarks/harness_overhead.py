"""Harness overhead: tokens/s of llem-exp vs a bare transformers generate loop (target ratio >= 0.99).

Same tiny model, prompts, batch size and decoding. On a shared VM the whole machine's speed drifts
by 10-30 % within seconds, so a 1 % difference can only be resolved statistically:

1. The figure: the harness's measured window (the PyTorch runner's ``execute`` that llem-exp times:
   generate with its first-token clock on inputs prepared before the window; records come after)
   against a bare generate on the same pre-built inputs, batch by batch on one loaded model,
   rotating which goes first: the median of 200 paired ratios with a bootstrap 95 % interval. Beside
   it, the same window with the power sampler's thread running (the telemetry's cost).
2. End to end, for context: whole llem-exp experiments in a fresh process and as a warm-start unit
   (forked from the server, as campaigns run by default) against the bare loop, paired runs in
   rotating order.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from benchmarks.common import scratch, tiny_config
from llenergymeasure.backends.pytorch.runner import PyTorchRunner
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.dispatch.processes import client_command, serve_command
from llenergymeasure.experiment.forkserver import READY
from llenergymeasure.experiment.prompts import select_prompts
from llenergymeasure.experiment.runner import resolve_model

REPEATS = 7
ROUNDS = 25  # x 8 batches = 200 paired batches


def bare_kwargs(cfg: ExperimentConfig, tok: Any) -> dict[str, Any]:
    """Greedy decoding of exactly ``max_output_tokens``, as the experiment's settings ask."""
    return {
        "max_new_tokens": cfg.max_output_tokens,
        "min_new_tokens": cfg.max_output_tokens,
        "do_sample": False,
        "pad_token_id": tok.pad_token_id,
    }


def bare_tokens_per_s(model_path: str, cfg) -> float:  # type: ignore[no-untyped-def]
    tok = AutoTokenizer.from_pretrained(model_path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    prompts = select_prompts(cfg, len(tok))
    ids = [tok.encode(p)[: cfg.max_input_tokens] for p in prompts]
    bs = cfg.pytorch.batch_size
    kwargs = bare_kwargs(cfg, tok)
    with torch.inference_mode():
        model.generate(**tok.pad({"input_ids": ids[:bs]}, return_tensors="pt"), **kwargs)  # warmup
        start = time.perf_counter()
        n_out = 0
        for i in range(0, len(ids), bs):
            batch = tok.pad({"input_ids": ids[i : i + bs]}, return_tensors="pt")
            out = model.generate(**batch, **kwargs)
            n_out += (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
        return n_out / (time.perf_counter() - start)


def fresh_tokens_per_s(cfg_file: Path, out: Path, stem: str) -> float:
    """Run the experiment as ``warm_start: false`` does: a fresh interpreter."""
    argv = [sys.executable, "-m", "llenergymeasure.experiment.entrypoint", str(cfg_file), "--out", str(out)]
    subprocess.run([*argv, "--stem", stem], check=True, capture_output=True)
    return float(json.loads((out / f"{stem}.json").read_text())["metrics"]["output_tokens_per_s"])


def forked_tokens_per_s(sock: str, cfg_file: Path, out: Path, stem: str) -> float:
    """Run the experiment as a campaign unit with warm start would: forked from the server."""
    argv = client_command(sys.executable, sock, [str(cfg_file), "--out", str(out), "--stem", stem])
    subprocess.run(argv, check=True, capture_output=True)
    return float(json.loads((out / f"{stem}.json").read_text())["metrics"]["output_tokens_per_s"])


def ci95(ratios: list[float]) -> tuple[float, float, float]:
    """Median of paired ratios and its bootstrap 95 % interval (seeded, so a rerun on the same data agrees)."""
    rng = random.Random(0)
    meds = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    return statistics.median(ratios), meds[50], meds[1949]


def paired_batches(cfg: ExperimentConfig, model_path: str) -> tuple[list[float], list[float]]:
    """Per batch on one loaded model: bare/harness time and harness/(harness beside the sampler) time.

    The harness's window is ``execute`` on inputs ``prepare`` built beforehand (as llem-exp's window
    is); the bare loop is ``model.generate`` on the same pre-built tensors (as a peer's inline timer
    is). The third variant is the harness window with the power sampler's thread running at its
    default 100 ms against the fake NVML, for what the telemetry thread costs.
    """
    from tests.fakes.nvml import FakeNvml

    from llenergymeasure.energy.nvml import NvmlDevices
    from llenergymeasure.energy.sampler import PowerSampler

    runner = PyTorchRunner(cfg)
    runner.load(model_path)
    tok, model = runner.tokenizer, runner.model
    prompts = select_prompts(cfg, runner.vocab_size)
    bs = cfg.pytorch.batch_size
    kwargs = bare_kwargs(cfg, tok)
    sampler = PowerSampler(NvmlDevices(FakeNvml()), 0.1)

    def bare(prepared: Any) -> float:
        inputs = prepared.batches[0].inputs
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(**inputs, **kwargs)
        return time.perf_counter() - start

    def harness(prepared: Any) -> float:
        start = time.perf_counter()
        runner.execute(prepared)
        return time.perf_counter() - start

    def sampled(prepared: Any) -> float:
        sampler.start()
        try:
            return harness(prepared)
        finally:
            sampler.stop()

    batches = [runner.prepare(prompts[i : i + bs]) for i in range(0, len(prompts), bs)]
    for f in (bare, harness, sampled):  # warm every path
        f(batches[0])
    hooks, thread = [], []
    for r in range(ROUNDS):
        for k, batch in enumerate(batches):
            order = [bare, harness, sampled]
            shift = (r + k) % 3
            times = {f: f(batch) for f in order[shift:] + order[:shift]}
            hooks.append(times[bare] / times[harness])  # equal tokens: the time ratio is the tokens/s ratio
            thread.append(times[harness] / times[sampled])
    return hooks, thread


def main() -> None:
    cfg = tiny_config(n_prompts=64, max_output_tokens=64)
    out = scratch()
    path = resolve_model(cfg.model)
    hooks, thread = paired_batches(cfg, str(path))
    med, lo, hi = ci95(hooks)
    verdict = "met" if med >= 0.99 else "missed"
    print(f"harness window vs bare, {ROUNDS * 8} paired batches: median ratio {med:.4f}, 95% CI [{lo:.4f}, {hi:.4f}]")
    print(f"harness/bare tokens/s: {med:.3f}  (target >= 0.99: {verdict})")
    med, lo, hi = ci95(thread)
    print(f"the sampler thread at 100 ms beside the window: tokens/s ratio {med:.4f}, 95% CI [{lo:.4f}, {hi:.4f}]")

    cfg_file = out / "cfg.yaml"
    cfg_file.write_text(json.dumps(cfg.model_dump(mode="json", exclude_none=True)))
    sock = str(out / "s")
    server = subprocess.Popen(
        serve_command(sys.executable, sock, "pytorch"),
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert server.stdout is not None
    for line in server.stdout:
        if READY in line:
            break
    bare: list[float] = []
    fresh: list[float] = []
    forked: list[float] = []
    try:
        runs: list[tuple[list[float], Callable[[int], float]]] = [
            (bare, lambda i: bare_tokens_per_s(str(path), cfg)),
            (fresh, lambda i: fresh_tokens_per_s(cfg_file, out, f"h{i}")),
            (forked, lambda i: forked_tokens_per_s(sock, cfg_file, out, f"f{i}")),
        ]
        for i in range(REPEATS):
            for k in range(len(runs)):  # rotate the order so no variant always runs first or last
                into, run = runs[(i + k) % len(runs)]
                into.append(run(i))
    finally:
        server.terminate()
        server.wait()
    print(f"end to end, {REPEATS} paired whole experiments (context; this machine's noise dominates):")
    print(f"  bare generate loop: median {statistics.median(bare):8.1f} output tok/s")
    for label, runs_ in (("llem-exp fresh process", fresh), ("llem-exp warm-start unit", forked)):
        m, lo_, hi_ = ci95([r / b for r, b in zip(runs_, bare, strict=True)])
        print(f"  {label}: median {statistics.median(runs_):8.1f} tok/s; paired ratio {m:.3f} [{lo_:.3f}, {hi_:.3f}]")


if __name__ == "__main__":
    main()
