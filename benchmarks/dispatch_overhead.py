"""Per-unit dispatch overhead of the local and docker executors beyond the experiment itself.

Overhead = wall time of one unit through the executor (process or container start, interpreter
and torch import where paid, result hand-back) minus the same experiment run in-process with
everything already imported. Each executor is measured with warm start (the default: units are
forked from a per-backend server that imported torch/transformers once; its one-time start is
reported apart) and without (a fresh interpreter, and for docker a fresh container, per unit).
Target: < 2 s for docker. The docker part needs the CPU test image (tests/dockerimage.py builds
it) and a running engine; it is skipped with a note otherwise.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

import yaml

from benchmarks.common import scratch, tiny_config
from llenergymeasure.campaign.layout import CampaignLayout, create_campaign_dir
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.dispatch.base import UnitJob
from llenergymeasure.dispatch.local import LocalExecutor
from llenergymeasure.errors import EnergyUnavailableError
from llenergymeasure.experiment.runner import run_experiment

REPEATS = 5


def no_nvml() -> object:
    raise EnergyUnavailableError("benchmark on CPU")


class Units:
    """Units of one campaign directory run one after another through one executor."""

    def __init__(self, executor: Any, cfg: ExperimentConfig, warm: bool) -> None:
        self.executor, self.cfg, self.warm = executor, cfg, warm
        self.layout: CampaignLayout = create_campaign_dir(scratch(), "bench")
        self.path = self.layout.configs / "exp001.yaml"
        self.path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))
        self.n = 0

    def wall_s(self) -> float:
        self.n += 1
        job = UnitJob(
            key=f"exp001_c{self.n}",
            backend="pytorch",
            service="pytorch",
            campaign_dir=self.layout.root,
            config_file=self.path,
            stem=f"r{self.n}",
            config_hash=config_hash(self.cfg),
            cycle=self.n,
            timeout_s=600,
            idle_timeout_s=600,
            log_file=self.layout.logs / f"r{self.n}.log",
            campaign_id=self.layout.root.name,
            warm=self.warm,
        )
        start = time.perf_counter()
        outcome = self.executor.run(job, lambda handle: None)
        wall = time.perf_counter() - start
        assert outcome.exit_code == 0, job.log_file.read_text()
        return wall


def measure(label: str, executor: Any, cfg: ExperimentConfig, base: float) -> dict[str, float]:
    """Median unit wall time without and with warm start; the warm server's start is reported apart."""
    cold = statistics.median(Units(executor, cfg, warm=False).wall_s() for _ in range(REPEATS))
    warm_units = Units(executor, cfg, warm=True)
    first = warm_units.wall_s()
    warm = statistics.median(warm_units.wall_s() for _ in range(REPEATS))
    executor.close()
    print(f"{label} fresh start per unit : {cold:6.2f} s  -> overhead {cold - base:5.2f} s")
    print(f"{label} warm start per unit  : {warm:6.2f} s  -> overhead {warm - base:5.2f} s")
    print(f"{label} warm server start    : {first - warm:6.2f} s once per campaign run and backend")
    return {"cold": cold - base, "warm": warm - base}


def import_s() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import llenergymeasure.backends.pytorch.runner"], check=True)
    return time.perf_counter() - start


def main() -> None:
    cfg = tiny_config(n_prompts=8)
    run_experiment(cfg, scratch(), "warm", config_hash(cfg), 1, nvml_loader=no_nvml)  # import + build once
    inproc = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        run_experiment(cfg, scratch(), "x", config_hash(cfg), 1, nvml_loader=no_nvml)  # type: ignore[arg-type]
        inproc.append(time.perf_counter() - t)
    base = statistics.median(inproc)
    print(f"in-process experiment (everything imported): {base:6.2f} s")
    imports = statistics.median(import_s() for _ in range(3))
    print(f"fresh interpreter + torch/transformers import: {imports:6.2f} s (paid per unit without warm start)")
    measure("local ", LocalExecutor(), cfg, base)
    try:
        import docker
        from tests.dockerimage import TEST_IMAGE

        from llenergymeasure.dispatch.docker import DockerExecutor

        client = docker.from_env(timeout=60)
        client.images.get(TEST_IMAGE)
    except Exception as exc:
        print(f"docker executor       : skipped ({type(exc).__name__}: {exc})")
        return
    os.environ["LLEM_IMAGE_PYTORCH"] = TEST_IMAGE
    os.environ["HF_HOME"] = str(scratch())
    got = measure("docker", DockerExecutor(client, gpus="none"), cfg, base)
    verdict = "met" if got["warm"] < 2 else "missed"
    print(f"docker per-unit overhead with warm start (the default): {got['warm']:.2f} s (target < 2 s: {verdict})")


if __name__ == "__main__":
    main()
