"""Docker executor: units run in their backend's container, driven through the Docker SDK (no shell).

With warm start (the default) one container per backend image serves the whole campaign run: it
runs the warm-start server (``experiment.forkserver``), and each unit is a ``docker exec`` of its
client, so the unit is a fresh process forked from an interpreter that already imported the engine.
Without warm start each unit gets a fresh container. A unit that must be stopped takes its
container with it either way. The campaign directory is mounted read-only at ``/campaign``; a unit
writes only its own staging folder at ``/out``, which the host moves into the campaign when the unit
ends (``dispatch.mounts``). The host alone writes the manifest. Containers get a private /dev/shm of
``shm_size`` rather than the host's IPC namespace: every engine here (vLLM's tensor-parallel
workers and NCCL included) shares memory only among processes of the same container.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from loguru import logger

from llenergymeasure import RESULT_SCHEMA_VERSION, __version__
from llenergymeasure.dispatch.base import Executor, JobOutcome, UnitJob, Watchdog, pump, supervise
from llenergymeasure.dispatch.local import exp_command
from llenergymeasure.dispatch.mounts import (
    MOUNT,
    OUT,
    harvest,
    harvest_all,
    local_campaign_models,
    prepare_staging,
    staging_dir,
    unit_volumes,
)
from llenergymeasure.dispatch.processes import client_command, serve_command
from llenergymeasure.errors import ExecutorError
from llenergymeasure.experiment.forkserver import MODULE, READY

SERVER_SOCK = "/tmp/llem-forkserver.sock"  # inside the server container, reached by `docker exec`
EXEC_NOT_STARTED = 126  # Docker's status for an exec whose command could not be started

SCHEMA_LABEL = "org.llenergymeasure.result-schema"
LABEL_CAMPAIGN = "org.llenergymeasure.campaign-dir"
LABEL_UNIT = "org.llenergymeasure.unit"
LABEL_RUN = "org.llenergymeasure.run-id"  # the `up`/`resume` invocation that started the container
# Host environment forwarded into containers; values never reach logs or the manifest.
FORWARDED_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE")
# vLLM's own settings (VLLM_ENABLE_V1_MULTIPROCESSING, VLLM_CPU_KVCACHE_SPACE, ...) reach its units in
# a container as they do under the local executor, which inherits the whole environment.
FORWARDED_PREFIXES = ("VLLM_",)


def forwarded_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of the host environment a unit's container gets."""
    return {k: v for k, v in environ.items() if k in FORWARDED_ENV or k.startswith(FORWARDED_PREFIXES)}


def image_for(service: str, environ: Mapping[str, str] | None = None) -> str:
    """Image of a service: ``$LLEM_IMAGE_<SERVICE>``, else ``llenergymeasure/<service>:$LLEM_VERSION``.

    ``LLEM_VERSION`` is the variable docker-compose.yml tags its images with, so one ``export``
    (``LLEM_VERSION=cpu-test`` for the CPU images) selects the same images for ``docker compose run``
    and for ``llem campaign up --executor docker``; unset, it is this llem's version.
    """
    env = os.environ if environ is None else environ
    default = f"llenergymeasure/{service}:{env.get('LLEM_VERSION') or __version__}"
    return env.get(f"LLEM_IMAGE_{service.upper()}", default)


def selected_images(services: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The image ``image_for`` picks for each service: what a campaign records at ``up``."""
    return {service: image_for(service, environ) for service in sorted(set(services))}


def image_change_problem(recorded: Mapping[str, str], selected: Mapping[str, str]) -> str | None:
    """One line naming each service whose image differs from the one the campaign recorded, or None.

    A service the campaign recorded no image for (an older campaign, another executor) is not compared.
    """
    changed = [(s, recorded[s], img) for s, img in sorted(selected.items()) if recorded.get(s, img) != img]
    if not changed:
        return None
    said = "; ".join(f"{s}: campaign ran {was}, this shell selects {now}" for s, was, now in changed)
    return (
        f"image changed since `up` ({said}); set LLEM_VERSION (or LLEM_IMAGE_<SERVICE>) back to resume with "
        "the campaign's images, or pass --allow-image-change to mix images in one campaign"
    )


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
        raise ExecutorError(
            f"image {name} not found; build it with `docker compose build`, or on a machine without a GPU "
            "`bash scripts/build-cpu-images.sh` and `export LLEM_VERSION=cpu-test`"
        ) from None
    labels = image.labels or {}
    found = labels.get(SCHEMA_LABEL)
    if found != RESULT_SCHEMA_VERSION:
        raise ExecutorError(
            f"image {name} writes result schema {found!r} but this llem reads {RESULT_SCHEMA_VERSION!r}; "
            "rebuild the image from this checkout (docker compose build)"
        )
    return str(image.id)


def gpu_requests(client: Any, gpus: str | None, uuids: tuple[str, ...] = ()) -> list[Any]:
    """Device requests for a slot's GPU ``uuids``, else ``gpus`` ("all", "0,1", or "none").

    Without either, all GPUs where there is an NVIDIA runtime and none elsewhere.
    """
    import docker

    if uuids:
        return [docker.types.DeviceRequest(driver="nvidia", device_ids=list(uuids), capabilities=[["gpu"]])]
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


class DockerExecutor(Executor):
    """Runs each unit in its backend's container: an exec in a warm one, or a fresh one per unit."""

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
        self._servers: dict[tuple[str, str, str], Any] = {}  # (campaign dir, image, slot) -> warm container
        self._started = 0
        self._lock = threading.RLock()  # guards the two dicts and the counter, never held while Docker works
        self._starting: dict[tuple[str, str, str], threading.Lock] = {}  # one per warm container being started

    @classmethod
    def from_env(cls) -> DockerExecutor:
        """Connect to the engine from the environment; ``LLEM_GPUS`` selects GPUs (all, 0,1 or none)."""
        return cls(docker_client(), gpus=os.environ.get("LLEM_GPUS"))

    def visible_gpus(self) -> tuple[str, ...] | None:
        """A container without a slot gets every GPU, or the ``--gpus`` list, as its ordinals 0.. (``gpu_requests``)."""
        if self.gpus in (None, "all"):
            return None
        return () if self.gpus == "none" else tuple(g.strip() for g in self.gpus.split(","))

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Run ``llem-exp`` for ``job`` in its backend's container, stream its logs, enforce the watchdog."""
        image = image_for(job.service)
        with self._lock:
            if image not in self._checked:
                self._checked[image] = check_image(self.client, image)
        config_in = f"{MOUNT}/{job.config_file.relative_to(job.campaign_dir).as_posix()}"
        env = forwarded_env(os.environ)
        env.update(job.env)
        env.update(
            {"HOME": "/tmp", "LLEM_IMAGE": image, "LLEM_IMAGE_ID": self._checked[image], "PYTHONUNBUFFERED": "1"}
        )
        command = exp_command(job, config_in, OUT)  # the unit writes only its staging folder (dispatch/mounts.py)
        staging = staging_dir(job.campaign_dir, job.service, job.slot)
        harvest(staging, job.campaign_dir)  # whatever an earlier unit on this slot left
        prepare_staging(staging, job.campaign_dir)
        try:
            if job.warm:
                return self._run_warm(job, image, env, command, on_started)
            return self._run_fresh(job, image, env, command, on_started)
        finally:
            harvest(staging, job.campaign_dir)  # its result, timeseries, error file and logs, into the campaign

    def _container(
        self, job: UnitJob, image: str, env: dict[str, str], command: list[str], role: str, name: str
    ) -> Any:
        """Start a detached container of ``image`` for this campaign; ``role`` labels what it is for."""
        import docker

        try:
            return self.client.containers.run(
                image,
                command=command,
                detach=True,
                volumes=unit_volumes(
                    job.campaign_dir,
                    staging_dir(job.campaign_dir, job.service, job.slot),
                    self.hf_cache,
                    local_campaign_models(job.campaign_dir.resolve()),
                ),
                working_dir=MOUNT,
                environment=env,
                labels={LABEL_CAMPAIGN: str(job.campaign_dir.resolve()), LABEL_UNIT: role, LABEL_RUN: job.run_id},
                device_requests=gpu_requests(self.client, self.gpus, job.gpu_uuids),
                user=f"{os.getuid()}:{os.getgid()}",
                shm_size=self.shm_size,  # a private /dev/shm of this size, not the host's (dispatch/mounts.py)
                name=f"llem-{job.campaign_id}-{job.run_id}-{name}"[:120] if job.campaign_id else None,
            )
        except docker.errors.DockerException as exc:
            raise ExecutorError(f"cannot start container for {job.key} from {image}: {exc}") from None

    def _run_fresh(
        self, job: UnitJob, image: str, env: dict[str, str], command: list[str], on_started: Callable[[str], None]
    ) -> JobOutcome:
        container = self._container(job, image, env, ["llem-exp", *command], job.key, job.key)
        try:
            on_started(f"container:{container.id[:12]}")
            dog = Watchdog(job.timeout_s, job.idle_timeout_s, time.monotonic())
            reader = pump(lambda: container.logs(stream=True, follow=True), job, dog)

            def poll() -> JobOutcome | None:
                container.reload()
                if container.status in ("exited", "dead"):
                    return JobOutcome(exit_code=int(container.attrs["State"]["ExitCode"]))
                return None

            def stop() -> int:
                container.kill()
                return -9

            try:
                return supervise(job, dog, poll, stop, time.sleep, self.poll_s)
            finally:
                reader.join(timeout=5)
        finally:
            _remove(container)  # the unit's processes go with it

    def _run_warm(
        self, job: UnitJob, image: str, env: dict[str, str], command: list[str], on_started: Callable[[str], None]
    ) -> JobOutcome:
        """Run the unit as an exec in the warm container; one that could not even start gets a new container once.

        A container killed a moment ago can still look alive: Docker then refuses the exec (an API
        error) or accepts it and fails to start it (exit status 126, which the client never uses).
        Either way the unit never ran, so the container is replaced and the unit tried once more.
        """
        import docker

        key = (str(job.campaign_dir.resolve()), image, job.slot)
        client_cmd = client_command("python", SERVER_SOCK, command)
        for attempt in (1, 2):
            server = self._server(key, job, image, env)
            try:
                exec_id = self.client.api.exec_create(
                    server.id, client_cmd, environment=env, workdir=MOUNT, user=f"{os.getuid()}:{os.getgid()}"
                )["Id"]
                stream = self.client.api.exec_start(exec_id, stream=True)
            except docker.errors.DockerException as exc:
                self._drop(key)
                if attempt == 2:
                    raise ExecutorError(f"cannot run {job.key} in warm container {server.short_id}: {exc}") from None
                continue
            on_started(f"container:{server.short_id}")
            outcome = self._follow(key, server, exec_id, stream, job)
            if outcome.exit_code != EXEC_NOT_STARTED or attempt == 2:
                return outcome
            logger.warning("unit {}: warm container {} could not start it; replacing it", job.key, server.short_id)
            self._drop(key)
        raise AssertionError("unreachable")  # pragma: no cover

    def _follow(self, key: tuple[str, str, str], server: Any, exec_id: str, stream: Any, job: UnitJob) -> JobOutcome:
        """Stream one exec's output, enforce the watchdog, and report how it ended.

        A container the unit left processes in (anything besides the warm-start server) is
        replaced: the next unit must not share it with them.
        """
        dog = Watchdog(job.timeout_s, job.idle_timeout_s, time.monotonic())
        reader = pump(lambda: stream, job, dog)

        def poll() -> JobOutcome | None:
            if reader.is_alive():
                return None
            code = self._exit_code(exec_id)
            if (code != 0 and not self._alive(server)) or leftovers(server):
                self._drop(key)  # died under the unit, or holds what the unit left
            return JobOutcome(exit_code=-9 if code is None else code)

        def stop() -> int:
            self._drop(key)  # the unit and its server go together; the next unit gets a new one
            return -9

        try:
            return supervise(job, dog, poll, stop, reader.join, self.poll_s)
        except BaseException:
            self._drop(key)
            raise

    def _alive(self, container: Any) -> bool:
        try:
            container.reload()
        except Exception:
            return False
        return bool(container.status == "running")

    def _exit_code(self, exec_id: str, wait_s: float = 10.0) -> int | None:
        """Exit status of a finished exec; its output can end a moment before Docker marks it done."""
        deadline = time.monotonic() + wait_s
        while True:
            info = self.client.api.exec_inspect(exec_id)
            if not info.get("Running") or time.monotonic() > deadline:
                code = info.get("ExitCode")
                return None if code is None else int(code)
            time.sleep(0.01)

    def _server(self, key: tuple[str, str, str], job: UnitJob, image: str, env: dict[str, str]) -> Any:
        """The campaign's running warm-start container for ``image`` on the job's slot, started if needed.

        One per slot: the container is given only the slot's GPUs, like a fresh unit's container.
        The unit's own variables (its GPUs by UUID) reach it with the exec, not the container.
        Starting one can take up to the unit timeout: only that slot's own lock is held meanwhile,
        so other slots start, run and are stopped as usual.
        """
        with self._lock:
            starting = self._starting.setdefault(key, threading.Lock())
        with starting:
            server = self._servers.get(key)
            if server is not None and self._alive(server):
                return server
            self._drop(key)
            return self._start_server(key, job, image, {k: v for k, v in env.items() if k not in job.env})

    def _start_server(self, key: tuple[str, str, str], job: UnitJob, image: str, env: dict[str, str]) -> Any:
        command = serve_command("python", SERVER_SOCK, job.backend)
        with self._lock:
            self._started += 1  # a replaced server must not collide with the name of one being removed
            name = f"warm-{job.service}-{job.slot + '-' if job.slot else ''}{self._started}"
        server = self._container(job, image, env, command, f"warm:{job.service}", name)
        with self._lock:
            self._servers[key] = server
        deadline = time.monotonic() + job.timeout_s
        while True:
            logs = server.logs().decode(errors="replace")
            if READY in logs:
                return server
            server.reload()
            if server.status in ("exited", "dead") or time.monotonic() > deadline or job.cancelled():
                self._drop(key)
                last = logs.strip().splitlines()[-1:] or ["no output"]
                raise ExecutorError(f"warm-start container from {image} did not come up: {last[0]}")
            time.sleep(0.05)

    def _drop(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            server = self._servers.pop(key, None)
        if server is not None:
            _remove(server)

    def close(self) -> None:
        """Remove the warm-start containers of this run."""
        for key in list(self._servers):
            self._drop(key)

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str], run_id: str) -> list[str]:
        """Remove this campaign's containers that run ``run_id`` did not start (a dead run's leftovers).

        The caller holds the campaign lock as ``run_id``, so every other run of this campaign is
        dead; containers of other campaigns, and the live run's own, are never touched.
        """
        found = self.client.containers.list(all=True, filters={"label": f"{LABEL_CAMPAIGN}={campaign_dir.resolve()}"})
        removed = []
        for container in found:
            if (container.labels or {}).get(LABEL_RUN) == run_id:
                continue
            _remove(container)
            removed.append(f"container:{container.short_id}")
        harvest_all(campaign_dir)  # what their units wrote before the host died, before results are reconciled
        return removed


def leftovers(server: Any) -> list[str]:
    """Processes in a warm container besides its warm-start server (and exec clients): what a unit left."""
    try:
        top = server.top(ps_args="-eo pid,args")
    except Exception:
        return []  # gone: the caller's liveness check replaces it
    titles = [t.upper() for t in top.get("Titles") or []]
    col = titles.index("COMMAND") if "COMMAND" in titles else titles.index("ARGS") if "ARGS" in titles else -1
    out = []
    for row in top.get("Processes") or []:
        cmd = " ".join(row[col:]) if col >= 0 else " ".join(row)
        if MODULE in cmd or cmd.strip() in ("ps -eo pid,args", ""):
            continue
        out.append(cmd)
    return out


def _remove(container: Any) -> None:
    import docker

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        logger.warning("could not remove container {}: {}", container.short_id, exc)
