"""Serving figures from streamed request timings: percentiles, throughput over a window, goodput.

Pure functions over ``StreamedRequest`` values (times in seconds since the load started), so every
figure is unit-tested on synthetic traces with exact numbers.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from llenergymeasure.results.schema import Distribution, ServingWindow, distribution


@dataclass(frozen=True)
class StreamedRequest:
    """One request as the client saw it; ``token_times_s`` holds one entry per streamed token."""

    index: int
    sent_s: float
    done_s: float
    token_times_s: list[float] = field(default_factory=list)
    prompt_tokens: int | None = None
    usage_output_tokens: int | None = None
    queue_s: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Finished without an error and streamed at least one token."""
        return self.error is None and bool(self.token_times_s)

    @property
    def output_tokens(self) -> int:
        """The server's usage figure where it gave one, else what was streamed."""
        return self.usage_output_tokens if self.usage_output_tokens is not None else len(self.token_times_s)

    @property
    def ttft_s(self) -> float | None:
        """Send to first token."""
        return self.token_times_s[0] - self.sent_s if self.token_times_s else None

    @property
    def tpot_s(self) -> float | None:
        """Mean time per output token after the first; None with fewer than two tokens."""
        n = len(self.token_times_s)
        return (self.token_times_s[-1] - self.token_times_s[0]) / (n - 1) if n > 1 else None

    @property
    def itl_s(self) -> list[float]:
        """Every gap between consecutive streamed tokens (tokens of one chunk share its time: gap 0)."""
        return [b - a for a, b in itertools.pairwise(self.token_times_s)]

    @property
    def e2e_s(self) -> float:
        """Send to end of stream."""
        return self.done_s - self.sent_s


def ms_distribution(values_s: Sequence[float]) -> Distribution | None:
    """Mean and percentiles in milliseconds; None for no values."""
    return distribution([v * 1000.0 for v in values_s]) if values_s else None


def meets_slo(r: StreamedRequest, ttft_ms: float | None, tpot_ms: float | None) -> bool:
    """Whether a successful request met both bounds (an unset bound always holds; one token has no TPOT)."""
    if not r.ok:
        return False
    ttft, tpot = r.ttft_s, r.tpot_s
    if ttft_ms is not None and (ttft is None or ttft * 1000.0 > ttft_ms):
        return False
    return not (tpot_ms is not None and tpot is not None and tpot * 1000.0 > tpot_ms)


def window_counts(requests: Sequence[StreamedRequest], start_s: float, end_s: float) -> tuple[int, int]:
    """(successful requests finished in [start, end], output tokens streamed in [start, end])."""
    done = sum(1 for r in requests if r.ok and start_s <= r.done_s <= end_s)
    tokens = sum(1 for r in requests if r.ok for t in r.token_times_s if start_s <= t <= end_s)
    return done, tokens


def serving_window(
    requests: Sequence[StreamedRequest],
    start_s: float,
    end_s: float,
    energy_j: float | None = None,
    uncertainty_j: float | None = None,
    origin_monotonic_s: float | None = None,
    origin_unix_s: float | None = None,
) -> ServingWindow:
    """Throughput (and energy per token and per request, with their bounds) over one window.

    ``start_s``/``end_s`` count from the load's start, which was ``origin_*`` on CLOCK_MONOTONIC and
    the wall clock: the window's absolute edges are recorded too.
    """
    done, tokens = window_counts(requests, start_s, end_s)
    duration = end_s - start_s

    def per(value: float | None, n: int) -> float | None:
        return value / n if value is not None and n else None

    return ServingWindow(
        start_s=start_s,
        end_s=end_s,
        start_monotonic_s=origin_monotonic_s + start_s if origin_monotonic_s is not None else None,
        end_monotonic_s=origin_monotonic_s + end_s if origin_monotonic_s is not None else None,
        start_unix_s=origin_unix_s + start_s if origin_unix_s is not None else None,
        end_unix_s=origin_unix_s + end_s if origin_unix_s is not None else None,
        duration_s=duration,
        completed_requests=done,
        output_tokens=tokens,
        output_tokens_per_s=tokens / duration if duration > 0 else 0.0,
        requests_per_s=done / duration if duration > 0 else 0.0,
        energy_j=energy_j,
        energy_uncertainty_j=uncertainty_j,
        energy_per_output_token_j=per(energy_j, tokens),
        energy_per_output_token_uncertainty_j=per(uncertainty_j, tokens),
        energy_per_request_j=per(energy_j, done),
        energy_per_request_uncertainty_j=per(uncertainty_j, done),
    )


def failure_summary(requests: Sequence[StreamedRequest], limit: int = 10) -> list[str]:
    """Distinct errors, most frequent first, as ``"3x HTTP 500: ..."``."""
    counts = Counter(r.error for r in requests if r.error is not None)
    counts.update("no token streamed" for r in requests if r.error is None and not r.token_times_s)
    return [f"{n}x {msg}" for msg, n in counts.most_common(limit)]


def token_mismatches(requests: Sequence[StreamedRequest]) -> int:
    """Successful requests whose usage figure disagrees with the tokens counted in the stream."""
    return sum(
        1
        for r in requests
        if r.ok and r.usage_output_tokens is not None and r.usage_output_tokens != len(r.token_times_s)
    )


def achieved_rate_per_s(requests: Sequence[StreamedRequest]) -> float:
    """Requests sent per second between the first and the last send (0 for fewer than two)."""
    sends = sorted(r.sent_s for r in requests)
    span = sends[-1] - sends[0] if len(sends) > 1 else 0.0
    return (len(sends) - 1) / span if span > 0 else 0.0
