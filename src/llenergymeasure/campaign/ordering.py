"""Cycle ordering of experiment units: pure, seeded, reproducible."""

from __future__ import annotations

import random

from llenergymeasure.config.campaign import CycleOrder


def order_units(n_experiments: int, n_cycles: int, order: CycleOrder, seed: int) -> list[tuple[int, int]]:
    """``(experiment_index, cycle)`` pairs, cycles numbered from 1.

    sequential: A1 A2 B1 B2 (each experiment's cycles back to back);
    interleaved: A1 B1 A2 B2 (round-robin, spreads drift over configs);
    shuffled: each cycle is its own seeded permutation of the experiments, so order effects
    (thermal state, caches) average out while every cycle still holds every experiment once.
    """
    cycles = range(1, n_cycles + 1)
    if order == "sequential":
        return [(e, c) for e in range(n_experiments) for c in cycles]
    if order == "interleaved":
        return [(e, c) for c in cycles for e in range(n_experiments)]
    units: list[tuple[int, int]] = []
    for c in cycles:
        perm = list(range(n_experiments))
        random.Random(f"{seed}:{c}").shuffle(perm)
        units.extend((e, c) for e in perm)
    return units


def default_shuffle_seed(design_hash: str) -> int:
    """A seed derived from the design, so the same campaign shuffles the same way everywhere."""
    return int(design_hash[:8], 16)
