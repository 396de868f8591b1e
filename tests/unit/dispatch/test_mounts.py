"""What a unit's container mounts, and where local model folders can be reached (issue 22, items 14 and 16)."""

from __future__ import annotations

from pathlib import Path

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.dispatch.local import LocalExecutor
from llenergymeasure.dispatch.mounts import (
    harvest,
    harvest_all,
    local_models,
    model_mounts,
    mount_of,
    prepare_staging,
    slurm_model_problem,
    staging_dir,
    unit_volumes,
)
from llenergymeasure.dispatch.preflight import model_path_problems


def test_the_campaign_is_read_only_and_the_unit_writes_only_its_staging_folder(tmp_path: Path) -> None:
    camp, cache, model = tmp_path / "camp", tmp_path / "hf", tmp_path / "m"
    model.mkdir()
    staging = staging_dir(camp, "pytorch", "")
    prepare_staging(staging, camp)

    assert staging == camp / ".unit-out" / "pytorch-main"
    assert unit_volumes(camp, staging, cache, [model]) == {
        str(camp): {"bind": "/campaign", "mode": "ro"},
        str(staging): {"bind": "/out", "mode": "rw"},
        str(camp / "thermal"): {"bind": "/out/thermal", "mode": "rw"},
        str(cache): {"bind": "/hf-cache", "mode": "rw"},
        str(model): {"bind": str(model), "mode": "ro"},
    }


def test_a_snapshot_folder_brings_the_blobs_its_links_point_to(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--m"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc").write_text("{}")
    snap = repo / "snapshots" / "rev"
    snap.mkdir(parents=True)
    (snap / "config.json").symlink_to("../../blobs/abc")
    (snap / "inside.json").symlink_to("config.json")  # a link within the folder needs nothing more

    assert model_mounts([snap]) == {
        str(snap): {"bind": str(snap), "mode": "ro"},
        str(repo / "blobs"): {"bind": str(repo / "blobs"), "mode": "ro"},
    }


def test_harvest_moves_the_units_files_into_the_campaign_and_drops_temp_files(tmp_path: Path) -> None:
    camp = tmp_path / "camp"
    staging = staging_dir(camp, "vllm", "gpu0")
    prepare_staging(staging, camp)
    (staging / "r_c1.json").write_text("result")
    (staging / "r_c1.parquet").write_text("ts")
    (staging / ".r_c1.json.x1.tmp").write_text("torn")
    (staging / "logs").mkdir()
    (staging / "logs" / "r_c1.server.log").write_text("log")
    (camp / "thermal" / "idle-GPU-1.json").write_text("ref")  # shared, mounted inside /out: never moved

    assert harvest(staging, camp) == ["r_c1.json", "r_c1.parquet", "logs/r_c1.server.log"]
    assert (camp / "r_c1.json").read_text() == "result"
    assert (camp / "logs" / "r_c1.server.log").read_text() == "log"
    assert sorted(p.name for p in staging.iterdir()) == ["logs", "thermal"]
    assert (camp / "thermal" / "idle-GPU-1.json").read_text() == "ref"
    (staging_dir(camp, "pytorch", "") / "e.error.json").parent.mkdir(parents=True)
    (staging_dir(camp, "pytorch", "") / "e.error.json").write_text("err")
    assert harvest_all(camp) == ["e.error.json"]
    assert harvest(tmp_path / "none", camp) == []


def test_only_existing_folders_are_local_models(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    models = [str(tmp_path / "m"), "llem/tiny-llama", "org/name", str(tmp_path / "m"), str(tmp_path / "gone")]
    assert local_models(models) == [tmp_path / "m"]


MOUNTS = """\
overlay / overlay rw,relatime 0 0
tmpfs /tmp tmpfs rw,nosuid 0 0
server:/home /home nfs4 rw,vers=4.2 0 0
"""


def test_mount_of_is_the_deepest_mount_holding_the_path() -> None:
    assert mount_of(Path("/tmp/a/b"), MOUNTS) == ("/tmp", "tmpfs", ["rw", "nosuid"])
    assert mount_of(Path("/home/u"), MOUNTS) == ("/home", "nfs4", ["rw", "vers=4.2"])
    assert mount_of(Path("/opt"), MOUNTS) == ("/", "overlay", ["rw", "relatime"])
    assert mount_of(Path("/opt"), "") is None


def test_slurm_cannot_read_a_model_on_this_nodes_memory_filesystem() -> None:
    assert slurm_model_problem(Path("/tmp/m"), MOUNTS) == (
        "model /tmp/m: a folder on /tmp (tmpfs), which exists on this node only, so Slurm jobs on other nodes "
        "cannot read it; copy it to a filesystem the compute nodes share (e.g. beside the campaign)"
    )
    assert slurm_model_problem(Path("/home/u/m"), MOUNTS) is None


def test_a_remote_docker_engine_cannot_mount_a_local_model(tmp_path: Path) -> None:
    from llenergymeasure.dispatch.docker import DockerExecutor

    (tmp_path / "m").mkdir()
    docker = DockerExecutor(client=None, hf_cache=tmp_path / "hf")
    models = [str(tmp_path / "m"), "llem/tiny-llama"]

    assert model_path_problems(docker, models, {"DOCKER_HOST": "tcp://gpu-box:2375"}) == [
        f"model {tmp_path / 'm'}: a local folder, but the Docker engine at DOCKER_HOST=tcp://gpu-box:2375 runs on "
        "another machine and cannot mount it; copy the model there and name that path, or use a Hub id"
    ]
    assert model_path_problems(docker, models, {"DOCKER_HOST": "unix:///run/docker.sock"}) == []
    assert model_path_problems(docker, models, {}) == []
    assert model_path_problems(LocalExecutor(), models, {"DOCKER_HOST": "tcp://x:1"}) == []


def test_relative_model_folders_resolve_against_the_files_folder(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "org").mkdir()

    def resolved(model: str) -> str:
        return ExperimentConfig(model=model, backend="pytorch").with_resolved_paths(tmp_path).model

    assert resolved("./m") == str(tmp_path / "m")
    assert resolved("m") == str(tmp_path / "m")  # a folder beside the file
    assert resolved("../x/m") == str(tmp_path.parent / "x" / "m")  # explicit: resolved, checked at preflight
    assert resolved("org/name") == "org/name"  # a Hub id: no such folder here
    assert resolved("llem/tiny-llama") == "llem/tiny-llama"
    assert resolved("/abs/m") == "/abs/m"
    assert resolved("~/m") == str(Path("~/m").expanduser().resolve())
