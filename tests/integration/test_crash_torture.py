"""Crash torture: SIGKILL the host at many random points, resume, and check nothing is lost or run twice.

Bounded in time: a fixed number of kills with seeded random delays. The Slurm host kills (between
recording a job and releasing it, and between ``sbatch`` and recording) are in test_slurm_faults.py,
which needs the real cluster.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llenergymeasure.campaign.store import ManifestStore
from tests.integration.conftest import llem, manifest, start_host

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from llenergymeasure.campaign import manifest as mf
    from llenergymeasure.campaign.layout import CampaignLayout
    from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
    from llenergymeasure.campaign.store import ManifestStore

    path = Path(sys.argv[1])
    N = 4000
    if path.exists():
        store = ManifestStore.load(path)
        CampaignLayout(path.parent).remove_stale_temp_files()
        for e in store.manifest.entries:
            if e.status == "running":
                store.put(mf.requeue(e))
    else:
        entries = [ManifestEntry(key=f"u{i}", exp_id="e", config_hash="0" * 16, backend="pytorch",
                                 service="pytorch", cycle=i, config_file="c.yaml") for i in range(4000)]
        store = ManifestStore(path, CampaignManifest(campaign="t", design_hash="d" * 16,
                                                     llem_version="0", entries=entries))
        store.save()
    print("ready", flush=True)
    for e in list(store.manifest.entries):
        if e.status == "pending":
            store.put(mf.start(e))
            store.put(mf.complete(store.entry(e.key), f"{e.key}.json"))
    print("done", flush=True)
""")


def test_sigkill_during_manifest_writes_never_tears_the_manifest(tmp_path: Path) -> None:
    rng = random.Random(1234)
    path = tmp_path / "manifest.json"
    completed_before = 0
    mid_write_kills = 0
    # Manifest writes skip the fsync now, so a write is a small part of the loop: keep killing (30 at
    # least, 300 at most) until 3 kills have landed inside a write.
    for attempt in range(300):
        if attempt >= 30 and mid_write_kills >= 3:
            break
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        ready = proc.stdout.readline().strip()  # past start-up and loading, however slow the machine is
        time.sleep(rng.uniform(0.0, 0.3))  # into the write loop
        if ready != "ready":  # the writer finished every unit before it could be killed
            proc.wait()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if list(tmp_path.glob(".manifest.json.*.tmp")):
            mid_write_kills += 1
        if not path.exists():
            continue
        store = ManifestStore.load(path)  # raises if the file were torn
        counts = store.manifest.counters()
        assert counts.running <= 1
        assert counts.completed >= completed_before  # progress is never lost
        completed_before = counts.completed
    final = subprocess.run([sys.executable, "-c", WRITER, str(path)], capture_output=True, text=True, timeout=300)
    assert final.stdout.split() in (["ready", "done"], ["done"]), final.stderr
    store = ManifestStore.load(path)
    assert store.manifest.counters().completed == 4000
    assert [e.result_file for e in store.manifest.entries] == [f"u{i}.json" for i in range(4000)]
    assert mid_write_kills >= 3, "too few kills landed inside a manifest write; the torture did not torture"
    assert not list(tmp_path.glob(".manifest.json.*.tmp"))


def test_sigkill_host_at_random_points_then_resume(tmp_path: Path, fast_campaign: Path) -> None:
    # Each kill that lands while a unit runs is an attempt of that unit (a unit that kills its host
    # must not run for ever): allow as many as there are kills.
    fast_campaign.write_text(fast_campaign.read_text().replace("{n_cycles: 2}", "{n_cycles: 2, max_retries: 10}"))
    rng = random.Random(99)
    results = tmp_path / "res"
    campaign_dir: Path | None = None
    kills = 0
    deadline = time.monotonic() + 400
    while kills < 10 and time.monotonic() < deadline:
        args = (
            ["campaign", "up", str(fast_campaign)]
            if campaign_dir is None
            else ["campaign", "resume", str(campaign_dir)]
        )
        extra = ["--results-dir", str(results)] if campaign_dir is None else []
        proc = start_host(*args, "--executor", "local", *extra, cwd=tmp_path)
        time.sleep(rng.uniform(0.5, 7.0))
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 0 if finished else 1
        if campaign_dir is None:
            found = list(results.glob("fast_*/manifest.json"))
            campaign_dir = found[0].parent if found else None
            if campaign_dir is None:  # killed before the campaign existed: start again
                continue
        m = manifest(campaign_dir)  # always parses
        if all(e["status"] == "completed" for e in m["entries"]):
            break
    assert campaign_dir is not None
    # The first `up` needs longer than the longest sleep (server start plus 4 units), so at least
    # that kill lands while the campaign runs; without one the test would prove nothing.
    assert kills >= 1, "no kill landed while the campaign ran; the torture did not torture"
    llem("campaign", "resume", str(campaign_dir), "--executor", "local", cwd=tmp_path)
    m = manifest(campaign_dir)
    assert [e["status"] for e in m["entries"]] == ["completed"] * 4
    names = sorted(p.name for p in campaign_dir.glob("*_c[0-9]*.json"))
    assert names == sorted(e["result_file"] for e in m["entries"])  # nothing lost, nothing extra
    for e in m["entries"]:
        result = json.loads((campaign_dir / e["result_file"]).read_text())
        assert (result["config_hash"], result["cycle"]) == (e["config_hash"], e["cycle"])
        log = campaign_dir / "logs" / f"{e['result_file'].removesuffix('.json')}.log"
        assert log.read_text().count("output tok/s") <= 1  # never measured to completion twice
