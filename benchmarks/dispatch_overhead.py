"""Per-unit dispatch overhead of the local and docker executors beyond the experiment itself.

Overhead = wall time of one unit through the executor (process or container start, interpreter
and torch import, result hand-back, manifest writes) minus the same experiment run in-process with
everything already imported. Target: < 2 s for docker. The docker part needs the CPU test image
(tests/dockerimage.py builds it) and a running engine; it is skipped with a note otherwise.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import yaml

from benchmarks.common import scratch, tiny_config
from llenergymeasure.campaign.hashing import config_hash
from llenergymeasure.campaign.layout import create_campaign_dir
from llenergymeasure.dispatch.base import UnitJob
from llenergymeasure.dispatch.local import LocalExecutor
from llenergymeasure.errors import EnergyUnavailableError
from llenergymeasure.experiment.runner import run_experiment

REPEATS = 3


def no_nvml() -> object:
    raise EnergyUnavailableError("benchmark on CPU")


def unit_wall_s(executor, cfg) -> float:  # type: ignore[no-untyped-def]
    layout = create_campaign_dir(scratch(), "bench")
    path = layout.configs / "exp001.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))
    job = UnitJob(
        key="exp001_c1",
        backend="pytorch",
        service="pytorch",
        campaign_dir=layout.root,
        config_file=path,
        stem="r",
        config_hash=config_hash(cfg),
        cycle=1,
        timeout_s=600,
        idle_timeout_s=600,
        log_file=layout.logs / "r.log",
        campaign_id=layout.root.name,
    )
    start = time.perf_counter()
    outcome = executor.run(job, lambda handle: None)
    wall = time.perf_counter() - start
    assert outcome.exit_code == 0, (layout.logs / "r.log").read_text()
    return wall


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
    print(f"in-process experiment : {base:6.2f} s")
    imports = statistics.median(import_s() for _ in range(REPEATS))
    print(f"fresh interpreter + torch/transformers import: {imports:6.2f} s (paid by every isolated unit)")
    local = statistics.median(unit_wall_s(LocalExecutor(), cfg) for _ in range(REPEATS))
    print(f"local executor unit   : {local:6.2f} s  -> overhead {local - base:5.2f} s")
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
    executor = DockerExecutor(client, gpus="none")
    docker_wall = statistics.median(unit_wall_s(executor, cfg) for _ in range(REPEATS))
    print(f"docker executor unit  : {docker_wall:6.2f} s  -> overhead {docker_wall - base:5.2f} s  (target < 2 s)")
    print(f"container lifecycle beyond a local process: {docker_wall - local:5.2f} s")
    print(f"docker overhead excluding the interpreter/import cost: {docker_wall - base - imports:5.2f} s")


if __name__ == "__main__":
    main()
