"""The scraper against a tiny local HTTP server serving fixed text, with an injected clock."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llenergymeasure.serving.scraper import MetricsScraper
from llenergymeasure.serving.telemetry import VLLM_METRICS, TelemetrySample

TEXT = b'# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{engine="0"} 3.0\n'


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = (200, TEXT) if self.path == "/metrics" else (404, b"no")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_scrapes_once_per_interval_stamped_by_the_clock(base_url: str) -> None:
    ticks = itertools.count(100.0)
    scraper = MetricsScraper(f"{base_url}/metrics", VLLM_METRICS, interval_s=0.05, clock=lambda: next(ticks))
    assert (scraper.samples, scraper._thread) == ([], None)  # the constructor starts nothing
    scraper.start()
    time.sleep(0.32)
    samples = scraper.stop()
    # ~7 ticks in 0.32 s, one final scrape: a loaded test machine may lose a tick or two.
    assert 5 <= len(samples) <= 9
    assert samples == [TelemetrySample(t_s=100.0 + k, running=3.0) for k in range(len(samples))]
    assert (scraper.n_failed, scraper.note()) == (0, None)


def test_failures_are_counted_not_raised(base_url: str) -> None:
    scraper = MetricsScraper(f"{base_url}/nope", VLLM_METRICS, interval_s=0.05, clock=lambda: 1.0)
    scraper.start()
    time.sleep(0.12)
    assert scraper.stop() == []
    assert scraper.n_failed >= 2
    assert scraper.note() == (
        f"{scraper.n_failed} of {scraper.n_failed} metrics scrapes of {base_url}/nope failed "
        "(last: HTTPError: HTTP Error 404: Not Found)"
    )


def test_a_reader_function_instead_of_a_url() -> None:
    scraper = MetricsScraper(lambda: TEXT.decode(), VLLM_METRICS, interval_s=1.0, clock=lambda: 7.0)
    scraper.scrape_once()
    assert (scraper.source, scraper.stop()) == ("in-process", [TelemetrySample(t_s=7.0, running=3.0)])


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s must be positive, got 0"):
        MetricsScraper("http://127.0.0.1:1/metrics", VLLM_METRICS, interval_s=0)
