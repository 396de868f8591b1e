"""Health checks behind ``llem doctor``: each says what is wrong and what to do, then what this machine can run.

Two halves: ``probe`` asks the machine (Docker through the SDK, ``sinfo`` through ``Commands``,
NVML, powercap, each backend's interpreter) and returns plain ``Probes``; ``checks`` and
``summary`` turn those into lines and do no I/O, so tests give them any machine they like.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llenergymeasure import RESULT_SCHEMA_VERSION, __version__
from llenergymeasure.backends.registry import SERVICES
from llenergymeasure.dispatch.interpreters import VENV_SCRIPTS

# How each backend's engine gets onto this machine for the local executor (a venv of its own where
# dispatch.interpreters names a script for one).
LOCAL_SETUP = {
    "pytorch": "bash scripts/setup.sh",
    "trtllm": "run it in its container (docker compose run trtllm; TensorRT-LLM needs an NVIDIA GPU)",
    **{backend: f"bash {script}" for backend, script in VENV_SCRIPTS.items()},
}
# The tag of the CPU images: scripts/build-cpu-images.sh builds them, docker-compose.cpu.yml runs them.
CPU_TAG = "cpu-test"
CPU_BUILD = "bash scripts/build-cpu-images.sh"
GPU_BUILD = "docker compose build {service}"


@dataclass(frozen=True)
class Check:
    """One check's verdict and, when it failed, the fix; ``info``: neither ok nor failed (absent and optional)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    info: bool = False


@dataclass(frozen=True)
class ImageProbe:
    """One image looked up on the Docker engine; ``schema`` None: not there."""

    service: str
    name: str
    schema: str | None


@dataclass(frozen=True)
class Probes:
    """What ``probe`` found, as plain values.

    ``docker``: the engine's version, None when unreachable (``docker_error`` says why).
    ``images``: per service the selected image (``image_for``), then its CPU image if that differs.
    ``gpus``: NVML's GPUs, empty with ``nvml_error`` when NVML is missing. ``partitions``: Slurm's
    partition -> GRES list, None without ``sinfo`` (``slurm_error``). ``rapl_zones``: readable
    package/DRAM counters, 0 with ``rapl_error``. ``local``: the interpreter check of each backend.
    """

    llem_version: str | None
    docker: str | None
    docker_error: str = ""
    images: tuple[ImageProbe, ...] = ()
    runtimes: tuple[str, ...] = ()
    gpus: tuple[str, ...] = ()
    nvml_error: str = ""
    counter_supported: bool = False
    power_readable: bool = False
    partitions: Mapping[str, tuple[str, ...]] | None = None
    slurm_error: str = ""
    rapl_zones: int = 0
    rapl_error: str = ""
    local: tuple[Check, ...] = field(default_factory=tuple)


def _tag(name: str) -> str:
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"


def gpu_images(p: Probes) -> bool:
    """Whether GPU images can run here: the NVIDIA runtime and at least one GPU."""
    return "nvidia" in p.runtimes and bool(p.gpus)


def runnable_images(p: Probes) -> dict[str, ImageProbe]:
    """Per service the first image that exists, writes this llem's result schema and can run here."""
    found: dict[str, ImageProbe] = {}
    for img in p.images:
        if img.service in found or img.schema != RESULT_SCHEMA_VERSION:
            continue
        if _tag(img.name) == CPU_TAG or gpu_images(p):
            found[img.service] = img
    return found


def checks(p: Probes) -> list[Check]:
    """One line per thing checked, in the order they are printed (no I/O)."""
    out = [
        Check(
            "LLEM_VERSION",
            True,
            f"{p.llem_version} (images llenergymeasure/<service>:{p.llem_version})"
            if p.llem_version
            else f"unset (images llenergymeasure/<service>:{__version__}, this llem's version)",
            info=not p.llem_version,
        )
    ]
    if p.docker is None:
        out.append(
            Check("docker engine", False, p.docker_error, "install Docker and start it, or use --executor local")
        )
    else:
        out.append(Check("docker engine", True, f"server {p.docker}"))
        out += _image_checks(p)
        out.append(
            Check(
                "nvidia runtime",
                "nvidia" in p.runtimes,
                f"runtimes: {', '.join(p.runtimes) or 'none'}",
                "install nvidia-container-toolkit and restart dockerd (CPU images run without it)",
            )
        )
    if p.gpus:
        out.append(Check("gpus visible", True, ", ".join(p.gpus)))
        out.append(
            Check(
                "nvml readable",
                p.power_readable,
                "energy counter " + ("supported" if p.counter_supported else "unsupported (sampling)"),
                "" if p.power_readable else "power readings failed; check driver and permissions",
            )
        )
    else:
        out.append(Check("gpus visible", False, p.nvml_error, "energy is only measured on NVIDIA GPUs with a driver"))
    if p.partitions is None:
        out.append(Check("slurm", False, p.slurm_error, info=True))
    else:
        out.append(Check("slurm", bool(p.partitions), _slurm_words(p.partitions) or "sinfo lists no partition"))
    if p.rapl_zones:
        out.append(Check("rapl", True, f"{p.rapl_zones} counter(s) readable: CPU energy is measured"))
    else:
        out.append(
            Check(
                "rapl",
                False,
                p.rapl_error,
                "results leave CPU energy out; where RAPL exists, make "
                "/sys/class/powercap/intel-rapl:*/energy_uj readable (root-only since Linux 5.10)",
                info=True,
            )
        )
    return out + list(p.local)


def _image_checks(p: Probes) -> list[Check]:
    runnable = runnable_images(p)
    out = []
    for service in SERVICES.values():
        mine = [i for i in p.images if i.service == service]
        if not mine:
            continue
        selected, use = mine[0], runnable.get(service)
        build = CPU_BUILD if not gpu_images(p) and service != "trtllm" else GPU_BUILD.format(service=service)
        if service == "trtllm" and not gpu_images(p):
            build = "TensorRT-LLM needs an NVIDIA GPU and the NVIDIA runtime"
        if use is selected:
            out.append(Check(f"image {service}", True, f"{selected.name}, result schema {selected.schema}"))
        elif use is not None:
            out.append(
                Check(
                    f"image {service}",
                    False,
                    f"{selected.name} {_state(selected)}; {use.name} is built",
                    f"export LLEM_VERSION={_tag(use.name)} to use it",
                )
            )
        elif selected.schema is not None and selected.schema != RESULT_SCHEMA_VERSION:
            out.append(
                Check(
                    f"image {service}",
                    False,
                    f"{selected.name} writes result schema {selected.schema}, this llem reads {RESULT_SCHEMA_VERSION}",
                    f"rebuild: {build}",
                )
            )
        elif selected.schema is not None:
            out.append(
                Check(f"image {service}", False, f"{selected.name} is a GPU image; this machine has no GPU", build)
            )
        else:
            out.append(Check(f"image {service}", False, f"{selected.name} missing", build))
    return out


def _state(img: ImageProbe) -> str:
    if img.schema is None:
        return "missing"
    return f"writes result schema {img.schema}" if img.schema != RESULT_SCHEMA_VERSION else "needs a GPU"


def _slurm_words(partitions: Mapping[str, tuple[str, ...]]) -> str:
    if not partitions:
        return ""
    names = ", ".join(partitions)
    gpus = [f"{g} on {name}" for name, gres in partitions.items() for g in gres if "gpu" in g]
    word = "partition" if len(partitions) == 1 else "partitions"
    return f"{word} {names}, " + (f"GPUs {', '.join(gpus)}" if gpus else "no GPUs")


def summary(p: Probes) -> str:
    """What this machine can run, one line: ``local: ...; docker: ...; slurm: ...`` (no I/O)."""
    local = [c.name.removeprefix("local ") for c in p.local if c.ok]
    if p.docker is None:
        docker = "no engine"
    else:
        images = runnable_images(p)
        docker = ", ".join(f"{s} ({_tag(i.name)})" for s, i in images.items()) or "no usable image"
    slurm = _slurm_words(p.partitions) if p.partitions else "none"
    return f"local: {', '.join(local) or 'nothing'}; docker: {docker}; slurm: {slurm}"


def can_run(p: Probes) -> bool:
    """Whether any executor can run a unit here: a local backend, a usable image, or a Slurm partition."""
    return any(c.ok for c in p.local) or (p.docker is not None and bool(runnable_images(p))) or bool(p.partitions)


def probe(environ: Mapping[str, str] | None = None, powercap_root: Path | None = None) -> Probes:
    """Ask this machine (Docker SDK, NVML, ``sinfo``, powercap, interpreters); the only I/O of ``llem doctor``."""
    env = os.environ if environ is None else environ
    docker_facts = _probe_docker(env)
    gpu_facts = _probe_nvml()
    partitions, slurm_error = _probe_slurm()
    zones, rapl_error = _probe_rapl(powercap_root)
    return Probes(
        llem_version=env.get("LLEM_VERSION") or None,
        **docker_facts,  # type: ignore[arg-type]
        **gpu_facts,  # type: ignore[arg-type]
        partitions=partitions,
        slurm_error=slurm_error,
        rapl_zones=zones,
        rapl_error=rapl_error,
        local=tuple(local_engine_checks()),
    )


def _probe_docker(env: Mapping[str, str]) -> dict[str, object]:
    from llenergymeasure.dispatch.docker import SCHEMA_LABEL, docker_client, image_for
    from llenergymeasure.errors import ExecutorError

    try:
        client = docker_client()
        version = str(client.version().get("Version", "?"))
    except ExecutorError as exc:
        return {"docker": None, "docker_error": str(exc)}
    import docker

    images = []
    for service in SERVICES.values():
        selected = image_for(service, env)
        cpu = f"llenergymeasure/{service}:{CPU_TAG}"
        for name in dict.fromkeys([selected, cpu]):
            try:
                labels = client.images.get(name).labels or {}
                schema: str | None = str(labels.get(SCHEMA_LABEL))
            except docker.errors.ImageNotFound:
                schema = None
            except docker.errors.APIError as exc:
                return {"docker": None, "docker_error": f"Docker engine refused an image lookup ({exc})"}
            images.append(ImageProbe(service, name, schema))
    runtimes = tuple((client.info() or {}).get("Runtimes", {}) or {})
    return {"docker": version, "images": tuple(images), "runtimes": runtimes}


def _probe_nvml() -> dict[str, object]:
    from llenergymeasure.energy.nvml import NvmlDevices, load_pynvml
    from llenergymeasure.errors import EnergyUnavailableError

    try:
        devices = NvmlDevices(load_pynvml())
        return {
            "gpus": tuple(f"{g.index}: {g.name}" for g in devices.info()),
            "counter_supported": all(devices.counter_supported),
            "power_readable": all(w is not None for w in devices.power_w()),
        }
    except EnergyUnavailableError as exc:
        return {"nvml_error": str(exc)}


def _probe_slurm() -> tuple[dict[str, tuple[str, ...]] | None, str]:
    from llenergymeasure.dispatch.processes import Commands

    try:
        answer = Commands().run(["sinfo", "-h", "-o", "%P|%G"], timeout_s=10)
    except OSError:
        return None, "sinfo not found: no Slurm client on this machine"
    if not answer.ok:
        return None, f"sinfo failed: {answer.stderr.strip() or 'no answer'}"
    parts: dict[str, list[str]] = {}
    for line in answer.stdout.splitlines():
        if "|" in line:
            name, gres = line.split("|", 1)
            res = parts.setdefault(name.rstrip("*"), [])
            if gres.strip() not in ("", "(null)") and gres.strip() not in res:
                res.append(gres.strip())
    return {k: tuple(v) for k, v in parts.items()}, ""


def _probe_rapl(root: Path | None) -> tuple[int, str]:
    from llenergymeasure.energy.rapl import DEFAULT_POWERCAP_ROOT, discover_zones, unreadable_reason
    from llenergymeasure.errors import EnergyUnavailableError

    try:
        zones = discover_zones(root or DEFAULT_POWERCAP_ROOT)
    except EnergyUnavailableError as exc:
        return 0, str(exc)
    for z in zones:
        try:
            (z.path / "energy_uj").read_text()
        except OSError as exc:
            return 0, unreadable_reason(z.path / "energy_uj", exc)
    return len(zones), ""


def local_engine_checks() -> list[Check]:
    """For ``--executor local``: which interpreter runs each backend's units, and can it import the engine."""
    from llenergymeasure.backends.registry import backend_names, engine_module
    from llenergymeasure.dispatch.interpreters import can_import, env_var, python_for
    from llenergymeasure.errors import ExecutorError

    checks = []
    for backend in backend_names():
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
