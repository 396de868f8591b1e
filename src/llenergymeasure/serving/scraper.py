"""The engine's Prometheus endpoint, read once per interval on a background thread.

Built to be cheap beside a measured load on a small machine: one plain urllib GET per interval (no
event loop, no session), only the few wanted metrics parsed (``telemetry.keep_lines``), and nothing
started until ``start()``. A failed scrape is counted, never raised: telemetry must not end a
measurement. ``read`` reads the text instead of GETting it (offline vLLM's in-process registry).
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable

from llenergymeasure.serving.telemetry import TelemetrySample, parse_metrics

# A server streaming to many clients on a small machine answers some scrapes late: a late sample is
# recorded (its stamp says when), a timed-out one is lost, so the timeout is generous.
TIMEOUT_FLOOR_S = 2.0


def http_reader(url: str, timeout_s: float) -> Callable[[], str]:
    """A function that GETs ``url`` and returns its body as text (raises on any failure)."""

    def read() -> str:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body: bytes = response.read()
        return body.decode("utf-8", errors="replace")

    return read


def registry_reader() -> str:
    """The default ``prometheus_client`` registry of this process as exposition text (offline vLLM records into it)."""
    from prometheus_client import REGISTRY, generate_latest

    return generate_latest(REGISTRY).decode("utf-8")


class MetricsScraper:
    """Reads the metrics text every ``interval_s`` until ``stop()``; each sample stamped by ``clock`` on arrival.

    Ticks are on a fixed grid from ``start()``: a slow scrape delays the next one, never shifts the
    grid, and a tick missed entirely is skipped rather than caught up.
    """

    def __init__(
        self,
        source: str | Callable[[], str],
        table: dict[str, tuple[str, ...]],
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.read = source if callable(source) else http_reader(source, max(2 * interval_s, TIMEOUT_FLOOR_S))
        self.source = source if isinstance(source, str) else "in-process"
        self.table = table
        self.clock = clock
        self.samples: list[TelemetrySample] = []
        self.n_failed = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Scrape once now, in the caller's thread, then every interval on a daemon thread.

        The first reading is taken before ``start`` returns, so a window opened right after it has a
        counter reading at or before its start (its deltas then miss none of its work).
        """
        if self._thread is not None:
            raise RuntimeError("scraper already started")
        self.scrape_once()
        self._thread = threading.Thread(target=self._run, name="llem-metrics-scraper", daemon=True)
        self._thread.start()

    def scrape_once(self) -> None:
        """One scrape: a sample appended, or the failure counted."""
        try:
            text = self.read()
            t_s = self.clock()
            self.samples.append(parse_metrics(text, self.table, t_s))
        except Exception as e:  # any failure of the endpoint is counted, not raised
            self.n_failed += 1
            self.last_error = f"{type(e).__name__}: {e}"

    def _run(self) -> None:
        t0 = time.monotonic()  # the synchronous first scrape was tick 0
        k = 0
        while True:
            k = max(k + 1, int((time.monotonic() - t0) / self.interval_s) + 1)
            if self._stop.wait(max(0.0, t0 + k * self.interval_s - time.monotonic())):
                break
            self.scrape_once()

    def stop(self, final_scrape: bool = True) -> list[TelemetrySample]:
        """Stop the thread and return the samples, in time order.

        ``final_scrape``: one more scrape right after stopping, so a window that ends between two
        ticks still has a reading at or after its end for the counters' deltas.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if final_scrape:
                self.scrape_once()
        return sorted(self.samples, key=lambda s: s.t_s)

    def note(self) -> str | None:
        """A line on failed scrapes, or None when every one succeeded."""
        if not self.n_failed:
            return None
        total = self.n_failed + len(self.samples)
        return f"{self.n_failed} of {total} metrics scrapes of {self.source} failed (last: {self.last_error})"
