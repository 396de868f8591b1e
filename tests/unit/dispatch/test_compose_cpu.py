"""The CPU compose variant builds and runs the CPU images, never the GPU ones (merged config, no build)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import IN_CI
from tests.dockerimage import BASE_IMAGE, ROOT, VLLM_BASE_LATEST, WHEELHOUSE_LATEST


def merged_config() -> dict:
    """``docker compose config`` of docker-compose.yml + docker-compose.cpu.yml, as the README selects them."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        reason = "no Compose v2 (`docker compose`; scripts/ensure-compose.sh installs it)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLEM_", "COMPOSE_", "VLLM_", "PYTORCH_"))}
    env["LLEM_VERSION"] = "0.1.0"  # a GPU tag in the shell must not leak into the CPU variant's images
    proc = subprocess.run(
        ["docker", "compose", "-f", "docker-compose.yml", "-f", "docker-compose.cpu.yml", "config", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout)


def test_the_cpu_variant_builds_vllm_and_pytorch_from_the_cpu_bases_under_the_cpu_tags() -> None:
    services = merged_config()["services"]
    assert sorted(services) == ["pytorch", "vllm"]  # trtllm has no CPU build
    for name, base in (("pytorch", BASE_IMAGE), ("vllm", VLLM_BASE_LATEST)):
        svc = services[name]
        assert svc["image"] == f"llenergymeasure/{name}:cpu-test"
        assert svc["build"]["dockerfile"] == f"docker/{name}.Dockerfile"
        assert svc["build"]["args"]["BASE_IMAGE"] == base
        assert svc["build"]["args"]["LLEM_VERSION"] == "cpu-test"
        # Offline, from the wheelhouse image tests/dockerimage.py (scripts/build-cpu-images.sh) makes.
        assert (svc["build"]["args"]["WHEELS_IMAGE"], svc["build"]["args"]["PIP_ARGS"]) == (
            WHEELHOUSE_LATEST,
            "--no-index",
        )
        assert svc["environment"]["LLEM_IMAGE"] == f"llenergymeasure/{name}:cpu-test"
        assert svc["environment"]["LLEM_HOST_RESULTS"] == "./results"
        assert "deploy" not in svc or not svc["deploy"]
