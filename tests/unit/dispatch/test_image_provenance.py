"""Images pinned per campaign (recorded at ``up``, compared at ``resume``) and host paths after ``compose run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llenergymeasure.campaign.api import check_images
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.dispatch.docker import image_change_problem, selected_images
from llenergymeasure.errors import CampaignError
from llenergymeasure.experiment.entrypoint import host_path


def campaign(tmp_path: Path, images: dict[str, str]) -> CampaignLayout:
    layout = CampaignLayout(tmp_path / "camp")
    layout.root.mkdir()
    layout.campaign_snapshot.write_text(json.dumps({"name": "camp", "images": images}))
    return layout


def test_the_docker_executor_selects_images_by_llem_version_or_per_service() -> None:
    assert selected_images(["vllm", "pytorch", "vllm"], {"LLEM_VERSION": "cpu-test"}) == {
        "pytorch": "llenergymeasure/pytorch:cpu-test",
        "vllm": "llenergymeasure/vllm:cpu-test",
    }
    assert selected_images(["vllm"], {"LLEM_VERSION": "0.1.0", "LLEM_IMAGE_VLLM": "me/vllm:x"}) == {"vllm": "me/vllm:x"}


def test_resume_with_another_llem_version_is_refused_naming_both_images(tmp_path: Path) -> None:
    layout = campaign(tmp_path, selected_images(["vllm"], {"LLEM_VERSION": "cpu-test"}))  # as `up` recorded it
    now = selected_images(["vllm"], {"LLEM_VERSION": "0.1.0"})  # a new shell
    with pytest.raises(CampaignError) as err:
        check_images(layout, now)
    assert str(err.value) == (
        f"{layout.root}: image changed since `up` (vllm: campaign ran llenergymeasure/vllm:cpu-test, this shell "
        "selects llenergymeasure/vllm:0.1.0); set LLEM_VERSION (or LLEM_IMAGE_<SERVICE>) back to resume with the "
        "campaign's images, or pass --allow-image-change to mix images in one campaign"
    )
    assert check_images(layout, selected_images(["vllm"], {"LLEM_VERSION": "cpu-test"})) == []


def test_allow_image_change_records_the_new_image_and_says_so(tmp_path: Path) -> None:
    layout = campaign(tmp_path, {"vllm": "llenergymeasure/vllm:cpu-test"})
    notes = check_images(layout, {"vllm": "llenergymeasure/vllm:0.1.0"}, allow=True)
    assert notes == [
        "--allow-image-change: image changed since `up` (vllm: campaign ran llenergymeasure/vllm:cpu-test, this "
        "shell selects llenergymeasure/vllm:0.1.0); units from now run in the new image(s)"
    ]
    assert json.loads(layout.campaign_snapshot.read_text())["images"] == {"vllm": "llenergymeasure/vllm:0.1.0"}


def test_a_campaign_without_recorded_images_or_another_executor_is_not_compared(tmp_path: Path) -> None:
    assert image_change_problem({}, {"vllm": "llenergymeasure/vllm:0.1.0"}) is None
    assert check_images(campaign(tmp_path, {"pytorch": "a:1"}), {}) == []


def test_the_result_path_is_printed_as_the_host_names_it() -> None:
    env = {"LLEM_RESULTS_DIR": "/results", "LLEM_HOST_RESULTS": "./results"}
    assert host_path(Path("/results/r.json"), env) == "./results/r.json"
    assert host_path(Path("/elsewhere/r.json"), env) == "/elsewhere/r.json"
    assert host_path(Path("/results/r.json"), {"LLEM_RESULTS_DIR": "/results"}) == "/results/r.json"
