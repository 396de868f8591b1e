"""Choose the executor: docker when an engine and the service images are there, else local."""

from __future__ import annotations

from loguru import logger

from llenergymeasure.config.campaign import SlurmConfig
from llenergymeasure.dispatch.base import Executor


def make_executor(name: str, services: set[str] | None = None, slurm: SlurmConfig | None = None) -> Executor:
    """``local``, ``docker``, ``slurm`` (with options ``slurm``), or ``auto`` (docker if ready, else local)."""
    from llenergymeasure.dispatch.local import LocalExecutor

    if name == "local":
        return LocalExecutor()
    if name == "slurm":
        from llenergymeasure.dispatch.slurm import SlurmExecutor

        return SlurmExecutor(slurm or SlurmConfig())
    from llenergymeasure.dispatch.docker import DockerExecutor, docker_ready

    if name == "docker":
        return DockerExecutor.from_env()
    ready, why = docker_ready(services or set())
    if ready:
        return DockerExecutor.from_env()
    logger.info("using the local executor: {}", why)
    return LocalExecutor()
