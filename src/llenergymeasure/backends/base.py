"""The backend interface: the one small seam between the measurement harness and an engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel

from llenergymeasure.backends.registry import spec
from llenergymeasure.errors import BackendError

if TYPE_CHECKING:
    from llenergymeasure.config.experiment import ExperimentConfig

T = TypeVar("T")
C = TypeVar("C", bound=BaseModel)

# A prompt is text, or token ids (synthetic prompts skip tokenization so their length is exact).
Prompt = str | list[int]


@dataclass(frozen=True)
class RequestRecord:
    """What one request produced and how long it took; timings are None where the engine hides them.

    Offline, every request of a pass is submitted when the pass starts, and ``latency_s`` and
    ``ttft_s`` run from that submission on every backend: waiting behind earlier batches (static
    batching) or in the scheduler's queue (continuous batching) is part of them. ``service_s`` is a
    static batch's own generate time, where the engine has such batches.
    """

    input_tokens: int
    output_tokens: int
    latency_s: float
    ttft_s: float | None = None
    itl_s: float | None = None
    service_s: float | None = None


@dataclass(frozen=True)
class MemoryReading:
    """Peak memory of the run on the device that held the model."""

    peak_bytes: int | None
    device: str
    kind: str | None = None  # what peak_bytes counts (results' metrics.peak_memory_kind)


class Backend(Protocol):
    """What every engine runner implements; constructed with the experiment config, nothing started.

    A measured pass is three calls, so the window holds the engine's work and nothing else:
    ``prepare`` (tokenise, pad, build engine inputs; before the window), ``execute`` (engine calls
    and the timestamps timing needs; the window), ``records`` (per-request figures; after it).
    """

    name: str

    def __init__(self, config: ExperimentConfig) -> None:
        """Keep the config and check its backend section; load nothing."""

    def load(self, model_path: str) -> None:
        """Load weights and tokenizer; not part of the measured window."""

    @property
    def vocab_size(self) -> int:
        """Vocabulary size, for synthetic prompts."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text alone, by the model's tokenizer (reference replies, length filters)."""

    def prepare(
        self, prompts: Sequence[Prompt], max_new_tokens: int | None = None, output_tokens: Sequence[int] | None = None
    ) -> Any:
        """Engine-ready inputs for every prompt with the config's batching and decoding settings.

        ``output_tokens``: each request's own length (``output_lengths: dataset``), else
        ``max_output_tokens`` for all. ``max_new_tokens`` caps them: the shorter passes of the window
        that splits a window's energy into prefill and decode (``experiment.phases``).
        """

    def execute(self, prepared: Any) -> Any:
        """Run the prepared inputs through the engine once; its raw outputs and timestamps."""

    def records(self, prepared: Any, raw: Any) -> list[RequestRecord]:
        """Per-request records of one ``execute``, built after the window."""

    def run(
        self, prompts: Sequence[Prompt], max_new_tokens: int | None = None, output_tokens: Sequence[int] | None = None
    ) -> list[RequestRecord]:
        """``prepare``, ``execute`` and ``records`` in one call (warmup, tests)."""

    def memory(self) -> MemoryReading:
        """Peak memory since load."""

    def versions(self) -> dict[str, str]:
        """Versions of the engine and its key libraries, for the result's environment."""

    def describe(self) -> dict[str, Any]:
        """Facts about the loaded model (parameter count, device) for the result."""

    def teardown(self) -> None:
        """Release the engine and its GPU memory."""


class ServerModule(Protocol):
    """The server seam of a backend with ``scenario.kind: server`` (its ``BackendSpec.server`` module)."""

    def server_argv(self, config: ExperimentConfig, model_path: str, host: str, port: int) -> list[str]:
        """The command that serves ``model_path`` as ``config.model`` on ``host:port``."""

    def request_extras(self, config: ExperimentConfig) -> dict[str, Any]:
        """Fields every completion request of this experiment adds to its body."""


class PassRunner(Generic[C]):
    """The common part of a runner: its checked settings, and ``run`` from the three steps of a pass.

    ``settings`` is the config's backend section, typed ``C`` (the runner's settings model): taken
    once here and checked against the registry row of the runner's ``name``.
    """

    name: str
    config: ExperimentConfig
    settings: C

    def __init__(self, config: ExperimentConfig) -> None:
        model = spec(self.name).config_model
        section = config.backend_section()
        if config.backend != self.name or not isinstance(section, model):
            raise BackendError(
                f"{type(self).__name__} runs backend {self.name!r} with {model.__name__} settings; "
                f"this config is for backend {config.backend!r} ({type(section).__name__})"
            )
        self.config = config
        self.settings = cast(C, section)

    def prepare(  # pragma: no cover
        self, prompts: Sequence[Prompt], max_new_tokens: int | None = None, output_tokens: Sequence[int] | None = None
    ) -> Any:
        """Engine-ready inputs, built before the window."""
        raise NotImplementedError

    def execute(self, prepared: Any) -> Any:  # pragma: no cover
        """The engine's work on prepared inputs: the window's content."""
        raise NotImplementedError

    def records(self, prepared: Any, raw: Any) -> list[RequestRecord]:  # pragma: no cover
        """Per-request records of one execute, built after the window."""
        raise NotImplementedError

    def run(
        self, prompts: Sequence[Prompt], max_new_tokens: int | None = None, output_tokens: Sequence[int] | None = None
    ) -> list[RequestRecord]:
        """One pass, records included: for warmup and tests, never inside a measured window."""
        prepared = self.prepare(prompts, max_new_tokens, output_tokens)
        return self.records(prepared, self.execute(prepared))


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
