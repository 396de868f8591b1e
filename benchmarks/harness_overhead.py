"""Harness overhead: tokens/s of the llem-exp body vs a bare transformers generate loop.

Same tiny model, same prompts, batch size and decoding; the two are interleaved and repeated, and
the median of each is compared. Target: ratio >= 0.99.
"""

from __future__ import annotations

import statistics
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from benchmarks.common import scratch, tiny_config
from llenergymeasure.campaign.hashing import config_hash
from llenergymeasure.errors import EnergyUnavailableError
from llenergymeasure.experiment.prompts import select_prompts
from llenergymeasure.experiment.runner import resolve_model, run_experiment

REPEATS = 7


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


def main() -> None:
    cfg = tiny_config()
    out = scratch()
    path = resolve_model(cfg.model)
    bare, harness = [], []
    for i in range(REPEATS):
        bare.append(bare_tokens_per_s(str(path), cfg))
        r = run_experiment(cfg, out, f"h{i}", config_hash(cfg), 1, nvml_loader=no_nvml)  # type: ignore[arg-type]
        harness.append(r.result.metrics.output_tokens_per_s)
    b, h = statistics.median(bare), statistics.median(harness)
    print(f"bare generate loop : {b:10.1f} output tok/s (median of {REPEATS})")
    print(f"llem-exp harness   : {h:10.1f} output tok/s (median of {REPEATS})")
    print(f"ratio harness/bare : {h / b:.3f}  (target >= 0.99)")


if __name__ == "__main__":
    main()
