"""Replayed traces and ramped arrivals: exact offsets, field aliases, one clear line per bad input."""

from __future__ import annotations

import itertools
import json
import statistics

import pytest

from llenergymeasure.config.load import TraceReplay
from llenergymeasure.errors import ConfigError
from llenergymeasure.serving.arrivals import arrival_offsets_s, even_offsets_s, ramp_offsets_s
from llenergymeasure.workload.trace import TraceRequest, parse_trace


def lines(*objs: object) -> list[str]:
    return [json.dumps(o) for o in objs]


def test_a_trace_is_replayed_from_its_first_arrival_in_file_order_and_scaled() -> None:
    trace = lines(
        {"timestamp": 10.5, "prompt": "hello", "output_tokens": 7},
        {"timestamp": 10.0, "input_tokens": 12},
        {"timestamp": 12.0, "input_length": 3, "output_length": 2},
    )
    got = parse_trace(trace, TraceReplay(path="t.jsonl", time_scale=0.5), "t.jsonl")
    assert got == [
        TraceRequest(0.25, "hello", None, 7),
        TraceRequest(0.0, None, 12, None),
        TraceRequest(1.0, None, 3, 2),
    ]


def test_millisecond_traces_and_named_fields() -> None:
    trace = lines({"ts": 1000, "len_in": 4, "len_out": 9}, {"ts": 1250, "len_in": 5, "len_out": 1})
    replay = TraceReplay(path="t", time_unit="ms", time_field="ts", input_field="len_in", output_field="len_out")
    assert parse_trace(trace, replay, "t") == [TraceRequest(0.0, None, 4, 9), TraceRequest(0.25, None, 5, 1)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "t:1: not valid JSON; each line of a trace is one object"),
        (
            '{"prompt": "x"}',
            "t:1: no arrival time (timestamp or arrival_time or time or t); set scenario.replay.time_field to its key",
        ),
        ('{"timestamp": "soon", "prompt": "x"}', "t:1: timestamp 'soon' is not a number; arrival times are numbers"),
        (
            '{"timestamp": 1}',
            "t:1: neither a prompt (prompt or text) nor an input length (input_tokens or input_length or "
            "prompt_tokens or input_len or prompt_len); set scenario.replay.prompt_field or input_field",
        ),
        (
            '{"timestamp": 1, "input_tokens": 2.5}',
            "t:1: input_tokens 2.5 is not a positive whole number of tokens; fix the line",
        ),
        (
            '{"timestamp": 1, "prompt": "x", "output_tokens": 0}',
            "t:1: output_tokens 0 is not a positive whole number of tokens; fix the line",
        ),
    ],
)
def test_a_bad_line_is_named_with_its_fix(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_trace([line], TraceReplay(path="t"), "t")
    assert str(err.value) == message


def test_an_empty_trace_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^t: the trace has no requests$"):
        parse_trace(["", "  "], TraceReplay(path="t"), "t")


def test_a_ramp_draws_its_gaps_at_a_rate_growing_linearly_with_the_index() -> None:
    offsets = ramp_offsets_s(2001, 2.0, 20.0, seed=3, burstiness=1.0)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert offsets[0] == 0.0
    # The first hundred gaps follow ~2/s, the last hundred ~20/s (means within 25 %).
    assert 0.375 < statistics.mean(gaps[:100]) < 0.625
    assert 0.0375 < statistics.mean(gaps[-100:]) < 0.0625
    # Seeded: the same schedule every time.
    assert ramp_offsets_s(5, 1.0, 4.0, seed=3) == ramp_offsets_s(5, 1.0, 4.0, seed=3)


def test_a_ramp_with_equal_ends_is_the_plain_gamma_schedule() -> None:
    assert ramp_offsets_s(50, 5.0, 5.0, seed=9, burstiness=0.5) == pytest.approx(
        arrival_offsets_s(50, 5.0, seed=9, burstiness=0.5), rel=1e-12
    )


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma_gaps_have_the_coefficient_of_variation_burstiness_asks(burstiness: float) -> None:
    offsets = arrival_offsets_s(4001, 10.0, seed=1, burstiness=burstiness)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    cv = statistics.stdev(gaps) / statistics.mean(gaps)
    assert abs(cv - burstiness**-0.5) < 0.1 * burstiness**-0.5


def test_even_offsets() -> None:
    assert even_offsets_s(4, 2.0) == [0.0, 0.5, 1.0, 1.5]
