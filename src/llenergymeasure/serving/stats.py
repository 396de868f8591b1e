"""Serving figures from streamed request timings: percentiles, throughput over a window, goodput, lateness.

Pure functions over ``StreamedRequest`` values (times in seconds since the load started), so every
figure is unit-tested on synthetic traces with exact numbers.

A request's latencies run from its **arrival**: its due time under a request rate (open loop), so
that queueing anywhere (a late client, a full connection pool, the server's queue) is part of what
a user would see, and its send under a closed loop (where a request exists only once a slot frees).
The figures timed from the actual send are kept under ``send_*`` names.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from llenergymeasure.results.schema import Distribution, ServedRequest, ServingWindow, distribution
from llenergymeasure.serving.arrivals import schedule_rate_per_s

# Sends later than this at p99 (ms behind their due time) get a note: the offered load was not the
# schedule. A few ms is what one busy event-loop turn costs; more means the client fell behind.
SEND_LATENESS_NOTE_P99_MS = 5.0


@dataclass(frozen=True)
class StreamedRequest:
    """One request as the client saw it; ``token_times_s`` holds one entry per streamed token.

    ``due_s`` is the request's scheduled arrival under a request rate, None in a closed loop.
    """

    index: int
    sent_s: float
    done_s: float
    token_times_s: list[float] = field(default_factory=list)
    prompt_tokens: int | None = None
    usage_output_tokens: int | None = None
    queue_s: float | None = None
    error: str | None = None
    due_s: float | None = None

    @property
    def ok(self) -> bool:
        """Finished without an error and streamed at least one token."""
        return self.error is None and bool(self.token_times_s)

    @property
    def output_tokens(self) -> int:
        """The server's usage figure where it gave one, else what was streamed."""
        return self.usage_output_tokens if self.usage_output_tokens is not None else len(self.token_times_s)

    @property
    def arrival_s(self) -> float:
        """When the request arrived: its due time in an open loop, its send in a closed one."""
        return self.due_s if self.due_s is not None else self.sent_s

    @property
    def lateness_s(self) -> float | None:
        """Send minus due time (open loop only): how far behind its schedule the request went out."""
        return self.sent_s - self.due_s if self.due_s is not None else None

    @property
    def ttft_s(self) -> float | None:
        """Arrival to first token."""
        return self.token_times_s[0] - self.arrival_s if self.token_times_s else None

    @property
    def send_ttft_s(self) -> float | None:
        """Send to first token (the server's share of TTFT, without the client's lateness)."""
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
        """Arrival to end of stream."""
        return self.done_s - self.arrival_s

    @property
    def send_e2e_s(self) -> float:
        """Send to end of stream."""
        return self.done_s - self.sent_s


def ms_distribution(values_s: Sequence[float]) -> Distribution | None:
    """Mean and percentiles in milliseconds; None for no values."""
    return distribution([v * 1000.0 for v in values_s]) if values_s else None


def meets_slo(r: StreamedRequest, ttft_ms: float | None, tpot_ms: float | None) -> bool:
    """Whether a successful request met both bounds, as vLLM's bench counts request goodput.

    An unset bound always holds, and a request of one token has no TPOT (vLLM takes it as 0). TTFT
    is from arrival (the module docstring), so a request the client sent late can miss its bound.
    """
    if not r.ok:
        return False
    ttft, tpot = r.ttft_s, r.tpot_s
    if ttft_ms is not None and (ttft is None or ttft * 1000.0 > ttft_ms):
        return False
    return not (tpot_ms is not None and tpot is not None and tpot * 1000.0 > tpot_ms)


def window_counts(
    requests: Sequence[StreamedRequest], start_s: float, end_s: float, only: Collection[int] | None = None
) -> tuple[int, int]:
    """(successful requests finished in [start, end], output tokens streamed in [start, end]).

    ``only``: count just the requests of these indices (the goodput ones).
    """
    chosen = [r for r in requests if r.ok and (only is None or r.index in only)]
    done = sum(1 for r in chosen if start_s <= r.done_s <= end_s)
    tokens = sum(1 for r in chosen for t in r.token_times_s if start_s <= t <= end_s)
    return done, tokens


def serving_window(
    requests: Sequence[StreamedRequest],
    start_s: float,
    end_s: float,
    energy_j: float | None = None,
    uncertainty_j: float | None = None,
    origin_monotonic_s: float | None = None,
    origin_unix_s: float | None = None,
    good: Collection[int] | None = None,
) -> ServingWindow:
    """Throughput (and energy per token and per request, with their bounds) over one window.

    ``start_s``/``end_s`` count from the load's start, which was ``origin_*`` on CLOCK_MONOTONIC and
    the wall clock: the window's absolute edges are recorded too. ``good``: indices of the requests
    meeting the SLO; given, the window's request goodput and energy per goodput token are filled in,
    counted the same way as its other figures (requests by completion, tokens by arrival inside it).
    """
    done, tokens = window_counts(requests, start_s, end_s)
    duration = end_s - start_s

    def per(value: float | None, n: int) -> float | None:
        return value / n if value is not None and n else None

    good_done, good_tokens = window_counts(requests, start_s, end_s, good) if good is not None else (None, None)
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
        goodput_requests=good_done,
        request_goodput_per_s=(good_done / duration if duration > 0 else 0.0) if good_done is not None else None,
        goodput_output_tokens=good_tokens,
        energy_per_goodput_token_j=per(energy_j, good_tokens or 0),
        energy_per_goodput_token_uncertainty_j=per(uncertainty_j, good_tokens or 0),
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
    """Requests sent per second: ``n - 1`` over the span from the first send to the last (0 for fewer than two).

    The estimator ``arrivals.schedule_rate_per_s`` applies to the due times, so an open loop that kept
    its schedule achieves that schedule's rate exactly.
    """
    return schedule_rate_per_s([r.sent_s for r in requests]) or 0.0


def lateness_distribution_ms(requests: Sequence[StreamedRequest]) -> Distribution | None:
    """How late each request was sent after its due time, in ms; None in a closed loop (nothing is due)."""
    return ms_distribution([r.lateness_s for r in requests if r.lateness_s is not None])


def lateness_note(lateness_ms: Distribution | None, cap: int | None) -> str | None:
    """A note when sends ran more than ``SEND_LATENESS_NOTE_P99_MS`` behind schedule at p99; None otherwise."""
    if lateness_ms is None or lateness_ms.p99 <= SEND_LATENESS_NOTE_P99_MS:
        return None
    why = (
        f"scenario.concurrency caps in-flight requests at {cap}, so requests waited for a slot; "
        "leave concurrency unset for an uncapped open loop"
        if cap is not None
        else "the client could not keep up (a busy host, or too high a request_rate for one client)"
    )
    return (
        f"sends ran late: p50 {lateness_ms.p50:.1f} ms, p99 {lateness_ms.p99:.1f} ms, max {lateness_ms.max:.1f} ms "
        f"behind schedule (more than {SEND_LATENESS_NOTE_P99_MS:g} ms at p99): {why}; the offered load was not the "
        "drawn schedule, and TTFT and latency, timed from the due time, include the lateness"
    )


def served_requests(requests: Sequence[StreamedRequest], good: Collection[int]) -> list[ServedRequest]:
    """Every request's own timings for the result, so each figure can be recomputed from them."""
    return [
        ServedRequest(
            index=r.index,
            due_s=r.due_s,
            sent_s=r.sent_s,
            first_token_s=r.token_times_s[0] if r.token_times_s else None,
            done_s=r.done_s,
            output_tokens=r.output_tokens,
            ok=r.ok,
            meets_slo=r.index in good,
        )
        for r in sorted(requests, key=lambda x: x.index)
    ]
