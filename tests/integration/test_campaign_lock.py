"""One writer per campaign, through the real CLI: a second resume is refused naming the holder."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from tests.integration.conftest import llem
from tests.unit.campaign.test_lock import HOLD
from tests.unit.campaign.test_reconcile import HASH, result_doc


def finished_campaign(root: Path) -> Path:
    """A campaign directory whose two units are completed with valid results (no model needed)."""
    d = root / "res" / "done_20261123T034000Z"
    (d / "configs").mkdir(parents=True)
    (d / "logs").mkdir()
    (d / "campaign.resolved.json").write_text(json.dumps({"execution": ExecutionConfig().model_dump(mode="json")}))
    entries = []
    for cycle in (1, 2):
        e = ManifestEntry(
            key=f"exp001_c{cycle}",
            exp_id="exp001",
            config_hash=HASH,
            backend="pytorch",
            service="pytorch",
            cycle=cycle,
            config_file="configs/exp001.yaml",
            result_file=f"r_c{cycle}.json",
        )
        entries.append(mf.complete(mf.start(e), f"r_c{cycle}.json"))
        (d / f"r_c{cycle}.json").write_text(json.dumps(result_doc(cycle=cycle)))
    manifest = CampaignManifest(campaign="done", design_hash="d" * 16, llem_version="0", entries=entries)
    assert ManifestStore(d / "manifest.json", manifest).save()
    return d


def snapshot(d: Path) -> dict[str, str]:
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()
    }


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    d = finished_campaign(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(d)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield d, proc
    proc.kill()
    proc.wait()


def test_a_second_resume_is_refused_in_one_line_naming_the_holder(
    tmp_path: Path, held: tuple[Path, subprocess.Popen[str]]
) -> None:
    d, holder = held
    before = snapshot(d)
    started = json.loads((d / "campaign.lock").read_text())["started_at"]
    proc = llem("campaign", "resume", str(d), "--executor", "local", cwd=tmp_path, check=False)
    assert proc.returncode == 3
    assert proc.stderr.splitlines() == [
        f"error: {d}: campaign is being run by pid {holder.pid} on host {socket.gethostname()} "
        f"since {started} (run run-of-holder); wait for it to finish or stop it"
    ]
    assert snapshot(d) == before  # nothing touched: no orphan cleanup, no re-queueing


def test_status_reads_a_held_campaign(tmp_path: Path, held: tuple[Path, subprocess.Popen[str]]) -> None:
    d, _ = held
    proc = llem("campaign", "status", str(d), cwd=tmp_path)
    assert "2 units: 2 completed" in proc.stdout


def test_resume_without_dir_names_its_pick_and_a_finished_campaign_has_nothing_to_do(tmp_path: Path) -> None:
    d = finished_campaign(tmp_path)
    before = snapshot(d)
    proc = llem("campaign", "resume", "--results-dir", "res", "--executor", "local", cwd=tmp_path)
    assert proc.stderr.splitlines()[0] == (
        f"resuming {Path('res') / d.name} (the most recent of 1 campaign(s) in res; pass its DIR for another)"
    )
    assert proc.stdout == "nothing to do: all 2 units completed\n"
    assert snapshot(d) == before  # and nothing written, the lock file included
