"""How server-mode load arrives beyond a rate: a replayed trace, a linear ramp, a saturation sweep.

Kept apart from ``config.experiment`` so the scenario's own model stays readable; every field here
is part of the experiment's identity (a trace by its content digest, like a prompt file).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Names a trace's columns go by in the wild (vLLM's and GuideLLM's traces, Mooncake, BurstGPT
# exported to JSON lines): the first one a line holds is used when the field is not named.
TIME_FIELDS: tuple[str, ...] = ("timestamp", "arrival_time", "time", "t")
INPUT_FIELDS: tuple[str, ...] = ("input_tokens", "input_length", "prompt_tokens", "input_len", "prompt_len")
OUTPUT_FIELDS: tuple[str, ...] = ("output_tokens", "output_length", "completion_tokens", "output_len", "max_tokens")
PROMPT_FIELDS: tuple[str, ...] = ("prompt", "text")


class TraceReplay(_Strict):
    """Replay a timestamped trace: each JSON line is one request, sent at its time after the first.

    A line holds its arrival time, a prompt (text) or an input length (synthetic token ids of that
    length, seeded), and optionally an output length (else ``max_output_tokens``). The whole trace
    is replayed (``n_prompts`` has no effect); times are kept as drawn, gaps scaled by ``time_scale``.
    """

    path: str = Field(description="The trace, JSON lines; relative paths resolve from the config file.")
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="Content digest, filled in at load and checked when given: a trace is identified by content.",
    )
    time_scale: float = Field(
        1.0,
        gt=0.0,
        le=1e6,
        description="Multiplies every gap: 0.5 replays twice as fast, 2 half as fast.",
    )
    time_unit: Literal["s", "ms"] = Field("s", description="Unit of the time field.")
    time_field: str | None = Field(
        None, description=f"Key of the arrival time; None: the first of {', '.join(TIME_FIELDS)} a line holds."
    )
    prompt_field: str | None = Field(
        None, description=f"Key of a text prompt; None: the first of {', '.join(PROMPT_FIELDS)} a line holds."
    )
    input_field: str | None = Field(
        None,
        description=(
            f"Key of an input length, used where a line has no prompt; None: the first of {', '.join(INPUT_FIELDS)}."
        ),
    )
    output_field: str | None = Field(
        None, description=f"Key of the output length; None: the first of {', '.join(OUTPUT_FIELDS)} a line holds."
    )


class RampUp(_Strict):
    """A linear ramp of the arrival rate, as vLLM's bench ``--ramp-up-strategy linear``.

    Request i's gap is drawn at ``start_rate + (request_rate - start_rate) * i / (n - 1)``, with the
    scenario's burstiness: the load grows from ``start_rate`` to ``request_rate`` over the requests.
    """

    start_rate: float = Field(gt=0.0, le=1_000_000.0, description="Arrivals per second at the first request.")


class Saturation(_Strict):
    """A saturation sweep in one unit, as GuideLLM's ``sweep`` profile: where the server stops keeping up.

    Phases, each sending ``n_prompts`` fresh requests in an energy window of its own: throughput (all
    at once, capped by ``concurrency`` where set; the unit's own window), synchronous (one request at a
    time), then ``points - 2`` open-loop rates evenly spaced strictly between the two phases' completed
    request rates. A rate is sustained when none of its requests failed and the open loop's stability
    test (the queue of requests in flight, as for any open loop) calls it steady; a phase too short
    to tell is left unjudged. The result holds the curve and the highest sustained rate.
    """

    points: int = Field(6, ge=3, le=50, description="Phases in all: synchronous, throughput and points - 2 rates.")
