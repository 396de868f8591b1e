"""Static checks of the shipped container files against the code they must agree with."""

import re
from pathlib import Path

import pytest

from llenergymeasure import RESULT_SCHEMA_VERSION
from llenergymeasure.backends.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", sorted(SERVICES.values()))
def test_dockerfile_labels_the_current_result_schema(service: str) -> None:
    text = (ROOT / "docker" / f"{service}.Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S+:\S+$", text, re.M), "pin the base image tag"
    assert f"ARG RESULT_SCHEMA={RESULT_SCHEMA_VERSION}\n" in text
    assert "org.llenergymeasure.result-schema=${RESULT_SCHEMA}" in text
    assert 'CMD ["llem-exp", "--help"]' in text


def test_docker_wheelhouse_build_requirements_match_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib")
    from tests.dockerimage import BUILD

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert BUILD == requires == ["setuptools>=77"]


def test_license_is_an_spdx_expression() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))
