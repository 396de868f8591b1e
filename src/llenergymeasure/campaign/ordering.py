"""Cycle ordering of experiment units: pure, seeded, reproducible.

Why several orders: energy and speed drift with the GPU's temperature and clocks, and the unit
that runs right after a heavy one inherits its heat (first-order carryover). Each order trades
convenience against how well such effects average out across cycles.
"""

from __future__ import annotations

import random

from llenergymeasure.config.campaign import CycleOrder


def order_units(n_experiments: int, n_cycles: int, order: CycleOrder, seed: int) -> list[tuple[int, int]]:
    """``(experiment_index, cycle)`` pairs, cycles numbered from 1.

    sequential: A1 A2 B1 B2 (each experiment's cycles back to back);
    interleaved: A1 B1 A2 B2 (round-robin, spreads drift over configs);
    shuffled: each cycle is its own seeded permutation of the experiments, so order effects
    (thermal state, caches) average out while every cycle still holds every experiment once;
    reverse: A1 B1 B2 A2 (every other cycle runs backwards, cancelling a linear drift over pairs);
    latin_square: cycle c runs row c of a Williams design (see ``williams_rows``).
    """
    cycles = range(1, n_cycles + 1)
    if order == "sequential":
        return [(e, c) for e in range(n_experiments) for c in cycles]
    forward = list(range(n_experiments))
    if order == "interleaved":
        return [(e, c) for c in cycles for e in forward]
    if order == "reverse":
        return [(e, c) for c in cycles for e in (forward if c % 2 else forward[::-1])]
    if order == "latin_square":
        rows = williams_rows(n_experiments)
        return [(e, c) for c in cycles for e in rows[(c - 1) % len(rows)]]
    units: list[tuple[int, int]] = []
    for c in cycles:
        perm = list(forward)
        # A str seed is hashed with sha512 by random.Random, never with hash(): no PYTHONHASHSEED effect.
        random.Random(f"{seed}:{c}").shuffle(perm)
        units.extend((e, c) for e in perm)
    return units


def williams_rows(n: int) -> list[list[int]]:
    """A Williams design: orders of ``n`` items in which every item directly follows every other equally often.

    Row r of the cyclic Latin square built from 0, 1, n-1, 2, n-2, ... is that sequence plus r
    (mod n). For even n those n rows already balance first-order carryover (each ordered pair is
    adjacent exactly once); for odd n the n rows and their mirror images (2n rows) do (each pair twice).
    """
    if n <= 1:
        return [list(range(n))]
    first = [0]
    low, high = 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(x + r) % n for x in first] for r in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return rows


def ordering_note(n_experiments: int, n_cycles: int, order: CycleOrder) -> str | None:
    """What a user should know about an order for this campaign's shape, or None.

    A Williams design balances carryover only over whole repetitions of its rows; with another
    cycle count the remaining cycles repeat its first rows, and the note says how far balance holds.
    """
    if order == "reverse" and n_cycles % 2:
        return f"reverse: {n_cycles} cycles is odd, so the forward order runs once more than the backward one"
    if order != "latin_square" or n_experiments <= 1:
        return None
    length = len(williams_rows(n_experiments))
    if n_cycles % length == 0:
        return None
    whole = n_cycles // length
    balanced = (
        f"carryover is balanced over the first {whole * length} cycles only" if whole else "carryover is not balanced"
    )
    return (
        f"latin_square: the Williams design for {n_experiments} configs has {length} rows; "
        f"n_cycles={n_cycles} runs it {whole} time(s) plus its first {n_cycles % length} row(s), so {balanced}; "
        f"use a multiple of {length} cycles for full balance"
    )


def default_shuffle_seed(design_hash: str) -> int:
    """A seed derived from the design, so the same campaign shuffles the same way everywhere."""
    return int(design_hash[:8], 16)
