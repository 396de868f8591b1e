"""Manifest transition cost (one entry changed + atomic write) at 100, 1k and 10k entries.

Target: < 5 ms per transition at 10k entries, and growth no worse than linear. Entries look like
a real campaign half-way through: realistic file names, half of them completed with timestamps.
"""

from __future__ import annotations

import time

from benchmarks.common import scratch
from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.store import ManifestStore


def cost_ms(n: int, transitions: int = 200) -> float:
    entries = []
    for i in range(n):
        e = ManifestEntry(
            key=f"exp{i // 3:05d}_c{i % 3 + 1}",
            exp_id=f"exp{i // 3:05d}",
            config_hash=f"{i // 3:016x}",
            config_summary={
                "pytorch.batch_size": 2 ** (i // 3 % 6),
                "pytorch.attn_implementation": ("sdpa", "eager")[i // 18 % 2],
            },
            backend="pytorch",
            service="pytorch",
            cycle=i % 3 + 1,
            config_file=f"configs/exp{i // 3:05d}.yaml",
            result_file=f"meta-llama--Llama-3.1-8B_pytorch_bf16_{i // 3:08x}_c{i % 3 + 1}.json",
        )
        entries.append(mf.complete(mf.start(e), e.result_file or "") if i < n // 2 else e)
    store = ManifestStore(
        scratch() / "manifest.json",
        CampaignManifest(campaign="bench", design_hash="d" * 16, llem_version="0", entries=entries),
    )
    store.save()
    keys = [e.key for e in entries[n // 2 :]]
    start = time.perf_counter()
    for i in range(transitions):
        key = keys[i % len(keys)]
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
