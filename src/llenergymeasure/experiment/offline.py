"""The offline scenario's measured windows: the main one, and the prefill/decode split's shorter one.

Both windows run whole passes, each pass over its own prompt set drawn before the windows
(``prompts.select_prompt_sets``), so no prompt repeats inside a window while the dataset lasts and
KV or prefix reuse never turns a later pass's prefill into a cache hit. Every pass's inputs are
engine-ready before the first window opens. The split's window (``split_output_tokens`` per
request, the same prompt sets) runs after the main one in odd cycles and before it in even ones,
so neither always meets the hotter GPU. ``phases.differential_split`` turns the two into prefill
and decode. ``prepare_windows`` (inputs) and ``measure_windows`` (the windows) are two calls, so the
runner settles the GPU between them, right before the first window opens.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from llenergymeasure.backends.base import Backend, RequestRecord
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.experiment.measure import MeasuredWindow, WindowMeasurement
from llenergymeasure.experiment.phases import PhaseSplit, SplitWindow, differential_split
from llenergymeasure.experiment.prompts import select_prompt_sets
from llenergymeasure.experiment.window import run_passes

# Prompt sets prepared per window at most (engine-ready inputs are held in memory; beyond this,
# passes start over from the first set, with a note), and the margin over the estimated passes.
MAX_PROMPT_SETS = 256
PASS_MARGIN = 1.5
# Sets prepared when no pass time is known (no warmup ran) but the window must last a while.
UNKNOWN_PASS_SETS = 8


def sets_needed(target_s: float, est_pass_s: float | None) -> int:
    """Prompt sets a window of ``target_s`` needs, with a margin, from an estimate of one pass's length."""
    if target_s <= 0:
        return 1
    if est_pass_s is None or est_pass_s <= 0:
        return UNKNOWN_PASS_SETS
    return min(MAX_PROMPT_SETS, math.ceil(PASS_MARGIN * target_s / est_pass_s) + 1)


@dataclass(frozen=True)
class MeasuredPasses:
    """One window: its passes' records, pass count and length on the harness clock, and its measurement."""

    records: list[RequestRecord]
    n_passes: int
    wall_s: float
    measured: WindowMeasurement
    output_tokens: int  # per request, as configured for this window
    requested: list[int] | None = None  # each request's own length, where requests had their own

    @property
    def decode_tokens(self) -> int:
        """Output tokens after each request's first, over the window."""
        return sum(r.output_tokens for r in self.records) - len(self.records)

    def split_window(self) -> SplitWindow:
        """The window as one side of the differential split."""
        m = self.measured.gpu
        return SplitWindow(
            wall_s=self.wall_s,
            input_tokens=sum(r.input_tokens for r in self.records),
            decode_tokens=self.decode_tokens,
            energy_j=m.total_energy_j if m is not None else None,
            uncertainty_j=m.total_energy_uncertainty_j if m is not None else None,
        )


@dataclass(frozen=True)
class OfflineWindows:
    """The main window, the split's window and split (None when not asked for or not possible), and notes."""

    main: MeasuredPasses
    split_run: MeasuredPasses | None
    split: PhaseSplit | None
    split_first: bool
    prompt_sets_distinct: int
    split_prompt_sets_distinct: int | None
    notes: tuple[str, ...]


class PassInputs:
    """Engine-ready inputs of a window's passes: pass k runs set k, cycling once the prepared sets run out."""

    def __init__(
        self,
        runner: Backend,
        sets: list[list[Any]],
        output_tokens: int,
        lengths: list[list[int]] | None = None,
        cap: int | None = None,
    ) -> None:
        self.runner = runner
        self.output_tokens = output_tokens  # per request, in every pass (the longest one under own lengths)
        own = lengths if lengths is not None else [None] * len(sets)
        self.inputs = [runner.prepare(s, max_new_tokens=cap, output_tokens=n) for s, n in zip(sets, own, strict=True)]
        self.lengths = lengths
        self.cap = cap

    def requested(self, n_passes: int) -> list[int] | None:
        """The output length each request of ``n_passes`` passes was given, in record order; None when uniform."""
        if self.lengths is None:
            return None
        cap = self.cap
        return [
            min(n, cap) if cap is not None else n for k in range(n_passes) for n in self.lengths[k % len(self.lengths)]
        ]

    def run(self, k: int) -> Any:
        """Pass ``k``: its set's inputs through the engine (the window's content)."""
        return self.runner.execute(self.inputs[k % len(self.inputs)])

    def records(self, outputs: list[Any]) -> list[RequestRecord]:
        """Every pass's per-request records, each from its own set's inputs (after the window)."""
        return [r for k, raw in enumerate(outputs) for r in self.runner.records(self.inputs[k % len(self.inputs)], raw)]


@dataclass(frozen=True)
class PreparedWindows:
    """Every pass's engine-ready inputs of both windows, the window length, and the dataset's repeat note."""

    main: PassInputs
    short: PassInputs | None
    target_s: float
    dataset_distinct: int
    dataset_note: str | None


def prepare_windows(
    runner: Backend, config: ExperimentConfig, measured: MeasuredWindow, est_pass_s: float | None
) -> PreparedWindows:
    """Draw and prepare every pass's prompt set of both windows (before either opens)."""
    target = measured.target_s(config.energy.min_window_s)
    short = config.split_tokens()
    n_main = sets_needed(target, est_pass_s)
    # A shorter pass needs more of them to fill the same window (roughly in proportion to its tokens).
    n_short = sets_needed(target, est_pass_s * short / config.max_output_tokens if est_pass_s else None) if short else 0
    drawn = select_prompt_sets(config, runner.vocab_size, max(n_main, n_short), runner.count_tokens)
    distinct = max(1, drawn.distinct)
    own = drawn.output_tokens
    if own and short and config.energy.split_output_tokens is None:
        # Requests of their own lengths: a quarter of their median, so the short window shortens most
        # of them (a quarter of max_output_tokens could exceed every one, leaving nothing to split).
        short = max(1, int(statistics.median(n for s in own for n in s)) // 4)
    main_sets, short_sets = drawn.sets[: min(n_main, distinct)], drawn.sets[: min(n_short, distinct)]
    longest = max((n for s in own for n in s), default=config.max_output_tokens) if own else config.max_output_tokens
    main = PassInputs(runner, main_sets, longest, own[: len(main_sets)] if own else None)
    short_passes = (
        PassInputs(runner, short_sets, min(short, longest), own[: len(short_sets)] if own else None, cap=short)
        if short
        else None
    )
    logger.info("window at least {:.3g} s; {} prompt sets prepared", target, len(main.inputs))
    return PreparedWindows(main, short_passes, target, drawn.distinct, drawn.note)


def measure_windows(
    prepared: PreparedWindows,
    config: ExperimentConfig,
    measured: MeasuredWindow,
    clock: Callable[[], float],
    cycle: int,
) -> OfflineWindows:
    """Measure the main window and (when asked) the split's window, in the order the cycle's parity gives."""

    def window(passes: PassInputs) -> MeasuredPasses:
        measured.begin()
        w = run_passes(passes.run, clock, prepared.target_s)
        m = measured.end()
        return MeasuredPasses(
            passes.records(w.outputs), w.n_passes, w.wall_s, m, passes.output_tokens, passes.requested(w.n_passes)
        )

    short_passes = prepared.short
    split_first = short_passes is not None and cycle % 2 == 0
    split_run = window(short_passes) if short_passes is not None and split_first else None
    main = window(prepared.main)
    if short_passes is not None and not split_first:
        split_run = window(short_passes)
    n_prepared = len(prepared.main.inputs)
    notes = _repeat_notes(main.n_passes, n_prepared, prepared.dataset_distinct, prepared.dataset_note)
    split = None
    split_distinct = None
    if split_run is not None and short_passes is not None:
        logger.info(
            "split window ({} tokens): {} passes in {:.3f} s",
            short_passes.output_tokens,
            split_run.n_passes,
            split_run.wall_s,
        )
        split_distinct = min(split_run.n_passes, len(short_passes.inputs))
        notes += [
            f"split window: {n}"
            for n in _repeat_notes(
                split_run.n_passes, len(short_passes.inputs), prepared.dataset_distinct, prepared.dataset_note
            )
            if n not in notes
        ]
        split = differential_split(main.split_window(), split_run.split_window())
        if split is None:
            notes.append(
                "no prefill/decode split: the split's window generated as many tokens per input token as the main "
                "one (requests stopping at EOS, or none longer than energy.split_output_tokens?); set "
                "decoding.ignore_eos: true, or a lower energy.split_output_tokens"
            )
        elif config.backend == "pytorch" and prepared.main.lengths is not None:
            notes.append(
                "prefill/decode split with per-request output lengths under static batching: a batch steps until its "
                "longest request ends, so the two windows' padded steps differ by more than their decode tokens, which "
                "the split's bounds do not cover; use output_lengths: fixed for a split"
            )
        elif not config.ignores_eos():
            notes.append(
                "prefill/decode split with decoding.ignore_eos false: requests stopping at EOS make the two windows' "
                "work differ in more than their output length (a static batch keeps stepping until its longest "
                "request ends), which the split's bounds do not cover; set decoding.ignore_eos: true"
            )
    return OfflineWindows(
        main=main,
        split_run=split_run,
        split=split,
        split_first=split_first,
        prompt_sets_distinct=min(main.n_passes, n_prepared),
        split_prompt_sets_distinct=split_distinct,
        notes=tuple(notes),
    )


def _repeat_notes(n_passes: int, prepared: int, dataset_distinct: int, dataset_note: str | None) -> list[str]:
    """Why the main window's prompts repeat, when they do: the dataset ran out, or the passes outran the estimate."""
    if dataset_distinct == 0 and dataset_note is not None:  # fewer prompts than one pass holds
        return [dataset_note]
    if n_passes <= prepared:
        return []
    if prepared >= dataset_distinct and dataset_note is not None:
        return [dataset_note]
    return [
        f"the window ran {n_passes} passes over {prepared} prepared prompt sets (more passes than warmup's timing "
        "predicted): later passes repeat prompts; KV/prefix reuse would make them cache hits"
    ]
