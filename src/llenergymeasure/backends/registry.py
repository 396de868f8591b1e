"""Backend registry: one ``BackendSpec`` row per backend, and everything else read from it.

A row names its light settings model (``config.py``, pydantic, imported anywhere) and, as strings,
what only a unit imports: the runner class, the engine package and the server module. The host
reads the row's names (service, engine, sections); the runner and the engine are imported by the
experiment entrypoint inside the container, so torch, vLLM and TensorRT-LLM never load where they
are not needed. Adding a backend is one ``BackendSpec`` in ``REGISTRY`` (plus its ``BackendName``
literal and its section field in ``config.experiment``, which the type checker needs spelled out).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from pydantic import BaseModel

from llenergymeasure.backends.pytorch.config import PyTorchConfig
from llenergymeasure.backends.trtllm.config import TrtllmConfig
from llenergymeasure.backends.vllm.config import VllmConfig
from llenergymeasure.errors import BackendError

if TYPE_CHECKING:
    from llenergymeasure.backends.base import Backend, ServerModule

BackendName = Literal["pytorch", "vllm", "trtllm"]


@dataclass(frozen=True)
class BackendSpec:
    """Everything llem knows about one backend, host side and container side.

    Attributes:
        name: The ``backend:`` value and the config section's name.
        config_model: The section's settings model (light: pydantic only).
        runner: ``"module:Class"`` of the runner (a ``Backend``), imported only where units run.
        server: Module with ``server_argv`` and ``request_extras`` (a ``ServerModule``) for
            ``scenario.kind: server``; None when the engine has no OpenAI server llem drives.
        engine: Package the runner needs, imported first so a missing engine is named clearly.
        service: Docker Compose service (and image) that runs the backend's units.
        warm: Modules a warm-start server (``experiment.forkserver``) imports before forking units.
        metrics_path: Path of the server's Prometheus text endpoint; None where it has none.

    """

    name: str
    config_model: type[BaseModel]
    runner: str
    server: str | None
    engine: str
    service: str
    warm: tuple[str, ...]
    metrics_path: str | None


class BackendRegistry:
    """Specs by name, in registration order; a second spec of one name is refused."""

    def __init__(self, specs: Iterable[BackendSpec] = ()) -> None:
        self._specs: dict[str, BackendSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: BackendSpec) -> None:
        """Add ``spec``; a ``BackendError`` if its name is taken."""
        if spec.name in self._specs:
            raise BackendError(f"backend {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def get(self, name: str) -> BackendSpec:
        """The spec of ``name``; a ``BackendError`` listing the valid names if there is none."""
        try:
            return self._specs[name]
        except KeyError:
            raise BackendError(f"unknown backend {name!r}; valid: {', '.join(self._specs)}") from None

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._specs)

    def __iter__(self) -> Iterator[BackendSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs


# What every warm-start server imports: modules that never initialise CUDA or MPI at import. The
# engines' own packages (vLLM, TensorRT-LLM) are left to each unit, while torch, transformers and
# llem's harness are shared by all backends.
_HARNESS = ("llenergymeasure.experiment.entrypoint", "llenergymeasure.experiment.runner", "torch", "transformers")

REGISTRY = BackendRegistry(
    (
        BackendSpec(
            name="pytorch",
            config_model=PyTorchConfig,
            runner="llenergymeasure.backends.pytorch.runner:PyTorchRunner",
            # transformers' `serve` is experimental (extra deps, no continuous batching by
            # default), so pytorch is offline only.
            server=None,
            engine="transformers",
            service="pytorch",
            warm=(
                *_HARNESS,
                "llenergymeasure.backends.pytorch.runner",
                "transformers.modeling_utils",
                "transformers.modeling_layers",
                "transformers.activations",
                "transformers.generation.utils",
                # The Auto classes' machinery and the most common architecture: a unit's first
                # from_pretrained otherwise imports them (about 20 ms of its ~90 ms on the tiny model).
                "transformers.models.auto.modeling_auto",
                "transformers.models.auto.tokenization_auto",
                "transformers.models.llama.modeling_llama",
            ),
            metrics_path=None,
        ),
        BackendSpec(
            name="vllm",
            config_model=VllmConfig,
            runner="llenergymeasure.backends.vllm.runner:VllmRunner",
            server="llenergymeasure.backends.vllm.server",
            engine="vllm",
            service="vllm",
            warm=_HARNESS,
            metrics_path="/metrics",
        ),
        BackendSpec(
            name="trtllm",
            config_model=TrtllmConfig,
            runner="llenergymeasure.backends.trtllm.runner:TrtllmRunner",
            server="llenergymeasure.backends.trtllm.server",
            engine="tensorrt_llm",
            service="trtllm",
            warm=_HARNESS,
            # trtllm-serve's /metrics answers JSON iteration stats, not Prometheus text; its
            # Prometheus registry is mounted at /prometheus/metrics only with the LLM API option
            # return_perf_metrics, which llem's server command does not set.
            metrics_path=None,
        ),
    )
)

# Docker Compose service (and image) of each backend: read from the registry.
SERVICES: dict[str, str] = {spec.name: spec.service for spec in REGISTRY}


def spec(name: str) -> BackendSpec:
    """The registry row of backend ``name``; an error listing the valid names if there is none."""
    return REGISTRY.get(name)


def backend_names() -> list[str]:
    """Names of every registered backend, in a stable order."""
    return REGISTRY.names()


def server_backend_names() -> list[str]:
    """Names of the backends with a server mode (``scenario.kind: server``)."""
    return [s.name for s in REGISTRY if s.server is not None]


def engine_module(name: str) -> str:
    """The engine package backend ``name`` imports (``vllm`` for vllm); the name itself if unknown."""
    return REGISTRY.get(name).engine if name in REGISTRY else name


def metrics_path(name: str) -> str | None:
    """Path of backend ``name``'s server Prometheus endpoint (``/metrics`` for vllm); None where it has none."""
    return REGISTRY.get(name).metrics_path


def warm_imports(name: str) -> tuple[str, ...]:
    """Modules a warm-start server for backend ``name`` preloads; an unknown name preloads only the harness."""
    return REGISTRY.get(name).warm if name in REGISTRY else _HARNESS


def load_runner_class(name: str) -> type[Backend]:
    """Import and return the runner class for ``name``; the heavy engine import happens here."""
    row = REGISTRY.get(name)
    module_name, _, attr = row.runner.partition(":")
    try:
        importlib.import_module(row.engine)
        module = importlib.import_module(module_name)
    except ImportError as exc:
        venv = " or in .venv-vllm (scripts/setup-vllm.sh)" if name == "vllm" else ""
        raise BackendError(
            f"backend {name!r} cannot be imported here ({exc}); run it in its container: "
            f"docker compose run --rm {row.service} llem-exp CONFIG{venv}"
        ) from exc
    return cast("type[Backend]", getattr(module, attr))


def load_server_module(name: str) -> ServerModule:
    """The module that builds backend ``name``'s server command; an error naming those that have one."""
    row = REGISTRY.get(name)
    if row.server is None:
        raise BackendError(f"backend {name!r} has no server mode; server backends: {', '.join(server_backend_names())}")
    return cast("ServerModule", importlib.import_module(row.server))
