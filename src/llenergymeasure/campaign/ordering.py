"""Cycle ordering of experiment units: pure, seeded, reproducible.

Why several orders: energy and speed drift with the GPU's temperature and clocks, and the unit
that runs right after a heavy one inherits its heat (first-order carryover). Each order trades
convenience against how well such effects average out across cycles.

Cycle boundaries count too: with no ``cycle_gap_seconds`` the first unit of a cycle runs right
after the last unit of the one before. Where an order can, it never puts a config straight after
itself there (a unit that follows its own config starts from its own heat, unlike every other
unit); where it cannot, ``self_follows`` finds those places and ``self_follow_note`` says so.
"""

from __future__ import annotations

import random
from itertools import pairwise

from llenergymeasure.config.campaign import CycleOrder


def order_units(n_experiments: int, n_cycles: int, order: CycleOrder, seed: int) -> list[tuple[int, int]]:
    """``(experiment_index, cycle)`` pairs, cycles numbered from 1.

    sequential: A1 A2 B1 B2 (each experiment's cycles back to back);
    interleaved: A1 B1 A2 B2 (round-robin, spreads drift over configs);
    shuffled: each cycle is its own seeded permutation of the experiments, so order effects
    (thermal state, caches) average out while every cycle still holds every experiment once; a
    permutation that would start with the config the previous cycle ended with has that first
    config swapped with a seeded other one (still uniform over the permutations that do not);
    reverse: cycles in pairs, forward then backward, which cancels a linear drift within each pair
    (A1 B1 C1 C2 B2 A2); pair p starts p configs further on (B3 C3 A3 A4 C4 B4), so no backward
    cycle ends with the config the next pair starts with;
    latin_square: cycle c runs row c of a Williams design (see ``williams_rows``).
    """
    cycles = range(1, n_cycles + 1)
    if order == "sequential":
        return [(e, c) for e in range(n_experiments) for c in cycles]
    forward = list(range(n_experiments))
    if order == "interleaved":
        return [(e, c) for c in cycles for e in forward]
    if order == "reverse":
        units: list[tuple[int, int]] = []
        for c in cycles:
            pair = (c - 1) // 2
            base = [(e + pair) % n_experiments for e in forward]
            units.extend((e, c) for e in (base if c % 2 else base[::-1]))
        return units
    if order == "latin_square":
        rows = williams_rows(n_experiments)
        return [(e, c) for c in cycles for e in rows[(c - 1) % len(rows)]]
    units = []
    for c in cycles:
        perm = list(forward)
        # A str seed is hashed with sha512 by random.Random, never with hash(): no PYTHONHASHSEED effect.
        rng = random.Random(f"{seed}:{c}")
        rng.shuffle(perm)
        if units and n_experiments > 1 and perm[0] == units[-1][0]:
            j = rng.randrange(1, n_experiments)
            perm[0], perm[j] = perm[j], perm[0]
        units.extend((e, c) for e in perm)
    return units


def williams_rows(n: int) -> list[list[int]]:
    """A Williams design: orders of ``n`` items in which every item directly follows every other equally often.

    Row r of the cyclic Latin square built from 0, 1, n-1, 2, n-2, ... is that sequence plus r
    (mod n). For even n those n rows already balance first-order carryover (each ordered pair is
    adjacent exactly once); for odd n the n rows and their mirror images (2n rows) do (each pair twice).

    The rows are then put in an order in which, run one after another and round again, no row
    starts with the item the previous one ended with and no (last, first) pair at a row change
    repeats (``_chain``): carryover across cycle boundaries spreads over distinct pairs, and no
    config follows itself. The construction order already has that for n >= 4; n = 3 swaps its last
    two rows; n = 2 cannot (its rows 0 1 and 1 0 meet at the same item), so it keeps them.
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
    return _chain(rows) or rows


# Steps ``_chain``'s search may take when the construction order does not qualify (only n = 2, 3 so far).
CHAIN_BUDGET = 100_000


def _boundaries(rows: list[list[int]], path: list[int]) -> list[tuple[int, int]]:
    """The (last, first) item pairs where the rows in ``path`` meet when run in a loop."""
    return [(rows[a][-1], rows[b][0]) for a, b in pairwise([*path, path[0]])]


def _qualifies(pairs: list[tuple[int, int]]) -> bool:
    return all(a != b for a, b in pairs) and len(set(pairs)) == len(pairs)


def _chain(rows: list[list[int]]) -> list[list[int]] | None:
    """``rows`` reordered so that no row starts with the item the previous one ended with; None if none is found.

    Run in a loop (repetitions of the design), no row may start with the previous row's last item,
    and no (last, first) pair may repeat.

    The construction order when it qualifies (n >= 4), else the first qualifying order of a
    depth-first search that keeps row 0 first and prefers lower indices, bounded by ``CHAIN_BUDGET``.
    """
    if _qualifies(_boundaries(rows, list(range(len(rows))))):
        return rows
    budget = [CHAIN_BUDGET]

    def extend(path: list[int], left: list[int], used: set[tuple[int, int]]) -> list[int] | None:
        if not left:
            return path if _qualifies(_boundaries(rows, path)) else None
        for i in left:
            budget[0] -= 1
            pair = (rows[path[-1]][-1], rows[i][0])
            if budget[0] < 0 or pair[0] == pair[1] or pair in used:
                continue
            found = extend([*path, i], [j for j in left if j != i], used | {pair})
            if found is not None:
                return found
        return None

    found = extend([0], list(range(1, len(rows))), set())
    return [rows[i] for i in found] if found is not None else None


def self_follows(units: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """``(experiment, previous_cycle, cycle)`` wherever a unit runs right after a unit of its own experiment.

    In every order but ``sequential`` each cycle holds each experiment once, so these fall on cycle
    boundaries; in ``sequential`` they are the design (each experiment's cycles back to back).
    """
    return [(e, p, c) for (prev_e, p), (e, c) in pairwise(units) if e == prev_e]


# Why an order leaves a config after itself at a cycle boundary, said with the places.
SELF_FOLLOW_CAUSE: dict[str, str] = {
    "reverse": "each backward cycle starts with the config its forward cycle ended with, which cancelling a "
    "linear drift within the pair requires",
    "latin_square": "the Williams design for 2 configs has the rows AB and BA, which meet at the same config",
}
# How many places a note names before it counts the rest.
SHOWN_PLACES = 6


def self_follow_note(units: list[tuple[int, int]], order: CycleOrder, names: list[str]) -> str | None:
    """Where a config runs straight after itself at a cycle boundary, why, and what helps; None if nowhere.

    Not said for ``sequential`` (there it is the design) nor for a single experiment (nothing else
    could follow it). ``names`` are the experiments' ids, by index.
    """
    follows = self_follows(units)
    if order == "sequential" or len(names) <= 1 or not follows:
        return None
    places = [f"{names[e]} c{p}->c{c}" for e, p, c in follows]
    shown = ", ".join(places[:SHOWN_PLACES])
    if len(places) > SHOWN_PLACES:
        shown += f" and {len(places) - SHOWN_PLACES} more"
    cause = SELF_FOLLOW_CAUSE.get(order)
    return (
        f"{order}: at {len(follows)} cycle boundar{'y' if len(follows) == 1 else 'ies'} a config runs straight"
        f" after itself ({shown}), starting from its own heat rather than another config's"
        f"{f'; {cause}' if cause else ''}; cycle_gap_seconds pauses there"
    )


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
    whole, rest = divmod(n_cycles, length)
    rows = f"its first {rest} row{'s' if rest != 1 else ''}"
    runs = f"runs it {whole} time{'s' if whole != 1 else ''} plus {rows}" if whole else f"runs only {rows}"
    balanced = (
        f"carryover is balanced over the first {whole * length} cycles only" if whole else "carryover is not balanced"
    )
    return (
        f"latin_square: the Williams design for {n_experiments} configs has {length} rows; "
        f"n_cycles={n_cycles} {runs}, so {balanced}; "
        f"use a multiple of {length} cycles for full balance"
    )


def default_shuffle_seed(design_hash: str) -> int:
    """A seed derived from the design, so the same campaign shuffles the same way everywhere."""
    return int(design_hash[:8], 16)
