"""The harness ratio on the check's own device: llem's measured window against a bare ``generate``.

The window (``PyTorchRunner.execute`` on inputs prepared before it) and a bare ``model.generate``
on the same pre-built tensors run batch by batch on one loaded model, rotating which goes first;
the figure is the median of the paired bare/window time ratios (equal tokens, so the tokens/s
ratio) with a seeded bootstrap 95 % interval. Host speed drifts within seconds on shared machines,
so only paired ratios resolve a 1 % question. Runs in the check's process after its campaigns.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llenergymeasure.config.experiment import ExperimentConfig


@dataclass(frozen=True)
class HarnessRatio:
    """Median window-vs-bare tokens/s ratio, its interval, how many pairs, on which device."""

    median: float
    ci_low: float
    ci_high: float
    pairs: int
    device: str

    def line(self) -> str:
        """The docs/gpu.md line."""
        return (
            f"Harness window vs a bare generate on {self.device}: median tokens/s ratio {self.median:.4f},"
            f" 95 % CI [{self.ci_low:.4f}, {self.ci_high:.4f}], {self.pairs} paired batches (target >= 0.99)"
        )


def bootstrap_median_ci(ratios: Sequence[float], seed: int = 0, draws: int = 2000) -> tuple[float, float, float]:
    """Median of ``ratios`` and its bootstrap 95 % interval (seeded: the same data gives the same interval)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(list(ratios), k=len(ratios))) for _ in range(draws))
    return float(statistics.median(ratios)), meds[int(0.025 * draws)], meds[int(0.975 * draws) - 1]


def rotating_pairs(
    batches: Sequence[Any], bare: Callable[[Any], float], window: Callable[[Any], float], rounds: int
) -> list[float]:
    """bare/window time per batch, ``rounds`` times over the batches, alternating which runs first."""
    ratios = []
    for r in range(rounds):
        for k, batch in enumerate(batches):
            if (r + k) % 2:
                b, w = bare(batch), window(batch)
            else:
                w, b = window(batch), bare(batch)
            ratios.append(b / w)
    return ratios


def harness_ratio(config: ExperimentConfig, model_path: str, rounds: int) -> HarnessRatio:
    """Load ``model_path`` once with the PyTorch runner and pair its window with a bare ``generate``."""
    import torch

    from llenergymeasure.backends.pytorch.runner import PyTorchRunner
    from llenergymeasure.experiment.prompts import select_prompts

    runner = PyTorchRunner(config)
    runner.load(model_path)
    section: Any = config.backend_section()
    prompts = select_prompts(config, runner.vocab_size)
    batches = [runner.prepare(prompts[i : i + section.batch_size]) for i in range(0, len(prompts), section.batch_size)]
    sync = runner.device.type == "cuda"

    def bare(prepared: Any) -> float:
        b = prepared.batches[0]
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            runner.model.generate(**b.inputs, **b.gen)
        if sync:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def window(prepared: Any) -> float:
        start = time.perf_counter()
        runner.execute(prepared)
        return time.perf_counter() - start

    bare(batches[0]), window(batches[0])  # warm both paths
    med, lo, hi = bootstrap_median_ci(rotating_pairs(batches, bare, window, rounds))
    device = str(runner.device)
    runner.teardown()
    return HarnessRatio(med, lo, hi, rounds * len(batches), device)
