"""Docker executor: one container per unit, driven through the Docker SDK (argument lists, no shell).

The campaign directory is bind-mounted at ``/campaign``; the container writes only its result,
timeseries, error file and caches there. The host alone writes the manifest.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from llenergymeasure import RESULT_SCHEMA_VERSION, __version__
from llenergymeasure.dispatch.base import JobOutcome, UnitJob, Watchdog
from llenergymeasure.dispatch.local import exp_command
from llenergymeasure.errors import ExecutorError

SCHEMA_LABEL = "org.llenergymeasure.result-schema"
LABEL_CAMPAIGN = "org.llenergymeasure.campaign-dir"
LABEL_UNIT = "org.llenergymeasure.unit"
MOUNT = "/campaign"
# Host environment forwarded into containers; values never reach logs or the manifest.
FORWARDED_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE")


def image_for(service: str) -> str:
    """Image of a service: ``$LLEM_IMAGE_<SERVICE>`` or ``llenergymeasure/<service>:<version>``."""
    return os.environ.get(f"LLEM_IMAGE_{service.upper()}", f"llenergymeasure/{service}:{__version__}")


def host_hf_cache() -> Path:
    """The host's Hugging Face cache (``$HF_HOME`` or ``~/.cache/huggingface``), shared with containers.

    Weights are then downloaded once; it is created here so it belongs to the host user, not root.
    """
    path = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExecutorError(f"{path}: cannot create the model cache ({exc.strerror}); set HF_HOME") from None
    return path


def docker_client() -> Any:
    """A connected Docker SDK client, or an ExecutorError saying how to get one."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        raise ExecutorError(
            f"Docker engine not reachable ({type(exc).__name__}: {exc}); start dockerd or use --executor local"
        ) from None
    return client


def docker_ready(services: set[str]) -> tuple[bool, str]:
    """Whether the engine is reachable and every service image exists; if not, why."""
    try:
        client = docker_client()
    except ExecutorError as exc:
        return False, str(exc)
    missing = [image_for(s) for s in sorted(services) if not _image_exists(client, image_for(s))]
    if missing:
        return False, f"image(s) not built: {', '.join(missing)} (docker compose build)"
    return True, ""


def _image_exists(client: Any, name: str) -> bool:
    import docker

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def check_image(client: Any, name: str) -> str:
    """Refuse an image that is missing or writes another result schema than this host reads; return its id."""
    import docker

    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        raise ExecutorError(f"image {name} not found; build it with `docker compose build`") from None
    labels = image.labels or {}
    found = labels.get(SCHEMA_LABEL)
    if found != RESULT_SCHEMA_VERSION:
        raise ExecutorError(
            f"image {name} writes result schema {found!r} but this llem reads {RESULT_SCHEMA_VERSION!r}; "
            "rebuild the image from this checkout (docker compose build)"
        )
    return str(image.id)


def gpu_requests(client: Any, gpus: str | None) -> list[Any]:
    """Device requests for ``gpus`` ("all", "0,1", or "none"); none where there is no NVIDIA runtime."""
    import docker

    if gpus == "none":
        return []
    if gpus is None:
        runtimes = (client.info() or {}).get("Runtimes", {}) or {}
        if "nvidia" not in runtimes:
            logger.warning("no NVIDIA container runtime; containers run without GPUs")
            return []
        gpus = "all"
    if gpus == "all":
        return [docker.types.DeviceRequest(driver="nvidia", count=-1, capabilities=[["gpu"]])]
    return [docker.types.DeviceRequest(driver="nvidia", device_ids=gpus.split(","), capabilities=[["gpu"]])]


class DockerExecutor:
    """Runs each unit in a fresh container of its backend's image."""

    name = "docker"

    def __init__(
        self,
        client: Any,
        gpus: str | None = None,
        poll_s: float = 0.5,
        shm_size: str = "8g",
        hf_cache: Path | None = None,
    ) -> None:
        self.client = client
        self.hf_cache = hf_cache or host_hf_cache()
        self.gpus = gpus
        self.poll_s = poll_s
        self.shm_size = shm_size
        self._checked: dict[str, str] = {}  # image name -> image id (digest), checked once

    @classmethod
    def from_env(cls) -> DockerExecutor:
        """Connect to the engine from the environment; ``LLEM_GPUS`` selects GPUs (all, 0,1 or none)."""
        return cls(docker_client(), gpus=os.environ.get("LLEM_GPUS"))

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Run ``llem-exp`` in a container, stream its logs, enforce the watchdog, remove it."""
        import docker

        image = image_for(job.service)
        if image not in self._checked:
            self._checked[image] = check_image(self.client, image)
        config_in = f"{MOUNT}/{job.config_file.relative_to(job.campaign_dir).as_posix()}"
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        env.update(job.env)
        env.update(
            {"HOME": "/tmp", "LLEM_IMAGE": image, "LLEM_IMAGE_ID": self._checked[image], "PYTHONUNBUFFERED": "1"}
        )
        try:
            container = self.client.containers.run(
                image,
                command=["llem-exp", *exp_command(job, config_in, MOUNT)],
                detach=True,
                volumes={
                    str(job.campaign_dir.resolve()): {"bind": MOUNT, "mode": "rw"},
                    str(self.hf_cache): {"bind": "/hf-cache", "mode": "rw"},
                },
                working_dir=MOUNT,
                environment=env,
                labels={LABEL_CAMPAIGN: str(job.campaign_dir.resolve()), LABEL_UNIT: job.key},
                device_requests=gpu_requests(self.client, self.gpus),
                user=f"{os.getuid()}:{os.getgid()}",
                ipc_mode="host",
                shm_size=self.shm_size,
                name=f"llem-{job.campaign_id}-{job.key}"[:120] if job.campaign_id else None,
            )
        except docker.errors.DockerException as exc:
            raise ExecutorError(f"cannot start container for {job.key} from {image}: {exc}") from None
        on_started(f"container:{container.id[:12]}")
        dog = Watchdog(job.timeout_s, job.idle_timeout_s, time.monotonic())
        reader = threading.Thread(target=_pump, args=(container, job, dog), daemon=True)
        reader.start()
        stopped = None
        try:
            code = None
            while code is None:
                time.sleep(self.poll_s)
                container.reload()
                if container.status in ("exited", "dead"):
                    code = int(container.attrs["State"]["ExitCode"])
                    break
                stopped = dog.expired(time.monotonic())
                if stopped:
                    logger.warning("unit {} {}; stopping container {}", job.key, stopped, container.short_id)
                    container.kill()
                    code = -9
        finally:
            reader.join(timeout=5)
            _remove(container)
        return JobOutcome(exit_code=code, stopped=stopped)

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str]) -> list[str]:
        """Remove every container labelled with this campaign directory (a crashed host's leftovers)."""
        found = self.client.containers.list(all=True, filters={"label": f"{LABEL_CAMPAIGN}={campaign_dir.resolve()}"})
        removed = []
        for container in found:
            _remove(container)
            removed.append(f"container:{container.short_id}")
        return removed


def _pump(container: Any, job: UnitJob, dog: Watchdog) -> None:
    """Stream container output into the unit log and the host log."""
    try:
        with open(job.log_file, "ab") as log:
            for chunk in container.logs(stream=True, follow=True):
                dog.poke(time.monotonic())
                log.write(chunk)
                log.flush()
                logger.opt(raw=True).info(chunk.decode(errors="replace"))
    except Exception as exc:  # the container went away under us; the wait loop reports the outcome
        logger.debug("log stream of {} ended: {}", job.key, exc)


def _remove(container: Any) -> None:
    import docker

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        logger.warning("could not remove container {}: {}", container.short_id, exc)
