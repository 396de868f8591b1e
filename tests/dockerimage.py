"""Build the CPU test image of the pytorch service with no registry access from the build.

1. a Debian base made by debootstrap + ``docker import`` (scripts/build-base-image.sh);
2. a wheelhouse in docker/wheels with the host's exact versions of every runtime dependency;
3. docker/pytorch.Dockerfile built on that base with ``PIP_ARGS=--no-index`` via the Docker SDK.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "llem-test-base:bookworm"
TEST_IMAGE = "llenergymeasure/pytorch:cpu-test"
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
BUILD = ["setuptools>=68"]  # builds the llem sdist inside the image, offline


def ensure_base_image() -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "build-base-image.sh"), BASE_IMAGE], check=True)


def ensure_wheelhouse() -> Path:
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


def build_test_image(client: object) -> str:
    ensure_base_image()
    ensure_wheelhouse()
    client.images.build(  # type: ignore[attr-defined]
        path=str(ROOT),
        dockerfile="docker/pytorch.Dockerfile",
        tag=TEST_IMAGE,
        buildargs={"BASE_IMAGE": BASE_IMAGE, "PIP_ARGS": "--no-index"},
        rm=True,
    )
    return TEST_IMAGE


if __name__ == "__main__":
    import docker

    print(build_test_image(docker.from_env(timeout=600)))
