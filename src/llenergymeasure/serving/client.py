"""The load generator: an async streaming client of an OpenAI-compatible ``/v1/completions``.

aiohttp (what vLLM's own ``bench serve`` drives servers with; already inside the vLLM and
TensorRT-LLM images) keeps one connection pool for the run; every request streams server-sent
events and each chunk's arrival is stamped with the injected clock, one stamp per token it
carries (``return_token_ids``), so ITL percentiles come from real gaps. A request that fails (HTTP
error, broken stream, timeout) is recorded with its error and the run goes on; the caller decides
whether a dead server ends the unit.

Sending keeps to the schedule (``arrivals``): one dispatcher coroutine sleeps on the event loop's
own clock until each due time, marks the arrival and creates the request's task without awaiting
anything else, so one slow request never delays the next one's send. A concurrency cap, where
there is one, is a semaphore each request waits on inside its own task (a client-side queue whose
wait shows as send lateness), and the connection pool is sized to the cap or left unbounded, so
aiohttp never caps in its place. Under a request rate each record keeps its due time beside its
send, so latencies are timed from arrival and the lateness is measured.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llenergymeasure.serving.stats import StreamedRequest
from llenergymeasure.serving.steady import SteadyStateTracker


@dataclass(frozen=True)
class LoadSpec:
    """What to send: token-id prompts, their due offsets, and the request body's fixed fields.

    ``concurrency``: most requests in flight at once (None: no cap). ``open_loop``: the offsets are
    arrivals to keep to (recorded as each request's due time), not just a start order.
    """

    base_url: str
    model: str
    prompts: Sequence[Sequence[int]]
    offsets_s: Sequence[float]
    concurrency: int | None
    body: dict[str, Any]
    request_timeout_s: float
    open_loop: bool = False
    max_tokens: Sequence[int] | None = None  # each request's own output length (a dataset's, a trace's)


def request_body(spec: LoadSpec, index: int) -> dict[str, Any]:
    """The JSON body of request ``index``'s streamed completion (token ids in, token ids and usage back)."""
    own = {"max_tokens": spec.max_tokens[index]} if spec.max_tokens is not None else {}
    return {
        **spec.body,
        **own,
        "model": spec.model,
        "prompt": list(spec.prompts[index]),
        "stream": True,
        "stream_options": {"include_usage": True},
        "return_token_ids": True,
    }


def chunk_tokens(choice: dict[str, Any]) -> int:
    """Tokens a streamed choice carries: its ``token_ids`` where given, else one per non-empty text."""
    ids = choice.get("token_ids")
    if isinstance(ids, list):
        return len(ids)
    return 1 if choice.get("text") else 0


async def _one(
    session: Any,
    spec: LoadSpec,
    index: int,
    clock: Callable[[], float],
    t0: float,
    tracker: SteadyStateTracker | None,
    due_s: float | None,
) -> StreamedRequest:
    import aiohttp

    sent = clock() - t0
    if tracker is not None:
        tracker.sent(index, sent)
    times: list[float] = []
    usage_out: int | None = None
    prompt_tokens: int | None = None
    queue_s: float | None = None
    error: str | None = None
    finished = False
    try:
        async with session.post(spec.base_url + "/v1/completions", json=request_body(spec, index)) as resp:
            if resp.status != 200:
                text = (await resp.text())[:200].replace("\n", " ")
                error = f"HTTP {resp.status}: {text}"
            else:
                async for raw in resp.content:
                    line = raw.strip()
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        finished = True
                        break
                    now = clock() - t0
                    chunk = json.loads(data)
                    if "error" in chunk:
                        error = f"server error in stream: {str(chunk['error'])[:200]}"
                        break
                    n = sum(chunk_tokens(c) for c in chunk.get("choices") or [])
                    if n:
                        if not times and tracker is not None:
                            tracker.first_token(index, now)
                        times.extend([now] * n)
                    usage = chunk.get("usage")
                    if usage:
                        usage_out = usage.get("completion_tokens")
                        prompt_tokens = usage.get("prompt_tokens")
                    metrics = chunk.get("metrics") or {}
                    if metrics.get("queue_time_ms") is not None:
                        queue_s = float(metrics["queue_time_ms"]) / 1000.0
                if error is None and not finished:
                    error = "stream ended before [DONE] (server closed the connection)"
    except asyncio.TimeoutError:
        error = f"no complete response within {spec.request_timeout_s:g} s (scenario.request_timeout_s)"
    except aiohttp.ClientError as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    except (ValueError, KeyError) as exc:
        error = f"malformed stream chunk: {exc}"[:200]
    done = clock() - t0
    if tracker is not None:
        tracker.done(index, done)
    return StreamedRequest(index, sent, done, times, prompt_tokens, usage_out, queue_s, error, due_s)


async def run_load(
    spec: LoadSpec,
    clock: Callable[[], float] = time.monotonic,
    tracker: SteadyStateTracker | None = None,
    t0: float | None = None,
) -> list[StreamedRequest]:
    """Send every prompt at its due time (module docstring); the records in prompt order.

    Times in the records are seconds after ``t0`` (default: now on ``clock``, a monotonic clock like
    the loop's own). Due times count from the moment the dispatcher starts, once the connection
    pool exists, so the loop's and the pool's start-up is not charged to the schedule as lateness.
    """
    import aiohttp

    start = clock() if t0 is None else t0
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(spec.concurrency) if spec.concurrency is not None else None
    timeout = aiohttp.ClientTimeout(total=spec.request_timeout_s)
    # 0 is aiohttp's "no limit"; its default of 100 would silently cap an uncapped open loop.
    connector = aiohttp.TCPConnector(limit=spec.concurrency or 0, limit_per_host=spec.concurrency or 0)
    order = sorted(range(len(spec.prompts)), key=lambda i: spec.offsets_s[i])

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        origin_s = clock() - start  # the schedule's zero, in the records' time
        origin_loop = loop.time()

        # A closed loop creates every task at once and each queues on the semaphore, which wakes its
        # waiters first in, first out: requests go out in prompt order, as the steady-state tracker assumes.
        async def request(i: int, due_s: float | None) -> StreamedRequest:
            if slots is None:
                return await _one(session, spec, i, clock, start, tracker, due_s)
            async with slots:
                return await _one(session, spec, i, clock, start, tracker, due_s)

        tasks: list[asyncio.Task[StreamedRequest]] = []
        for i in order:
            offset = spec.offsets_s[i]
            if offset > 0:
                await _sleep_until(loop, origin_loop + offset)
            due_s = origin_s + offset if spec.open_loop else None
            if tracker is not None:
                tracker.arrived(i, clock() - start)
            tasks.append(loop.create_task(request(i, due_s)))
        results = await asyncio.gather(*tasks)
    return sorted(results, key=lambda r: r.index)


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    """Sleep until ``when`` on the loop's clock (``call_at``: no drift from adding up relative sleeps)."""
    if when <= loop.time():
        return
    woken: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    handle = loop.call_at(when, wake)
    try:
        await woken
    finally:
        handle.cancel()


def drive(
    spec: LoadSpec,
    clock: Callable[[], float] = time.monotonic,
    tracker: SteadyStateTracker | None = None,
    t0: float | None = None,
) -> list[StreamedRequest]:
    """Run ``run_load`` on a fresh event loop (the unit's process has none)."""
    return asyncio.run(run_load(spec, clock, tracker, t0))
