"""The steady-state window: the part of a load run where the server holds its target load.

Closed loop (no request rate): it opens once each of the first ``concurrency`` requests has its
first token (the server is then decoding a full batch, past the prefill ramp), and closes at the
first completion after the last request was sent (from then on fewer than ``concurrency`` requests
are in flight: the drain). Open loop (a request rate): it opens at the first completion (the
arrival process has filled the pipeline for one request's lifetime) and closes at the last
arrival, the last due time of the schedule (after which the load only drains; a send held back
behind a concurrency cap is part of that drain). A run that never satisfies both edges in order has
no steady state, and says why. Whether an open loop's window really is steady, and not a growing
queue, is ``stability``'s question.

``SteadyStateTracker`` is fed events as they happen, so the caller can read the energy counters
at the very instant an edge is crossed; ``steady_state_window`` replays a finished trace through
the same tracker, which is how the edges are unit-tested on synthetic traces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

START = "start"
END = "end"


@dataclass(frozen=True)
class Window:
    """Edges of the steady-state window, in the trace's clock (seconds)."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length of the window."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class TraceEvent:
    """One request's timings for replay: sent, first token (None if it never streamed one), done, due.

    ``due_s`` is its scheduled arrival in an open loop (None: the send is the arrival).
    """

    sent_s: float
    first_token_s: float | None
    done_s: float
    due_s: float | None = None


class SteadyStateTracker:
    """Watches arrival / send / first-token / done events and reports each edge once, when it is crossed.

    ``on_edge(name, t)`` is called with ``"start"`` or ``"end"``; a request that ends without a
    token counts as having had its first token at its end for the opening edge (its slot is free).
    Arrivals (a request's due time reached) matter to an open loop only; sends to a closed one.
    """

    def __init__(
        self,
        concurrency: int,
        n_requests: int,
        open_loop: bool,
        on_edge: Callable[[str, float], None] | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.n_requests = n_requests
        self.open_loop = open_loop
        self.on_edge = on_edge
        self.start_s: float | None = None
        self.end_s: float | None = None
        self._sent = 0
        self._arrived = 0
        self._first_of_leading: set[int] = set()
        self._leading = min(concurrency, n_requests)
        self._drained = False  # a request finished after the last send: the load is over

    def arrived(self, index: int, t: float) -> None:
        """Request ``index`` came due at ``t`` (open loop: the arrival process, whether or not it is sent yet)."""
        self._arrived += 1
        if self.open_loop and self._arrived == self.n_requests and self.start_s is not None:
            self._edge(END, t)

    def sent(self, index: int, t: float) -> None:
        """Request ``index`` (0-based, in send order) went out at ``t``."""
        self._sent += 1

    def first_token(self, index: int, t: float) -> None:
        """Request ``index`` received its first token at ``t``."""
        if self.open_loop or self._drained or self.start_s is not None or index >= self._leading:
            return
        self._first_of_leading.add(index)
        # A closed loop reaches its load only when `concurrency` requests exist at all.
        if len(self._first_of_leading) == self.concurrency:
            self._edge(START, t)

    def done(self, index: int, t: float) -> None:
        """Request ``index`` finished (or failed) at ``t``."""
        if self.open_loop:
            if self.start_s is None and self._arrived < self.n_requests:
                self._edge(START, t)
            return
        if self.start_s is None and index < self._leading and index not in self._first_of_leading:
            self.first_token(index, t)
        if self._sent == self.n_requests and not self._drained:
            self._drained = True
            if self.start_s is not None:
                self._edge(END, t)

    def _edge(self, name: str, t: float) -> None:
        if name == START:
            self.start_s = t
        else:
            self.end_s = t
        if self.on_edge is not None:
            self.on_edge(name, t)

    def window(self) -> Window | None:
        """The window, or None if the run never held its target load."""
        if self.start_s is None or self.end_s is None or self.end_s <= self.start_s:
            return None
        return Window(self.start_s, self.end_s)

    def why_none(self) -> str:
        """Why there is no window (for the result's note)."""
        if self.open_loop:
            return (
                "no steady state: the first request finished only after the last one arrived "
                "(send more requests, n_prompts, or a higher request_rate)"
            )
        if self.n_requests < self.concurrency:
            return (
                f"no steady state: {self.n_requests} requests never fill {self.concurrency} concurrent slots "
                "(n_prompts must exceed scenario.concurrency)"
            )
        return (
            f"no steady state: in-flight requests dropped below {self.concurrency} before all of the first "
            f"{self.concurrency} had their first token (raise n_prompts well above scenario.concurrency)"
        )


# Replay order of simultaneous events: a completion frees the slot the next send takes, and a
# request arrives before it is sent.
_ORDER = {"done": 0, "arrived": 1, "sent": 2, "first": 3}


def replay(events: Sequence[TraceEvent], tracker: SteadyStateTracker) -> SteadyStateTracker:
    """Feed a finished trace (events indexed in send order) to ``tracker`` in time order; the tracker."""
    timeline: list[tuple[float, int, int, str]] = []
    for i, e in enumerate(events):
        arrival = e.due_s if e.due_s is not None else e.sent_s
        timeline.append((arrival, _ORDER["arrived"], i, "arrived"))
        timeline.append((e.sent_s, _ORDER["sent"], i, "sent"))
        if e.first_token_s is not None:
            timeline.append((e.first_token_s, _ORDER["first"], i, "first"))
        timeline.append((e.done_s, _ORDER["done"], i, "done"))
    for t, _, i, kind in sorted(timeline):
        if kind == "arrived":
            tracker.arrived(i, t)
        elif kind == "sent":
            tracker.sent(i, t)
        elif kind == "first":
            tracker.first_token(i, t)
        else:
            tracker.done(i, t)
    return tracker


def steady_state_window(events: Sequence[TraceEvent], concurrency: int, open_loop: bool) -> Window | None:
    """The steady-state window of a finished trace (events indexed in send order)."""
    return replay(events, SteadyStateTracker(concurrency, len(events), open_loop)).window()
