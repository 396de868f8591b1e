"""Harness overhead: tokens/s of the llem-exp body vs a bare transformers generate loop.

Same tiny model, same prompts, batch size and decoding; the runs are interleaved and repeated, and
the best and the median of each are compared. Target: ratio >= 0.99. The harness is measured in-process and, as
campaigns run it by default, in a unit forked from a warm-start server, which must not be slower
than a fresh process (a fork that inherited a spent thread pool would be).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from benchmarks.common import scratch, tiny_config
from llenergymeasure.campaign.hashing import config_hash
from llenergymeasure.errors import EnergyUnavailableError
from llenergymeasure.experiment.forkserver import READY
from llenergymeasure.experiment.prompts import select_prompts
from llenergymeasure.experiment.runner import resolve_model, run_experiment

REPEATS = 9


def no_nvml() -> object:
    raise EnergyUnavailableError("benchmark on CPU")


def bare_tokens_per_s(model_path: str, cfg) -> float:  # type: ignore[no-untyped-def]
    tok = AutoTokenizer.from_pretrained(model_path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    prompts = select_prompts(cfg, len(tok))
    ids = [tok.encode(p)[: cfg.max_input_tokens] for p in prompts]
    bs = cfg.pytorch.batch_size
    kwargs = {
        "max_new_tokens": cfg.max_output_tokens,
        "min_new_tokens": cfg.max_output_tokens,
        "do_sample": False,
        "pad_token_id": tok.pad_token_id,
    }
    with torch.inference_mode():
        model.generate(**tok.pad({"input_ids": ids[:bs]}, return_tensors="pt"), **kwargs)  # warmup
        start = time.perf_counter()
        n_out = 0
        for i in range(0, len(ids), bs):
            batch = tok.pad({"input_ids": ids[i : i + bs]}, return_tensors="pt")
            out = model.generate(**batch, **kwargs)
            n_out += (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
        return n_out / (time.perf_counter() - start)


def forked_tokens_per_s(sock: str, cfg_file: Path, out: Path, stem: str) -> float:
    """Run the experiment as a campaign unit with warm start would: forked from the server."""
    argv = [sys.executable, "-m", "llenergymeasure.experiment.forkserver", "run", sock, "--"]
    subprocess.run([*argv, str(cfg_file), "--out", str(out), "--stem", stem], check=True, capture_output=True)
    return float(json.loads((out / f"{stem}.json").read_text())["metrics"]["output_tokens_per_s"])


def main() -> None:
    cfg = tiny_config(n_prompts=64, max_output_tokens=64)  # ~1 s measured window: short ones are noise here
    out = scratch()
    path = resolve_model(cfg.model)
    cfg_file = out / "cfg.yaml"
    cfg_file.write_text(json.dumps(cfg.model_dump(mode="json", exclude_none=True)))
    sock = str(out / "s")
    server = subprocess.Popen(
        [sys.executable, "-m", "llenergymeasure.experiment.forkserver", "serve", sock, "--backend", "pytorch"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert server.stdout is not None
    for line in server.stdout:
        if READY in line:
            break
    bare, harness, forked = [], [], []
    try:
        for i in range(REPEATS):
            bare.append(bare_tokens_per_s(str(path), cfg))
            r = run_experiment(cfg, out, f"h{i}", config_hash(cfg), 1, nvml_loader=no_nvml)  # type: ignore[arg-type]
            harness.append(r.result.metrics.output_tokens_per_s)
            forked.append(forked_tokens_per_s(sock, cfg_file, out, f"f{i}"))
    finally:
        server.terminate()
        server.wait()
    # Best-of-N is the run least disturbed by the rest of the machine (as timeit reports); medians
    # are printed beside it because on a shared 2-vCPU VM run-to-run spread is several percent.
    for label, runs in (
        ("bare generate loop", bare),
        ("llem-exp, in-process", harness),
        ("llem-exp, warm-start unit", forked),
    ):
        print(f"{label:26}: best {max(runs):8.1f}  median {statistics.median(runs):8.1f} output tok/s ({REPEATS} runs)")
    for label, runs in (("in-process", harness), ("warm-start", forked)):
        best, med = max(runs) / max(bare), statistics.median(runs) / statistics.median(bare)
        print(f"ratio {label}/bare: best {best:.3f}  median {med:.3f}  (target >= 0.99)")


if __name__ == "__main__":
    main()
