"""Can every backend of a campaign run under the chosen executor? Asked once, before anything starts.

Without it a missing image or engine fails each unit in turn, after the campaign directory was
made. Docker: the backend's image exists and writes the result schema this host reads. Local: the
interpreter ``dispatch.interpreters`` picks can import the backend's engine. Slurm: a partition
with GPUs when units ask for GPUs.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from llenergymeasure.backends.registry import SERVICES, engine_module
from llenergymeasure.dispatch.base import Executor
from llenergymeasure.dispatch.docker import DockerExecutor, check_image, image_for
from llenergymeasure.dispatch.interpreters import VENV_SCRIPTS, can_import, env_var
from llenergymeasure.dispatch.local import LocalExecutor
from llenergymeasure.dispatch.mounts import local_models, proc_mounts, slurm_model_problem
from llenergymeasure.dispatch.slurm import SlurmExecutor
from llenergymeasure.errors import ExecutorError


def engine_problems(executor: Executor, backends: Iterable[str]) -> list[str]:
    """One line per backend that cannot run under ``executor``, with the fix; empty when all can.

    Executors this module does not know are not checked (their units report their own failures).
    """
    names = list(dict.fromkeys(backends))
    if isinstance(executor, DockerExecutor):
        return [p for b in names if (p := _image_problem(executor, b))]
    if isinstance(executor, LocalExecutor):
        return [p for b in names if (p := _local_problem(executor, b))]
    return []


def scheduler_problems(executor: Executor, gpus_per_unit: Iterable[int]) -> list[str]:
    """Can the scheduler give each unit what it asks? Slurm: a GPU request needs a partition with GPUs (sinfo)."""
    if not isinstance(executor, SlurmExecutor):
        return []
    try:
        problem = executor.partition_problem(max(gpus_per_unit, default=0))
    except ExecutorError as exc:
        return [str(exc)]
    return [problem] if problem else []


def _image_problem(executor: DockerExecutor, backend: str) -> str | None:
    try:
        check_image(executor.client, image_for(SERVICES[backend]))
    except ExecutorError as exc:
        return f"backend {backend}: {exc}"
    return None


def _local_problem(executor: LocalExecutor, backend: str) -> str | None:
    module = engine_module(backend)
    try:
        python = executor.python_for(backend)
    except ExecutorError as exc:
        return f"backend {backend}: {exc}"
    here = python == sys.executable
    if (importlib.util.find_spec(module) is not None) if here else can_import(python, module):
        return None
    script = VENV_SCRIPTS.get(backend)
    venv = f"run `bash {script}` (makes .venv-{backend}), or " if script else ""
    return (
        f"backend {backend}: {python} cannot import {module}; {venv}set {env_var(backend)} to an interpreter "
        f"that has it, or use --executor docker with the {SERVICES[backend]} image"
    )


def model_path_problems(
    executor: Executor, models: Iterable[str], environ: Mapping[str, str] | None = None, mounts: str | None = None
) -> list[str]:
    """One line per local model folder the units could not read where ``executor`` runs them.

    Paths are absolute by now (``ExperimentConfig.with_resolved_paths``). Local: the host's own
    folders. Docker: mounted read-only at the same path, which needs the engine on this machine (a
    ``DOCKER_HOST`` over tcp or ssh cannot mount a folder of this one). Slurm: jobs start in the
    campaign folder on a compute node, which cannot read a folder on this node's memory filesystem.
    """
    folders = local_models(models)
    if not folders:
        return []
    env = os.environ if environ is None else environ
    if isinstance(executor, DockerExecutor):
        remote = env.get("DOCKER_HOST", "")
        if remote and not remote.startswith(("unix://", "npipe://")):
            return [
                f"model {m}: a local folder, but the Docker engine at DOCKER_HOST={remote} runs on another machine "
                "and cannot mount it; copy the model there and name that path, or use a Hub id"
                for m in folders
            ]
        return []
    if isinstance(executor, SlurmExecutor):
        text = proc_mounts() if mounts is None else mounts
        return [p for m in folders if (p := slurm_model_problem(Path(m), text))]
    return []
