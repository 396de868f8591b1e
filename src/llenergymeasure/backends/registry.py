"""Backend registry: one table from name to lazily imported classes.

The host imports only the ``config`` column (pydantic, no engine); the ``runner`` column is
imported by the experiment entrypoint inside the container, so torch, vLLM and TensorRT-LLM
never load where they are not needed.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from llenergymeasure.errors import BackendError

BackendName = Literal["pytorch", "vllm", "trtllm"]

_RUNNERS: dict[str, str] = {
    "pytorch": "llenergymeasure.backends.pytorch.runner:PyTorchRunner",
    "vllm": "llenergymeasure.backends.vllm.runner:VllmRunner",
    "trtllm": "llenergymeasure.backends.trtllm.runner:TrtllmRunner",
}

# Modules that start each backend's OpenAI-compatible server (scenario.kind: server): each has
# server_argv(config, model_path, host, port) and request_extras(config). Light: no engine import.
_SERVERS: dict[str, str] = {
    "vllm": "llenergymeasure.backends.vllm.server",
    "trtllm": "llenergymeasure.backends.trtllm.server",
}

# The engine package each runner needs, imported first so a missing engine is named clearly.
_ENGINES: dict[str, str] = {"pytorch": "transformers", "vllm": "vllm", "trtllm": "tensorrt_llm"}

# Docker Compose service (and image) that runs each backend.
SERVICES: dict[str, str] = {"pytorch": "pytorch", "vllm": "vllm", "trtllm": "trtllm"}


def engine_module(name: str) -> str:
    """The engine package backend ``name`` imports (``vllm`` for vllm); the name itself if unknown."""
    return _ENGINES.get(name, name)


def backend_names() -> list[str]:
    """Names of every registered backend, in a stable order."""
    return list(_RUNNERS)


def load_runner_class(name: str) -> Any:
    """Import and return the runner class for ``name``; the heavy engine import happens here."""
    try:
        target = _RUNNERS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}; valid: {', '.join(_RUNNERS)}") from None
    module_name, _, attr = target.partition(":")
    try:
        importlib.import_module(_ENGINES[name])
        module = importlib.import_module(module_name)
    except ImportError as exc:
        venv = " or in .venv-vllm (scripts/setup-vllm.sh)" if name == "vllm" else ""
        raise BackendError(
            f"backend {name!r} cannot be imported here ({exc}); run it in its container: "
            f"docker compose run --rm {SERVICES[name]} llem-exp CONFIG{venv}"
        ) from exc
    return getattr(module, attr)


def load_server_module(name: str) -> Any:
    """The module that builds backend ``name``'s server command; an error naming those that have one."""
    try:
        return importlib.import_module(_SERVERS[name])
    except KeyError:
        raise BackendError(f"backend {name!r} has no server mode; server backends: {', '.join(_SERVERS)}") from None


# What a warm-start server imports once before forking units (experiment.forkserver). Only modules
# that never initialise CUDA or MPI at import: the engines' own packages (vLLM, TensorRT-LLM) are
# left to each unit, while torch, transformers and llem's harness are shared by all backends.
_HARNESS = ("llenergymeasure.experiment.entrypoint", "llenergymeasure.experiment.runner", "torch", "transformers")
_WARM: dict[str, tuple[str, ...]] = {
    "pytorch": (
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
    "vllm": _HARNESS,
    "trtllm": _HARNESS,
}


def warm_imports(name: str) -> tuple[str, ...]:
    """Modules a warm-start server for backend ``name`` preloads; an unknown name preloads only the harness."""
    return _WARM.get(name, _HARNESS)
