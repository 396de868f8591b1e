"""Choose the executor: docker when an engine and the service images are there, else local."""

from __future__ import annotations

from loguru import logger

from llenergymeasure.dispatch.base import Executor


def make_executor(name: str, services: set[str] | None = None) -> Executor:
    """``local``, ``docker``, or ``auto`` (docker if reachable with images for ``services``, else local)."""
    from llenergymeasure.dispatch.local import LocalExecutor

    if name == "local":
        return LocalExecutor()
    from llenergymeasure.dispatch.docker import DockerExecutor, docker_ready

    if name == "docker":
        return DockerExecutor.from_env()
    ready, why = docker_ready(services or set())
    if ready:
        return DockerExecutor.from_env()
    logger.info("using the local executor: {}", why)
    return LocalExecutor()
