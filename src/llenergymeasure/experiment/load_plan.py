"""What a server-mode unit sends, and when: prompts as token ids, each request's length, its due time.

Decided before the server starts, from the config alone (and the tokenizer): the dataset's prompts
under a closed loop, gamma arrivals or a ramp, or a replayed trace's own requests and times. A
saturation sweep draws one fresh prompt set per phase, so no phase re-sends another's prompts to a
server whose prefix cache would make them hits.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llenergymeasure.backends.common import count_tokens, encode_prompts
from llenergymeasure.config.experiment import ExperimentConfig, ServerScenario
from llenergymeasure.experiment.prompts import needs_tokenizer, select_prompt_sets
from llenergymeasure.serving.arrivals import arrival_offsets_s, arrival_seed, ramp_offsets_s
from llenergymeasure.workload.trace import TraceRequest, read_trace


@dataclass(frozen=True)
class ServerLoad:
    """The measured load: prompts (token ids), each request's own output length (None: the body's), due times.

    ``phases`` holds further prompt sets (and their lengths) for a saturation sweep's other phases.
    ``seed`` is the arrival schedule's seed where one was drawn.
    """

    prompts: list[list[int]]
    max_tokens: list[int] | None
    offsets_s: list[float]
    open_loop: bool
    seed: int | None
    phases: list[tuple[list[list[int]], list[int] | None]]
    dataset_kind: str
    output_lengths: Literal["fixed", "dataset", "natural"]


def trace_prompts(rows: Sequence[TraceRequest], tokenizer: Any, config: ExperimentConfig) -> list[list[int]]:
    """Each trace line's prompt as token ids: its text encoded, or seeded ids of its input length.

    Synthetic ids are drawn from one ``random.Random(seed)`` in line order (skipping the lowest ids,
    where tokenizers keep special tokens), so a trace always replays the same token sequences.
    """
    vocab = len(tokenizer)
    low = min(10, vocab - 1)
    rng = random.Random(config.seed)
    out: list[list[int]] = []
    for row in rows:
        if row.prompt is not None:
            out.append(encode_prompts(tokenizer, [row.prompt], config.max_input_tokens)[0])
        else:
            out.append([rng.randrange(low, vocab) for _ in range(row.input_tokens or 1)])
    return out


def plan_load(config: ExperimentConfig, tokenizer: Any, cycle: int) -> ServerLoad:
    """The unit's load (module docstring)."""
    scenario = config.scenario
    assert isinstance(scenario, ServerScenario)
    if scenario.replay is not None:
        # A trace's lines are its requests, output lengths included: they run as a dataset's do (to
        # their length), or cap a natural length; a line without one gets max_output_tokens.
        rows = read_trace(scenario.replay)
        own = [r.output_tokens or config.max_output_tokens for r in rows]
        natural = config.output_lengths == "natural"
        kind: Literal["fixed", "dataset", "natural"] = (
            "natural" if natural else "dataset" if any(r.output_tokens for r in rows) else "fixed"
        )
        prompts = trace_prompts(rows, tokenizer, config)
        return ServerLoad(prompts, own, [r.offset_s for r in rows], True, None, [], "trace", kind)
    n_sets = scenario.saturation.points if scenario.saturation is not None else 1
    counter = (lambda texts: count_tokens(tokenizer, texts)) if needs_tokenizer(config) else None
    drawn = select_prompt_sets(config, len(tokenizer), n_sets, counter)
    sets = [encode_prompts(tokenizer, s, config.max_input_tokens) for s in drawn.sets]
    lengths: list[list[int] | None] = list(drawn.output_tokens) if drawn.output_tokens else [None] * len(sets)
    prompts, max_tokens = sets[0], lengths[0]
    n = len(prompts)
    seed = arrival_seed(config.seed, cycle, scenario.arrival_schedule)
    if scenario.ramp_up is not None and scenario.request_rate is not None:
        offsets = ramp_offsets_s(n, scenario.ramp_up.start_rate, scenario.request_rate, seed, scenario.burstiness)
    else:
        offsets = arrival_offsets_s(n, scenario.request_rate, seed, scenario.burstiness)
    phases = [(sets[k], lengths[k]) for k in range(1, len(sets))]
    return ServerLoad(
        prompts,
        max_tokens,
        offsets,
        scenario.open_loop,
        seed if scenario.open_loop else None,
        phases,
        config.dataset.kind,
        config.output_lengths,
    )
