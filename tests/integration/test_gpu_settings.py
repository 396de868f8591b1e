"""GPU power limits as a sweep axis, always put back: real campaigns over the fake NVML's shared driver state.

The fake keeps its settings in one file for every process (host, units, a host restarted after
``kill -9``) and logs every set/reset call, so the tests read the exact sequence a driver saw.
``kill_at_change`` makes the host SIGKILL itself at its n-th set/reset call, before or after the
change: the points where a host can die around a GPU setting.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from llenergymeasure.campaign.lock import CampaignLock
from llenergymeasure.gpu.journal import JOURNAL_NAME
from tests.integration.conftest import FAST, ROOT, SHIM, llem, manifest, only_campaign_dir, start_host, wait_running

CAMPAIGN = (
    "name: caps\n"
    + FAST
    + "energy: {min_window_s: 0.2, prefill_split: false}\nsweep:\n  gpu.power_limit_w: [300, 400]\n"
)
UP = ("campaign", "up", "c.yaml", "--executor", "local", "--results-dir", "res")
ORIGINAL = 700_000
RESTORE = [
    ("nvmlDeviceSetPowerManagementLimit", [ORIGINAL]),
    ("nvmlDeviceResetGpuLockedClocks", []),
    ("nvmlDeviceResetMemoryLockedClocks", []),
]
PROBE = [("nvmlDeviceSetPowerManagementLimit", [ORIGINAL])]  # preflight: may the limit be written at all?


def fake_env(tmp_path: Path, **extra: object) -> dict[str, str]:
    """Every process imports the fake pynvml, sharing the driver state in tmp_path/driver.json."""
    args = {"n_gpus": 1, "base_w": [100.0], "amp_w": 0.0, "settings_file": str(tmp_path / "driver.json"), **extra}
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SHIM), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LLEM_FAKE_NVML": json.dumps(args),
        "LLEM_STATE_DIR": str(tmp_path / "state"),
    }


def calls(tmp_path: Path) -> list[tuple[str, list[int]]]:
    path = tmp_path / "driver.json.calls"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(c["call"], c["args"]) for c in map(json.loads, lines) if c["error"] is None]


def driver(tmp_path: Path) -> dict[str, object]:
    """GPU 0's settings as the driver holds them (never set: the fake's defaults)."""
    path = tmp_path / "driver.json"
    state = json.loads(path.read_text()).get("0", {}) if path.exists() else {}
    return {"power_limit_mw": state.get("power_limit_mw"), "sm": state.get("sm_clocks"), "mem": state.get("mem_clocks")}


def limits_seen(campaign: Path) -> dict[str, float]:
    """The enforced power limit each unit read at its start, by result file."""
    out = {}
    for path in sorted(campaign.glob("*_c1.json")):
        result = json.loads(path.read_text())
        out[str(result["config"]["gpu"]["power_limit_w"])] = result["environment"]["gpus"][0]["enforced_power_limit_w"]
    return out


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    (tmp_path / "c.yaml").write_text(CAMPAIGN)
    return tmp_path / "c.yaml"


def test_each_unit_runs_under_its_limit_and_the_gpu_is_put_back_after_it(tmp_path: Path, campaign_file: Path) -> None:
    llem(*UP, cwd=tmp_path, env=fake_env(tmp_path))
    assert calls(tmp_path) == [
        *PROBE,
        ("nvmlDeviceSetPowerManagementLimit", [300_000]),
        *RESTORE,
        ("nvmlDeviceSetPowerManagementLimit", [400_000]),
        *RESTORE,
    ]
    campaign = only_campaign_dir(tmp_path / "res")
    assert limits_seen(campaign) == {"300.0": 300.0, "400.0": 400.0}  # set before the unit started
    assert driver(tmp_path) == {"power_limit_mw": ORIGINAL, "sm": None, "mem": None}
    assert json.loads((campaign / JOURNAL_NAME / "GPU-fake-0.json").read_text())["phase"] == "restored"
    assert not (tmp_path / "state" / "gpu-owners" / "GPU-fake-0").exists()
    # The report draws the figures against the limit, and the frontier across limits.
    llem("report", str(campaign), cwd=tmp_path, env=fake_env(tmp_path))
    names = sorted(p.stem for p in (campaign / "figures").glob("*.svg"))
    assert "energy-latency-frontier" in names
    assert "energy-per-output-token-by-gpu-power-limit-w" in names
    assert "mean-request-latency-by-gpu-power-limit-w" in names


@pytest.mark.parametrize(
    ("n", "when"),
    [
        (2, "before"),  # journalled, not yet set
        (2, "after"),  # set, not yet marked applied
        (3, "before"),  # the unit ran; nothing put back yet
        (4, "after"),  # power limit put back, clocks not yet reset, not marked restored
    ],
)
def test_a_host_killed_around_a_setting_leaves_nothing_changed_after_resume(
    tmp_path: Path, campaign_file: Path, n: int, when: str
) -> None:
    killed = llem(*UP, cwd=tmp_path, env=fake_env(tmp_path, kill_at_change=[n, when]), check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    before_resume = len(calls(tmp_path))
    campaign = only_campaign_dir(tmp_path / "res")
    resumed = llem("campaign", "resume", str(campaign), "--executor", "local", cwd=tmp_path, env=fake_env(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert driver(tmp_path) == {"power_limit_mw": ORIGINAL, "sm": None, "mem": None}
    assert json.loads((campaign / JOURNAL_NAME / "GPU-fake-0.json").read_text())["phase"] == "restored"
    # Exactly once: each unit's result, once; and each ran under its own limit.
    assert [e["status"] for e in manifest(campaign)["entries"]] == ["completed", "completed"]
    assert limits_seen(campaign) == {"300.0": 300.0, "400.0": 400.0}
    # The resume put the GPU back before anything else, then ran what was left (exp001 again if it had
    # not ended when the host died), each unit under its limit and put back after it.
    resume_calls = calls(tmp_path)[before_resume:]
    left = [("nvmlDeviceSetPowerManagementLimit", [300_000]), *RESTORE] if n == 2 else []
    assert resume_calls == [*RESTORE, *left, ("nvmlDeviceSetPowerManagementLimit", [400_000]), *RESTORE]


def test_a_second_campaign_never_takes_a_gpu_another_one_holds(tmp_path: Path, campaign_file: Path) -> None:
    env = fake_env(tmp_path, kill_at_change=[3, "before"])  # dies with the GPU at 300 W, journal open
    llem(*UP, cwd=tmp_path, env=env, check=False)
    first = only_campaign_dir(tmp_path / "res")
    with CampaignLock.acquire(first):  # the first campaign "runs" again: its GPU is its own
        llem(*UP, "--again", cwd=tmp_path, env=fake_env(tmp_path), check=False)
    (second,) = [p for p in (tmp_path / "res").iterdir() if p != first]
    assert {e["error_type"] for e in manifest(second)["entries"]} == {"LaunchError"}  # never started
    (message,) = {e["error_message"] for e in manifest(second)["entries"]}
    assert message.startswith(
        f"GpuSettingsError: GPU GPU-fake-0 holds settings campaign {first.resolve()} changed and has not put back"
    )
    assert driver(tmp_path)["power_limit_mw"] == 300_000  # the first campaign's setting, untouched
    restored = llem("gpu", "restore", str(first), cwd=tmp_path, env=fake_env(tmp_path))
    assert restored.stdout.splitlines() == ["put back GPU GPU-fake-0 (changed by exp001_c1)", "1 GPU(s) put back"]
    assert driver(tmp_path) == {"power_limit_mw": ORIGINAL, "sm": None, "mem": None}


def test_values_the_gpu_cannot_take_are_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CAMPAIGN.replace("[300, 400]", "[300, 800]"))
    refused = llem(*UP, cwd=tmp_path, env=fake_env(tmp_path), check=False)
    assert refused.returncode != 0
    assert (
        "gpu.power_limit_w 800 W is outside GPU 0 (GPU-fake-0)'s range 100-700 W; choose a value in that range"
        in refused.stderr
    )
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())
    assert calls(tmp_path) == PROBE  # read and probed, never changed
    (tmp_path / "c.yaml").write_text(CAMPAIGN)
    denied = llem(*UP, cwd=tmp_path, env=fake_env(tmp_path, can_set=False), check=False)
    assert denied.returncode != 0
    assert (
        "gpu.power_limit_w needs permission to change GPU settings (NVML: no permission); run llem as root (its"
        " host process sets them, under --executor docker too) or with CAP_SYS_ADMIN, or drop gpu.* from the"
        " campaign" in denied.stderr
    )


SLOW = CAMPAIGN.replace("warmup: {n_runs: 0}", "warmup: {n_runs: 0, until_settled: true, settle_window_s: 30.0}")


def test_ctrl_c_while_a_unit_runs_puts_the_gpu_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in fake_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    (tmp_path / "c.yaml").write_text(SLOW)
    host = start_host(*UP, cwd=tmp_path)
    try:
        wait_running(tmp_path / "res", 1)
        assert driver(tmp_path)["power_limit_mw"] == 300_000  # set before the unit started, held while it runs
        host.send_signal(signal.SIGINT)
        assert host.wait(timeout=120) == 130
    finally:
        host.kill()
    assert driver(tmp_path) == {"power_limit_mw": ORIGINAL, "sm": None, "mem": None}
    assert calls(tmp_path) == [*PROBE, ("nvmlDeviceSetPowerManagementLimit", [300_000]), *RESTORE]


def test_a_unit_that_times_out_still_puts_the_gpu_back(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(SLOW + "execution: {unit_timeout_s: 3, max_retries: 0}\n")
    llem(*UP, cwd=tmp_path, env=fake_env(tmp_path), check=False)
    campaign = only_campaign_dir(tmp_path / "res")
    assert [e["status"] for e in manifest(campaign)["entries"]] == ["failed", "failed"]
    assert driver(tmp_path) == {"power_limit_mw": ORIGINAL, "sm": None, "mem": None}
    assert calls(tmp_path) == [
        *PROBE,
        ("nvmlDeviceSetPowerManagementLimit", [300_000]),
        *RESTORE,
        ("nvmlDeviceSetPowerManagementLimit", [400_000]),
        *RESTORE,
    ]
