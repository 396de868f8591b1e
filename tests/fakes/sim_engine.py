"""A simulated engine whose work draws known energy from the fake NVML, step by step, on a manual clock.

Each engine step lasts ``step_s`` and draws ``busy_w`` for its length (the power a busy GPU draws
whatever it computes) plus ``alpha_j`` per prefill token and ``beta_j`` per decode token it processes
(its power is that energy over ``step_s``, laid into the fake's ``steps`` profile as it runs); between
steps the GPU idles at ``idle_w``. The truth is then known exactly: with static batches a prefill
step costs ``busy_w * step_s + alpha_j`` x its prompt tokens, a decode step ``busy_w * step_s +
beta_j`` x its batch; with continuous batching (``busy_w`` 0) a pass's prefill energy is ``alpha_j``
times its prompt tokens and a decode token costs ``beta_j``.

``static``: batches of ``slots`` requests, one prefill step, then a decode step per further token
(PyTorch's ``generate``). ``continuous``: ``slots`` sequences at most; each step first decodes one
token of every running sequence, then admits waiting requests while their whole prompt fits the
step's ``token_budget`` (vLLM's scheduler with a token budget), so later prefills share steps with
earlier requests' decode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llenergymeasure.backends.base import MemoryReading, PassRunner, RequestRecord
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml


@dataclass
class SimEngine(PassRunner):
    fake: FakeNvml
    clock: ManualClock
    mode: str
    max_output_tokens: int
    slots: int = 4
    token_budget: int = 24
    alpha_j: float = 0.05
    beta_j: float = 0.5
    step_s: float = 0.02
    busy_w: float = 0.0
    idle_w: float = 50.0
    name: str = "sim"
    steps_run: int = 0
    mixed_steps: int = 0  # steps that prefilled and decoded at once

    @property
    def vocab_size(self) -> int:
        return 100

    def load(self, model_path: str) -> None:
        return None

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def prepare(
        self, prompts: Sequence[Any], max_new_tokens: int | None = None, output_tokens: Sequence[int] | None = None
    ) -> list[tuple[int, int]]:
        own = list(output_tokens) if output_tokens is not None else [self.max_output_tokens] * len(prompts)
        return [(len(p), min(n, max_new_tokens) if max_new_tokens else n) for p, n in zip(prompts, own, strict=True)]

    def _step(self, prefill_tokens: int, decode_tokens: int) -> None:
        watts = self.busy_w + (self.alpha_j * prefill_tokens + self.beta_j * decode_tokens) / self.step_s
        t = self.clock() - self.fake.t0
        self.fake.steps = (*self.fake.steps, (t, watts), (t + self.step_s, self.idle_w))
        self.clock.advance(self.step_s)
        self.steps_run += 1
        self.mixed_steps += prefill_tokens > 0 and decode_tokens > 0

    def execute(self, prepared: list[tuple[int, int]]) -> int:
        if self.mode == "static":
            for i in range(0, len(prepared), self.slots):
                batch = prepared[i : i + self.slots]
                self._step(sum(n_in for n_in, _ in batch), 0)
                for _ in range(batch[0][1] - 1):
                    self._step(0, len(batch))
            return len(prepared)
        waiting = list(prepared)
        running: list[int] = []  # tokens still to generate per running sequence
        while waiting or running:
            decode = len(running)
            running = [left - 1 for left in running if left > 1]
            budget, prefill = self.token_budget - decode, 0
            while waiting and len(running) < self.slots and waiting[0][0] <= budget - prefill:
                n_in, n_out = waiting.pop(0)
                prefill += n_in
                if n_out > 1:
                    running.append(n_out - 1)
            self._step(prefill, decode)
        return len(prepared)

    def records(self, prepared: list[tuple[int, int]], raw: int) -> list[RequestRecord]:
        return [RequestRecord(n_in, n_out, 0.0) for n_in, n_out in prepared]

    def memory(self) -> MemoryReading:
        return MemoryReading(None, "sim")

    def versions(self) -> dict[str, str]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"device": "sim"}

    def teardown(self) -> None:
        return None
