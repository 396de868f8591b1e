"""Can every backend of a campaign run under the chosen executor? Asked once, before anything starts.

Without it a missing image or engine fails each unit in turn, after the campaign directory was
made. Docker: the backend's image exists and writes the result schema this host reads. Local: the
interpreter ``dispatch.interpreters`` picks can import the backend's engine.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable

from llenergymeasure.backends.registry import SERVICES, engine_module
from llenergymeasure.dispatch.base import Executor
from llenergymeasure.dispatch.docker import DockerExecutor, check_image, image_for
from llenergymeasure.dispatch.interpreters import VENV_SCRIPTS, can_import, env_var
from llenergymeasure.dispatch.local import LocalExecutor
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
