"""Shared fixtures and the docker/vllm/slurm/gpu/slow markers' skip rules."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llenergymeasure.models.tiny import ensure_tiny_model
from tests.shared import ROOT_ENV, session_lock, session_root

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_SESSION_TMP = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Give this session (and every process it starts) a private TMPDIR, to check what is left in it.

    pytest's own ``tmp_path`` root stays where it was (PYTEST_DEBUG_TEMPROOT). Private, so tests
    of another checkout running at the same time cannot make this session's check fail. Under
    pytest-xdist the controller makes it and its workers, started later, share it
    (tests/shared.py): the controller checks it once every worker has finished.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        tempfile.tempdir = os.environ["TMPDIR"] = os.environ[ROOT_ENV]
        return
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    # vLLM's CPU backend pins its worker to core 0 by default: two vLLM tests on two workers would
    # then share one core while the other idles. Unpinned, the kernel spreads them.
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    root = Path(tempfile.mkdtemp(prefix="llem-test-"))
    os.environ["TMPDIR"] = os.environ[ROOT_ENV] = str(root)
    tempfile.tempdir = str(root)
    config.stash[_SESSION_TMP] = root


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when warm-start socket dirs (``llem-fork-*``) outlived their servers."""
    root = session.config.stash.get(_SESSION_TMP, None)
    if root is None:
        return
    # A server told to stop by the last test (SIGTERM, or its host's death through the parent-death
    # signal) leaves its select loop within a second and removes its folder then: give it that time,
    # so only folders that outlive their servers count.
    deadline = time.monotonic() + 5.0
    while (leaked := sorted(p.name for p in root.glob("llem-fork-*"))) and time.monotonic() < deadline:
        time.sleep(0.1)
    shutil.rmtree(root, ignore_errors=True)
    if leaked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\nFAILED: warm-start socket dirs left behind: {', '.join(leaked)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _docker_problem() -> str | None:
    try:
        import docker

        docker.from_env(timeout=10).ping()
    except Exception as exc:
        return f"no reachable Docker engine ({type(exc).__name__}); start dockerd to run these tests"
    return None


def vllm_python() -> str | None:
    """The interpreter the local executor would run vllm units in, if it can import vLLM."""
    from llenergymeasure.dispatch.interpreters import can_import, python_for
    from llenergymeasure.errors import ExecutorError

    try:
        python = python_for("vllm")
    except ExecutorError:
        return None
    return python if can_import(python, "vllm") else None


def _vllm_problem() -> str | None:
    if vllm_python() is None:
        return "no interpreter with vLLM (.venv-vllm or LLEM_PYTHON_VLLM); run scripts/setup-vllm.sh"
    return None


def _slurm_problem() -> str | None:
    import subprocess

    fix = "run scripts/ensure-slurm.sh (root, apt) to start a one-node cluster"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"no Slurm here ({type(exc).__name__}); {fix}"
    if not any(s.strip() in ("idle", "mixed", "allocated") for s in out.stdout.split()):
        return f"Slurm has no usable node ({(out.stdout + out.stderr).strip() or 'no output'}); {fix}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Workers take tests in this order (every worker collects alike): the long ones first, so
        # the short ones fill the gaps at the end instead of one worker finishing a long test alone.
        items.sort(key=lambda item: "slow" not in item.keywords)
    # Real-part tests: skipped with the reason elsewhere, never skipped under CI=true.
    for marker, find_problem in (("docker", _docker_problem), ("vllm", _vllm_problem), ("slurm", _slurm_problem)):
        marked = [i for i in items if marker in i.keywords]
        problem = find_problem() if marked else None
        if problem is None:
            continue
        if IN_CI:
            raise pytest.UsageError(f"CI=true but {problem}; {marker} tests must not be skipped in CI")
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=problem))
    # By marker, not keyword: keywords hold folder names too, and tests/unit/gpu needs no GPU.
    gpu_items = [i for i in items if i.get_closest_marker("gpu") is not None]
    if gpu_items and shutil.which("nvidia-smi") is None:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason="no NVIDIA GPU on this machine"))


@pytest.fixture(scope="session")
def llem_cache() -> Path:
    """A model cache of this session's own, so tests never touch the user's; its workers share it.

    Sharing is safe: a built model appears in it by one rename (models/tiny.py).
    """
    cache = session_root() / "llem-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture(autouse=True)
def _isolated_cache(llem_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LLEM_CACHE_DIR", str(llem_cache))
    return


@pytest.fixture(scope="session")
def tiny_llama(llem_cache: Path) -> Path:
    with session_lock("tiny-llama"):  # one worker builds it, the others wait instead of building too
        return ensure_tiny_model("llem/tiny-llama", llem_cache)
