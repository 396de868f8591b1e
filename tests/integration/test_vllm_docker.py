"""vLLM for real in containers: the CPU test image of the vllm service, through the docker executor and
through `docker compose` as the README says.

Needs a Docker engine (never skipped under CI=true) and the vLLM venv, whose exact packages the image
gets (tests/dockerimage.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import vllm_python
from tests.dockerimage import build_vllm_test_image
from tests.integration.conftest import llem, manifest, only_campaign_dir
from tests.integration.test_vllm import SINGLE_PROCESS, VLLM_FAST, check_result

pytestmark = [pytest.mark.docker, pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="session")
def vllm_image() -> str:
    import docker

    python = vllm_python()
    assert python is not None
    return build_vllm_test_image(docker.from_env(timeout=1800), python)


def test_vllm_campaign_two_configs_two_cycles_through_real_containers(
    tmp_path: Path, vllm_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker

    for k, v in {"LLEM_IMAGE_VLLM": vllm_image, "HF_HOME": str(tmp_path / "hf"), "LLEM_GPUS": "none"}.items():
        monkeypatch.setenv(k, v)
    camp = tmp_path / "camp.yaml"
    camp.write_text(
        "name: vllm-docker\n" + VLLM_FAST + "sweep:\n  vllm.max_num_seqs: [2, 4]\nexecution: {n_cycles: 2}\n"
    )
    proc = llem(
        "campaign", "up", str(camp), "--executor", "docker", "--results-dir", "res", cwd=tmp_path, env=SINGLE_PROCESS
    )
    assert "4 units: 4 completed" in proc.stdout
    d = only_campaign_dir(tmp_path / "res")
    image_id = docker.from_env().images.get(vllm_image).id
    for e in manifest(d)["entries"]:
        r = check_result(d / e["result_file"])
        assert (r["environment"]["container_image"], r["environment"]["container_image_id"]) == (vllm_image, image_id)
        assert r["environment"]["launch"] == "warm-start"
