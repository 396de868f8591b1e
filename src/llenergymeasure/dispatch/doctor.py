"""Health checks behind ``llem doctor``: each says what is wrong and what to do."""

from __future__ import annotations

from dataclasses import dataclass

from llenergymeasure import RESULT_SCHEMA_VERSION
from llenergymeasure.backends.registry import SERVICES
from llenergymeasure.dispatch.interpreters import VENV_SCRIPTS

# How each backend's engine gets onto this machine for the local executor (a venv of its own where
# dispatch.interpreters names a script for one).
LOCAL_SETUP = {
    "pytorch": "bash scripts/setup.sh",
    "trtllm": "run it in its container (docker compose run trtllm; TensorRT-LLM needs an NVIDIA GPU)",
    **{backend: f"bash {script}" for backend, script in VENV_SCRIPTS.items()},
}


@dataclass(frozen=True)
class Check:
    """One check's verdict and, when it failed, the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks() -> list[Check]:
    """Engine, images and schema, NVIDIA runtime, NVML and GPUs."""
    from llenergymeasure.dispatch.docker import SCHEMA_LABEL, docker_client, image_for
    from llenergymeasure.errors import EnergyUnavailableError, ExecutorError

    checks: list[Check] = []
    client = None
    try:
        client = docker_client()
        checks.append(Check("docker engine", True, f"server {client.version().get('Version', '?')}"))
    except ExecutorError as exc:
        checks.append(Check("docker engine", False, str(exc), "install Docker and start it, or use --executor local"))
    if client is not None:
        import docker

        for service in SERVICES.values():
            name = image_for(service)
            try:
                labels = client.images.get(name).labels or {}
            except docker.errors.ImageNotFound:
                checks.append(Check(f"image {service}", False, f"{name} missing", f"docker compose build {service}"))
                continue
            schema = labels.get(SCHEMA_LABEL)
            ok = schema == RESULT_SCHEMA_VERSION
            checks.append(
                Check(
                    f"image {service}",
                    ok,
                    f"{name}, result schema {schema}",
                    "" if ok else f"rebuild: docker compose build {service}",
                )
            )
        runtimes = (client.info() or {}).get("Runtimes", {}) or {}
        checks.append(
            Check(
                "nvidia runtime",
                "nvidia" in runtimes,
                f"runtimes: {', '.join(runtimes) or 'none'}",
                "install nvidia-container-toolkit and restart dockerd",
            )
        )
    try:
        from llenergymeasure.energy.nvml import NvmlDevices, load_pynvml

        devices = NvmlDevices(load_pynvml())
        names = ", ".join(f"{g.index}: {g.name}" for g in devices.info())
        checks.append(Check("gpus visible", True, names))
        readable = all(p is not None for p in devices.power_w())
        checks.append(
            Check(
                "nvml readable",
                readable,
                "energy counter " + ("supported" if all(devices.counter_supported) else "unsupported (sampling)"),
                "" if readable else "power readings failed; check driver and permissions",
            )
        )
    except EnergyUnavailableError as exc:
        checks.append(Check("gpus visible", False, str(exc), "energy is only measured on NVIDIA GPUs with a driver"))
    checks.extend(local_engine_checks())
    return checks


def local_engine_checks() -> list[Check]:
    """For ``--executor local``: which interpreter runs each backend's units, and can it import the engine."""
    from llenergymeasure.backends.registry import engine_module
    from llenergymeasure.dispatch.interpreters import can_import, env_var, python_for
    from llenergymeasure.errors import ExecutorError

    checks = []
    for backend in SERVICES:
        module = engine_module(backend)
        fix = f"{LOCAL_SETUP[backend]}, or set {env_var(backend)} to an interpreter that has it"
        try:
            python = python_for(backend)
        except ExecutorError as exc:
            checks.append(Check(f"local {backend}", False, str(exc), fix))
            continue
        ok = can_import(python, module)
        detail = f"{python} " + ("imports " if ok else "cannot import ") + module
        checks.append(Check(f"local {backend}", ok, detail, "" if ok else fix))
    return checks
