"""Exactly-once through a full disk: fill a small tmpfs mid-campaign, the run stops, free space, resume.

Free space is checked before each unit (campaign/diskspace.py): a full disk stops the run before
the next unit measures anything, with one line naming the folder. The result files are the ground
truth; `resume` reconciles the manifest with them, so every unit ends completed exactly once
however many manifest writes the full disk refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llenergymeasure.results.reader import read_result
from tests.integration.conftest import FAST, fill, llem, manifest, small_tmpfs

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "24m") as disk:  # above the 16 MiB a unit needs (UNIT_RESERVE_BYTES)
        yield disk


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def need_mib(campaign_dir: Path) -> str:
    """What one unit needs there as the refusal prints it: 16 MiB and twice the manifest."""
    return f"{(16 * (1 << 20) + 2 * (campaign_dir / 'manifest.json').stat().st_size) / (1 << 20):.1f}"


def completed(campaign_dir: Path) -> int:
    try:
        return sum(e["status"] == "completed" for e in manifest(campaign_dir)["entries"])
    except (OSError, ValueError):
        return 0


def test_full_disk_mid_campaign_stops_the_run_then_resume_completes_every_unit_exactly_once(
    tmp_path: Path, small_disk: Path
) -> None:
    camp = tmp_path / "camp.yaml"
    camp.write_text(
        "name: full\n" + FAST + "sweep:\n  pytorch.batch_size: [1, 2]\n"
        "execution: {n_cycles: 3, config_gap_seconds: 1, cycle_gap_seconds: 1}\n"
    )
    results = small_disk / "res"
    host_err = tmp_path / "host.stderr"  # off the full disk, so the host's warnings can be read
    with open(host_err, "wb") as err:
        host = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llenergymeasure.cli.main",
                "campaign",
                "up",
                str(camp),
                "--executor",
                "local",
                "--results-dir",
                str(results),
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_for("the campaign directory", lambda: any(results.glob("full_*/manifest.json")))
        (d,) = [p.parent for p in results.glob("full_*/manifest.json")]
        holder = json.loads((d / "campaign.lock").read_text())
        assert holder["pid"] == host.pid  # `up` holds the campaign for its whole run
        wait_for("two completed units", lambda: completed(d) >= 2)
        before = {p.name: p.read_bytes() for p in d.glob("*_c[0-9].json")}
        fill(small_disk / "filler")
        assert host.wait(timeout=300) == 1  # stopped by itself, before the next unit
    finally:
        if host.poll() is None:
            host.send_signal(signal.SIGKILL)
            host.wait()
    lines = host_err.read_text(errors="replace").splitlines()
    assert (
        f"error: {d}: 0.0 MiB free, but one unit needs {need_mib(d)} MiB for its results and the "
        f"manifest; no further unit was started: free space there, then `llem campaign resume {d}`"
    ) in lines
    started_after = [e for e in manifest(d)["entries"] if e["status"] == "running"]
    assert len(started_after) <= 1  # at most the unit that was measuring when the disk filled
    assert len(before) >= 2
    (small_disk / "filler").unlink()

    proc = llem("campaign", "resume", str(d), "--executor", "local", cwd=tmp_path)
    assert "6 units: 6 completed" in proc.stdout
    m = manifest(d)
    assert [e["status"] for e in m["entries"]] == ["completed"] * 6
    assert sorted(p.name for p in d.glob("*_c[0-9].json")) == sorted(e["result_file"] for e in m["entries"])
    for e in m["entries"]:
        read_result(d / e["result_file"], e["config_hash"], e["cycle"])  # each one valid, for its unit
    for name, data in before.items():
        assert (d / name).read_bytes() == data, f"{name} was re-run"  # completed before the fault: never again
    assert not list(d.glob(".*.tmp"))
    assert not (d / "campaign.lock").exists()


def test_a_disk_without_room_for_one_unit_starts_none(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "8m") as disk:
        camp = tmp_path / "camp.yaml"
        camp.write_text("name: tight\n" + FAST)
        proc = llem(
            "campaign", "up", str(camp), "--executor", "local", "--results-dir", str(disk), cwd=tmp_path, check=False
        )
        (d,) = [p.parent for p in disk.glob("tight_*/manifest.json")]
        free = os.statvfs(d).f_bavail * os.statvfs(d).f_frsize / (1 << 20)
        assert proc.returncode == 1
        assert proc.stderr.splitlines()[-1] == (
            f"error: {d}: {free:.1f} MiB free, but one unit needs {need_mib(d)} MiB for its results "
            f"and the manifest; no further unit was started: free space there, then `llem campaign resume {d}`"
        )
        assert [e["status"] for e in manifest(d)["entries"]] == ["pending"]
        assert not list(d.glob("*_c1.json"))
