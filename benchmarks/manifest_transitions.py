"""Manifest transition cost (one entry changed + atomic write) at 100, 1k and 10k entries.

Target: < 5 ms per transition at 10k entries, and growth no worse than linear. Entries look like
a real campaign half-way through: realistic file names, half of them completed with timestamps.

The three ``sync`` modes of ``write_atomic`` are measured side by side, interleaved in rounds so
that the machine's drift hits each alike: ``full`` (fsync file + directory, what result files
get), ``data`` (fsync the file only) and ``none`` (temp file + ``os.replace``). The manifest
uses ``store.MANIFEST_SYNC``; docs/benchmarks.md records why.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.common import scratch
from llenergymeasure.atomic import Sync
from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.store import MANIFEST_SYNC, ManifestStore

MODES: tuple[Sync, ...] = ("full", "data", "none")
SIZES = (100, 1_000, 10_000)


def make_store(n: int, sync: Sync) -> tuple[ManifestStore, list[str]]:
    """A store of ``n`` entries, half completed, written once; and the keys still to move."""
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
        scratch() / f"manifest-{sync}-{n}.json",
        CampaignManifest(campaign="bench", design_hash="d" * 16, llem_version="0", entries=entries),
        sync=sync,
    )
    store.save()
    return store, [e.key for e in entries[n // 2 :]]


def cost_ms(store: ManifestStore, keys: list[str], transitions: int) -> float:
    """Mean milliseconds per transition over ``transitions`` puts."""
    start = time.perf_counter()
    for i in range(transitions):
        e = store.entry(keys[i % len(keys)])
        store.put(mf.start(e) if e.status == "pending" else mf.complete(e, "r.json") if e.status == "running" else e)
    return (time.perf_counter() - start) / transitions * 1000


def main(rounds: int = 5, transitions: int = 40) -> None:
    stores = {(n, m): make_store(n, m) for n in SIZES for m in MODES}
    samples: dict[tuple[int, Sync], list[float]] = {k: [] for k in stores}
    for _ in range(rounds):
        for n in SIZES:
            for m in MODES:
                samples[n, m].append(cost_ms(*stores[n, m], transitions))
    ms = {k: statistics.median(v) for k, v in samples.items()}
    print(f"median ms per transition over {rounds} interleaved rounds of {transitions}:")
    print(f"{'entries':>8} " + " ".join(f"{m:>8}" for m in MODES) + "   data/full  none/full")
    for n in SIZES:
        row = " ".join(f"{ms[n, m]:8.3f}" for m in MODES)
        print(f"{n:>8} {row}   {ms[n, 'data'] / ms[n, 'full']:9.2f}  {ms[n, 'none'] / ms[n, 'full']:9.2f}")
    used = ms[10_000, MANIFEST_SYNC]
    print(f"10k / 1k cost ratio ({MANIFEST_SYNC}): {used / ms[1_000, MANIFEST_SYNC]:.2f}  (linear would be 10)")
    print(f"10k transition as used (sync={MANIFEST_SYNC!r}): {used:.2f} ms  (target < 5 ms)")


if __name__ == "__main__":
    main()
