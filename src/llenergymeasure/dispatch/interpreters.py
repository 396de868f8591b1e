"""Which Python interpreter runs a backend's units under the local executor.

vLLM pins its own torch and transformers, so it lives in a venv of its own (``.venv-vllm``, made by
``scripts/setup-vllm.sh``) rather than in the one that runs ``llem``. A backend's units, and its
warm-start fork server, run in the interpreter that can import its engine:

1. ``$LLEM_PYTHON_<BACKEND>`` (e.g. ``LLEM_PYTHON_VLLM=/opt/vllm/bin/python``), when set;
2. this interpreter, when it can import the engine (and llem);
3. ``.venv-<backend>/bin/python`` beside this interpreter's venv (``.venv`` and ``.venv-vllm`` in a
   checkout), when it exists;
4. else this interpreter, whose ``llem-exp`` then fails with the registry's "cannot be imported here"
   line; a configured or discovered interpreter that cannot import the engine fails the unit with one
   line naming it and the fix.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from llenergymeasure.backends.registry import engine_module
from llenergymeasure.errors import ExecutorError

_PROBE = "import importlib.util as u, sys; sys.exit(0 if u.find_spec(sys.argv[1]) and u.find_spec(sys.argv[2]) else 3)"


# Backends whose engine gets a venv of its own in a checkout, and the script that makes it.
VENV_SCRIPTS = {"vllm": "scripts/setup-vllm.sh"}


def _made_by(backend: str) -> str:
    script = VENV_SCRIPTS.get(backend)
    return f" ({script} makes .venv-{backend})" if script else ""


def _rerun(backend: str) -> str:
    script = VENV_SCRIPTS.get(backend)
    return f"rerun {script} or " if script else ""


def env_var(backend: str) -> str:
    """The variable that names ``backend``'s interpreter."""
    return f"LLEM_PYTHON_{backend.upper()}"


def sibling_venv_python(backend: str, prefix: str | None = None) -> Path:
    """``.venv-<backend>/bin/python`` next to the venv at ``prefix`` (this interpreter's by default)."""
    return Path(prefix or sys.prefix).parent / f".venv-{backend}" / "bin" / "python"


def can_import(python: str, module: str) -> bool:
    """Whether ``python`` finds ``module`` and llenergymeasure (a spec lookup: no engine is imported)."""
    try:
        proc = subprocess.run(
            [python, "-c", _PROBE, module, "llenergymeasure"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def python_for(backend: str) -> str:
    """The interpreter for ``backend``'s units (see the module docstring for the order)."""
    module = engine_module(backend)
    configured = os.environ.get(env_var(backend))
    if configured:
        if not can_import(configured, module):
            raise ExecutorError(
                f"{env_var(backend)}={configured} cannot import {module} and llenergymeasure; "
                f"point it at a venv with both{_made_by(backend)}"
            )
        return configured
    if importlib.util.find_spec(module) is not None:
        return sys.executable
    sibling = sibling_venv_python(backend)
    if sibling.is_file():
        if not can_import(str(sibling), module):
            raise ExecutorError(
                f"{sibling} cannot import {module} and llenergymeasure; {_rerun(backend)}set {env_var(backend)}"
            )
        return str(sibling)
    return sys.executable
