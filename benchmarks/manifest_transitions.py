"""Manifest transition cost (one entry changed + atomic write) at 100, 1k and 10k entries.

Target: < 5 ms per transition at 10k entries, and growth no worse than linear.
"""

from __future__ import annotations

import time

from benchmarks.common import scratch
from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.store import ManifestStore


def cost_ms(n: int, transitions: int = 200) -> float:
    entries = [
        ManifestEntry(
            key=f"exp{i:05d}_c1",
            exp_id=f"exp{i:05d}",
            config_hash="0" * 16,
            config_summary={"pytorch.batch_size": i % 8, "precision": "bf16"},
            backend="pytorch",
            service="pytorch",
            cycle=1,
            config_file="configs/x.yaml",
            result_file=f"r{i}.json",
        )
        for i in range(n)
    ]
    store = ManifestStore(
        scratch() / "manifest.json",
        CampaignManifest(campaign="bench", design_hash="d" * 16, llem_version="0", entries=entries),
    )
    store.save()
    keys = [e.key for e in entries]
    start = time.perf_counter()
    for i in range(transitions):
        key = keys[i % n]
        e = store.entry(key)
        store.put(mf.start(e) if e.status == "pending" else mf.complete(e, "r.json") if e.status == "running" else e)
    return (time.perf_counter() - start) / transitions * 1000


def main() -> None:
    results = {n: cost_ms(n) for n in (100, 1_000, 10_000)}
    for n, ms in results.items():
        print(f"{n:>6} entries: {ms:7.3f} ms per transition")
    print(f"10k / 1k cost ratio: {results[10_000] / results[1_000]:.2f}  (linear would be 10; target: <= 10)")
    print(f"10k transition: {results[10_000]:.2f} ms  (target < 5 ms)")


if __name__ == "__main__":
    main()
