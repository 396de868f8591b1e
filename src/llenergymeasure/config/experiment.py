"""The experiment config: everything that defines one measurement, and nothing about scheduling.

Its canonical JSON is hashed into ``config_hash``, so every field here is part of an experiment's
identity; scheduling knobs (cycles, gaps, order) live in the campaign's ``execution`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from llenergymeasure.backends.pytorch.config import PyTorchConfig
from llenergymeasure.backends.registry import BackendName, backend_names, server_backend_names
from llenergymeasure.backends.trtllm.config import TrtllmConfig
from llenergymeasure.backends.vllm.config import VllmConfig
from llenergymeasure.config.datasets import (
    BuiltinDataset,
    DatasetConfig,
    HfDataset,
    JsonlDataset,
    LengthDistribution,
    LengthFilter,
    ShareGptDataset,
    SyntheticDataset,
    TableDataset,
    carries_output_lengths,
    with_base_dir,
)
from llenergymeasure.config.load import RampUp, Saturation, TraceReplay
from llenergymeasure.config.telemetry import EngineTelemetryConfig

__all__ = [
    "BuiltinDataset",
    "DatasetConfig",
    "ExperimentConfig",
    "HfDataset",
    "JsonlDataset",
    "LengthDistribution",
    "LengthFilter",
    "ShareGptDataset",
    "SyntheticDataset",
    "TableDataset",
]

Precision = Literal["fp32", "fp16", "bf16"]
# Each backend's settings section is named after it (backends.registry).
BACKEND_SECTIONS: tuple[str, ...] = tuple(backend_names())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecodingConfig(_Strict):
    """Sampling settings; greedy with ``ignore_eos`` by default so every run emits the same token count."""

    do_sample: bool = Field(False, description="Sample instead of greedy decoding.")
    temperature: float = Field(1.0, ge=0.0, le=10.0, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    top_k: int = Field(0, ge=0, description="Top-k sampling; 0 disables it.")
    repetition_penalty: float = Field(1.0, gt=0.0, le=100.0, description="Penalty on repeated tokens.")
    ignore_eos: bool = Field(
        True, description="Always generate max_output_tokens, so energy per token is comparable across runs."
    )


class WarmupConfig(_Strict):
    """Runs before the measured window, so caches, kernels, clocks and the GPU's temperature are in steady state.

    ``until_settled`` keeps the GPUs working until temperature and power settle (rule in
    ``energy.thermal``). It replaces ``thermal_settle_s``, an idle pause after warmup, which cooled
    the GPU it meant to settle; a config that still asks for a pause is refused with the
    replacement named.
    """

    mode: Literal["fixed", "cv"] = Field(
        "fixed", description="'fixed' runs n_runs; 'cv' runs until latency's coefficient of variation settles."
    )
    n_runs: int = Field(2, ge=0, le=1000, description="Warmup batches in 'fixed' mode; the minimum in 'cv'.")
    max_runs: int = Field(20, ge=1, le=10_000, description="Upper bound of warmup batches in 'cv' mode.")
    cv_threshold: float = Field(0.05, gt=0.0, lt=1.0, description="Target CV of the last `window` latencies.")
    window: int = Field(3, ge=2, le=100, description="Latencies the CV is computed over in 'cv' mode.")
    until_settled: bool = Field(
        False,
        description=(
            "After the n_runs/cv rule, keep running warmup batches until every measured GPU's temperature and power "
            "settle (settle_*), so the window starts on a hot, steady GPU. Needs NVML; without it, the rule alone."
        ),
    )
    settle_window_s: float = Field(
        30.0,
        gt=0.0,
        le=3600,
        description="Settled is judged over the last this many seconds of readings (warmup lasts at least this long).",
    )
    settle_max_drift_c: float = Field(
        1.0,
        ge=0.0,
        le=100.0,
        description=(
            "Settled: temperature moved (up or down) at most this many °C in the window (fitted slope x window)."
        ),
    )
    settle_max_power_change: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Settled: power moved at most this fraction of its mean over the window (fitted slope x window).",
    )
    settle_max_s: float = Field(
        600.0,
        gt=0.0,
        le=86_400,
        description="Longest warmup while waiting to settle, from its start; the window then starts anyway ('capped').",
    )

    @model_validator(mode="before")
    @classmethod
    def _removed_fields(cls, data: Any) -> Any:
        """Refuse ``thermal_settle_s``, naming its replacement; its old default 0 (no pause) is dropped.

        Unit configs written by an older llem spell out every default, 0 included, and must still load.
        """
        if isinstance(data, dict) and "thermal_settle_s" in data:
            if data["thermal_settle_s"] == 0:
                return {k: v for k, v in data.items() if k != "thermal_settle_s"}
            raise ValueError(
                "thermal_settle_s was removed (an idle pause cools the GPU it meant to settle); "
                "use warmup.until_settled: true"
            )
        return data


class BaselineConfig(_Strict):
    """Idle power of the unit's GPUs, measured in the state the window runs in and subtracted from it.

    Measured in every unit after the model is loaded and warmed (CUDA context, weights and KV cache
    resident), so "above idle" means above the loaded engine's idle, not a cold GPU's.
    """

    enabled: bool = Field(True, description="Measure idle power (needs NVML; skipped without it).")
    duration_s: float = Field(
        5.0,
        gt=0.0,
        le=600,
        description=(
            "Idle measurement length. Its bound enters above-idle energy multiplied by the window's length, so "
            "longer is tighter; at least 10 counter updates (1 s) per sub-window."
        ),
    )
    sub_windows: int = Field(
        5, ge=1, le=100, description="The idle window is cut into this many; the baseline is their median power."
    )


class GpuSettings(_Strict):
    """GPU settings a unit runs under, put back after it: a power limit and locked clocks (sweepable).

    Applied to the unit's own GPUs before its warmup and idle baseline, checked against what each GPU
    allows before anything starts, journalled in the campaign folder and restored after the unit on
    every path (and by ``resume`` after a crash). Unset: the GPU runs as it is, untouched.
    """

    power_limit_w: float | None = Field(
        None,
        gt=0,
        le=5000,
        description=(
            "Power limit (W) for every GPU of the unit; must lie within the GPU's limit constraints "
            "(nvidia-smi -q -d POWER). None: the GPU's own limit, untouched."
        ),
    )
    sm_clock_mhz: int | tuple[int, int] | None = Field(
        None,
        description=(
            "Locked graphics (SM) clocks, MHz: one value, or [min, max]; each must be a supported clock "
            "(nvidia-smi -q -d SUPPORTED_CLOCKS). None: clocks free."
        ),
    )
    memory_clock_mhz: int | None = Field(
        None, gt=0, description="Locked memory clock, MHz: a supported memory clock. None: free."
    )

    @model_validator(mode="after")
    def _clock_pair(self) -> GpuSettings:
        clocks = self.sm_clock_mhz
        if isinstance(clocks, tuple) and not 0 < clocks[0] <= clocks[1]:
            raise ValueError(f"gpu.sm_clock_mhz [{clocks[0]}, {clocks[1]}] must be [min, max] with 0 < min <= max")
        if isinstance(clocks, int) and clocks <= 0:
            raise ValueError(f"gpu.sm_clock_mhz {clocks} must be a positive clock in MHz")
        return self

    def is_empty(self) -> bool:
        """Whether this asks to change nothing (every field unset)."""
        return self.power_limit_w is None and self.sm_clock_mhz is None and self.memory_clock_mhz is None


class EnergyConfig(_Strict):
    """How energy is measured over the window."""

    method: Literal["auto", "counter", "sampling"] = Field(
        "auto",
        description="'auto' uses NVML's energy counter where supported, else integrates sampled power.",
    )
    sample_interval_ms: int = Field(
        100, ge=5, le=10_000, description="Sampling period of the power/telemetry timeseries."
    )
    gpu_indices: tuple[int, ...] | None = Field(
        None, description="GPUs to measure; None measures every GPU visible to the experiment."
    )
    min_window_s: float | None = Field(
        None,
        ge=0.0,
        le=86_400.0,
        description=(
            "Run further passes, each over further distinct prompts, until the measured window lasts at least this "
            "long. None (the default): long enough that the energy counter's resolution bound is under 1 % "
            "(100 counter update periods, about 10 s at NVML's 0.1 s), and one pass when no energy is measured; "
            "0: one pass. metrics.n_passes records the passes and every per-window figure covers all of them."
        ),
    )
    prefill_split: bool = Field(
        True,
        description=(
            "Split the window's GPU energy and time into prefill and decode by a differential method: a second "
            "window on the same prompts with split_output_tokens output tokens each; decode energy per token is the "
            "difference of the two windows' energy per pass over the difference of their decode tokens, prefill the "
            "intercept (zero decode tokens). Valid under static and continuous batching alike; the two windows' "
            "order alternates across cycles."
        ),
    )
    split_output_tokens: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description=(
            "Output tokens per request of the split's second window; None: a quarter of max_output_tokens (at least "
            "1), which keeps the intercept's bound near the short window's own while both windows still decode. "
            "Must be below max_output_tokens."
        ),
    )
    grid_intensity_g_per_kwh: float | None = Field(
        None,
        ge=0.0,
        le=5000.0,
        description=(
            "Carbon intensity of the electricity (gCO2e/kWh, e.g. from your grid operator); set, results give "
            "gCO2e per 1k output tokens from the measured energy (GPU, plus CPU where RAPL was read)."
        ),
    )


class OfflineScenario(_Strict):
    """Today's measurement: the engine's offline API generates the whole prompt set in-process."""

    kind: Literal["offline"] = "offline"


class SloConfig(_Strict):
    """Service-level objective a request must meet to count towards request goodput (vLLM's bench's definition)."""

    ttft_ms: float | None = Field(
        None,
        gt=0.0,
        le=86_400_000.0,
        description=(
            "Largest time to first token, in ms, from the request's arrival (its due time under a request_rate); "
            "None: no bound."
        ),
    )
    tpot_ms: float | None = Field(
        None,
        gt=0.0,
        le=86_400_000.0,
        description="Largest time per output token after the first, in ms; None: no bound.",
    )


class ServerScenario(_Strict):
    """The engine behind its OpenAI-compatible server, driven by a streaming load generator.

    The server is started (and stopped) outside the measured window; the window spans the load, and a
    steady-state sub-window, where the server holds its target load, is measured beside it. Without a
    ``request_rate`` the load is a closed loop of ``concurrency`` clients (1 when unset); with one it is
    an open loop, uncapped unless ``concurrency`` is set too.
    """

    kind: Literal["server"] = "server"
    concurrency: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description=(
            "Most requests in flight at once. Without request_rate: the closed loop's clients (None: 1). With "
            "request_rate: a cap on the open loop (None: no cap); a capped request waits for a slot, and that wait "
            "counts as send lateness and as latency."
        ),
    )
    request_rate: float | None = Field(
        None,
        gt=0.0,
        le=1_000_000.0,
        description=(
            "Mean arrivals per second of an open loop: gamma-distributed gaps (see burstiness), the first request "
            "at 0; None: a closed loop, each client sending its next request when its last one ends."
        ),
    )
    burstiness: float = Field(
        1.0,
        gt=0.0,
        le=1000.0,
        description=(
            "Shape of the gamma gaps between arrivals, as vLLM's bench serve uses it (scale 1/(request_rate x "
            "burstiness), so the mean rate stays request_rate): 1 is Poisson, below 1 burstier, above 1 more regular. "
            "Needs request_rate."
        ),
    )
    arrival_schedule: Literal["per_cycle", "fixed"] = Field(
        "per_cycle",
        description=(
            "'per_cycle': each cycle draws its own arrival schedule (seeded by seed and cycle), so intervals across "
            "cycles include arrival randomness; 'fixed': every cycle replays the schedule drawn from seed."
        ),
    )
    slo: SloConfig = Field(
        default_factory=SloConfig, description="Bounds a request must meet to count towards request goodput."
    )
    startup_timeout_s: float = Field(
        600.0, gt=0.0, le=86_400.0, description="How long the server may take to answer /health before the unit fails."
    )
    warmup_requests: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description=(
            "Requests sent together (and discarded) after health, before the measured window. None: twice the "
            "measured shape, the sequences the server holds at once (the engine's limit, n_prompts and "
            "concurrency, whichever is least), so warmup reaches the batch the window runs."
        ),
    )
    request_timeout_s: float = Field(
        600.0, gt=0.0, le=86_400.0, description="A request still streaming after this long is failed and counted."
    )
    ramp_up: RampUp | None = Field(
        None, description="Grow the arrival rate linearly from ramp_up.start_rate to request_rate; needs request_rate."
    )
    replay: TraceReplay | None = Field(
        None,
        description=(
            "Replay a timestamped trace (JSON lines): its requests at its times, instead of the dataset and a rate."
        ),
    )
    saturation: Saturation | None = Field(
        None,
        description=(
            "Sweep the load in one unit (synchronous, throughput, then rates between) to find the highest sustained "
            "rate; the result holds the curve."
        ),
    )

    @field_validator("burstiness")
    @classmethod
    def _burstiness_needs_a_rate(cls, value: float, info: ValidationInfo) -> float:
        """A burstiness without a rate would be silently ignored: say so (request_rate is validated first)."""
        if value != 1.0 and info.data.get("request_rate") is None:
            raise ValueError(
                f"{value:g} needs scenario.request_rate (a closed loop has no gaps between arrivals to shape); "
                "set request_rate or remove burstiness"
            )
        return value

    @model_validator(mode="after")
    def _one_load_shape(self) -> ServerScenario:
        """A ramp shapes a rate; a trace and a saturation sweep each decide the arrivals alone."""
        if self.ramp_up is not None and self.request_rate is None:
            raise ValueError("scenario.ramp_up needs scenario.request_rate (the rate it ramps up to); set request_rate")
        if self.replay is not None and (self.request_rate is not None or self.saturation is not None):
            raise ValueError(
                "scenario.replay sends the trace's requests at the trace's times: remove request_rate and saturation"
            )
        if self.saturation is not None and self.request_rate is not None:
            raise ValueError("scenario.saturation chooses its own rates: remove request_rate (and ramp_up)")
        return self

    @property
    def open_loop(self) -> bool:
        """Arrivals follow a schedule (a request rate or a trace) rather than completions."""
        return self.request_rate is not None or self.replay is not None

    @property
    def max_in_flight(self) -> int | None:
        """The concurrency the load runs with: the field where set, else 1 closed loop and no cap (None) open."""
        if self.concurrency is not None:
            return self.concurrency
        return None if self.open_loop else 1


ScenarioConfig = Annotated[OfflineScenario | ServerScenario, Field(discriminator="kind")]
# Backends whose engine ships an OpenAI-compatible server llem can drive: those whose registry row
# names a server module (backends.registry).
SERVER_BACKENDS: tuple[str, ...] = tuple(server_backend_names())


class ExperimentConfig(_Strict):
    """One experiment: a model on a backend at a precision, over a prompt set, with decoding settings."""

    model: str = Field(min_length=1, description="Hub id, local path, or a built-in tiny model (llem/tiny-*).")
    backend: BackendName = Field(description="Inference engine.")
    precision: Precision = Field("bf16", description="Weights/activation dtype.")
    n_prompts: int = Field(10, ge=1, le=1_000_000, description="Requests in the measured window.")
    dataset: DatasetConfig = Field(default_factory=BuiltinDataset, description="Prompt source.")
    max_input_tokens: int = Field(512, ge=1, le=1_000_000, description="Prompts are truncated to this.")
    max_output_tokens: int = Field(
        64,
        ge=1,
        le=1_000_000,
        description=(
            "Tokens generated per request (output_lengths fixed); the cap of a natural length; under output_lengths "
            "dataset, the length of a request whose dataset row gives none."
        ),
    )
    output_lengths: Literal["fixed", "dataset", "natural"] = Field(
        "fixed",
        description=(
            "'fixed': every request generates max_output_tokens (with decoding.ignore_eos, the default). 'dataset': "
            "each request generates its own length from the dataset (a ShareGPT reference reply's tokens, a file's "
            "output-length column, a synthetic output distribution), not capped. 'natural': each request stops at "
            "EOS, capped by max_output_tokens (decoding.ignore_eos has no effect). Results record the lengths that ran."
        ),
    )
    decoding: DecodingConfig = Field(default_factory=DecodingConfig)
    seed: int = Field(42, ge=0, description="Seeds prompt sampling and the engine.")
    warmup: WarmupConfig = Field(default_factory=WarmupConfig)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    gpu: GpuSettings = Field(
        default_factory=GpuSettings, description="GPU power limit and locked clocks for the unit, restored after it."
    )
    scenario: ScenarioConfig = Field(
        default_factory=OfflineScenario,
        description="'offline' (the engine's offline API, default) or 'server' (its OpenAI server under load).",
    )
    telemetry: EngineTelemetryConfig = Field(
        default_factory=EngineTelemetryConfig, description="The engine's own metrics recorded beside power."
    )
    pytorch: PyTorchConfig | None = Field(None, description="PyTorch settings (backend: pytorch only).")
    vllm: VllmConfig | None = Field(None, description="vLLM settings (backend: vllm only).")
    trtllm: TrtllmConfig | None = Field(None, description="TensorRT-LLM settings (backend: trtllm only).")

    @model_validator(mode="before")
    @classmethod
    def _dataset_shorthand(cls, data: Any) -> Any:
        """Accept ``dataset: builtin`` and ``dataset: prompts.jsonl`` as shorthands."""
        if isinstance(data, dict) and isinstance(data.get("dataset"), str):
            value = data["dataset"]
            data = dict(data)
            data["dataset"] = {"kind": "builtin"} if value == "builtin" else {"kind": "jsonl", "path": value}
        return data

    @model_validator(mode="before")
    @classmethod
    def _fill_backend_section(cls, data: Any) -> Any:
        """An absent (or empty) section of the chosen backend means its defaults: fill them in.

        ``pytorch: {}`` and no ``pytorch:`` are then one and the same config, with one hash, and a
        changed default changes every hash that depends on it.
        """
        if isinstance(data, dict) and data.get("backend") in BACKEND_SECTIONS and data.get(data["backend"]) is None:
            data = dict(data)
            data[data["backend"]] = {}
        return data

    @model_validator(mode="after")
    def _synthetic_fits_the_input(self) -> ExperimentConfig:
        """Synthetic prompts longer than ``max_input_tokens`` would be cut silently: refuse them here."""
        ds = self.dataset
        if not isinstance(ds, SyntheticDataset):
            return self
        dist = ds.input
        where = "dataset.input_tokens" if dist is None else "dataset.input"
        longest: int
        if dist is None:
            longest = ds.input_tokens
        elif dist.max is not None:
            longest = dist.max
        elif dist.distribution == "fixed" and dist.mean is not None:
            longest = round(dist.mean)
        else:
            raise ValueError(
                f"dataset.input: a {dist.distribution} distribution needs max (at most max_input_tokens "
                f"{self.max_input_tokens} - prefix_tokens {ds.prefix_tokens}), or longer prompts would be cut at "
                "max_input_tokens; set dataset.input.max"
            )
        total = longest + ds.prefix_tokens
        if total > self.max_input_tokens:
            prefix = f" + prefix_tokens {ds.prefix_tokens}" if ds.prefix_tokens else ""
            raise ValueError(
                f"{where}: synthetic prompts of up to {total} tokens ({longest}{prefix}) exceed max_input_tokens "
                f"{self.max_input_tokens}, which would cut them; raise max_input_tokens to {total} or shorten them"
            )
        return self

    @model_validator(mode="after")
    def _one_backend_section(self) -> ExperimentConfig:
        for section in BACKEND_SECTIONS:
            if section != self.backend and getattr(self, section) is not None:
                raise ValueError(
                    f"section '{section}' is set but backend is '{self.backend}'; "
                    f"remove '{section}' or set backend: {section}"
                )
        if self.scenario.kind == "server" and self.backend not in SERVER_BACKENDS:
            raise ValueError(
                "scenario.kind server needs an engine with an OpenAI-compatible server "
                f"({', '.join(SERVER_BACKENDS)}); "
                f"backend {self.backend} runs offline only: set backend: vllm, or scenario: {{kind: offline}}"
            )
        short = self.energy.split_output_tokens
        if self.energy.prefill_split and short is not None and short >= self.max_output_tokens:
            raise ValueError(
                f"energy.split_output_tokens {short} must be below max_output_tokens {self.max_output_tokens}: "
                "the split needs two windows with different output lengths; lower it or leave it unset"
            )
        if self.backend == "vllm" and self.vllm is not None and self.vllm.quantization and (self.precision == "fp32"):
            raise ValueError("vllm.quantization needs precision fp16 or bf16, not fp32")
        return self

    @model_validator(mode="after")
    def _dataset_output_lengths(self) -> ExperimentConfig:
        """``output_lengths: dataset`` needs a dataset that gives each request an output length."""
        if self.output_lengths == "dataset" and not carries_output_lengths(self.dataset):
            raise ValueError(
                f"output_lengths dataset needs output lengths from the dataset, and dataset kind {self.dataset.kind} "
                "has none: use sharegpt, table or hf with output_field, or synthetic with output; "
                "or set output_lengths: fixed or natural"
            )
        return self

    def ignores_eos(self) -> bool:
        """Whether requests run to their length past EOS: ``decoding.ignore_eos``, unless lengths are natural."""
        return self.decoding.ignore_eos and self.output_lengths != "natural"

    def backend_section(self) -> PyTorchConfig | VllmConfig | TrtllmConfig:
        """The settings of this experiment's backend (always present: validation fills in defaults)."""
        section: PyTorchConfig | VllmConfig | TrtllmConfig | None = getattr(self, self.backend)
        if section is None:  # pragma: no cover - _fill_backend_section guarantees it
            raise AssertionError(f"backend section '{self.backend}' missing")
        return section

    def server_warmup_requests(self) -> int:
        """Warmup requests of server mode: as set, or twice the sequences the server holds at once under the load."""
        if not isinstance(self.scenario, ServerScenario):
            return 0
        if self.scenario.warmup_requests is not None:
            return self.scenario.warmup_requests
        cap = self.scenario.max_in_flight
        shape = self.concurrent_sequences()
        return 2 * (min(shape, cap) if cap is not None else shape)

    def split_tokens(self) -> int | None:
        """Output tokens per request of the split's second window; None when no split can be made (1 token)."""
        if not self.energy.prefill_split or self.max_output_tokens < 2:
            return None
        return self.energy.split_output_tokens or max(1, self.max_output_tokens // 4)

    def concurrent_sequences(self) -> int:
        """Sequences the engine holds at once in the measured window: the shape warmup must reach."""
        return self.backend_section().concurrent_sequences(self.n_prompts)

    def gpu_count(self) -> int:
        """GPUs the experiment runs on (CUDA ordinals 0..n-1 of those visible to it); energy is measured on these."""
        return self.backend_section().gpu_count()

    def with_resolved_paths(self, base_dir: Path) -> ExperimentConfig:
        """Make relative paths absolute against ``base_dir`` (the file's folder), so the config works anywhere.

        A relative dataset path (and an hf dataset's snapshot), a replayed trace, and a local model folder: ``./m``,
        ``../m``, ``~/m``, or a bare name that is a folder beside the file (a Hub id such as
        ``org/name`` that is not stays a Hub id). A unit then finds its model wherever it runs: under
        Docker, which mounts the folder at that path, or under Slurm, which starts in the campaign folder.
        """
        config = self
        dataset = with_base_dir(self.dataset, base_dir)
        if dataset is not self.dataset:
            config = config.model_copy(update={"dataset": dataset})
        replay = self.scenario.replay if isinstance(self.scenario, ServerScenario) else None
        if replay is not None and not Path(replay.path).is_absolute():
            moved = replay.model_copy(update={"path": str((base_dir / replay.path).resolve())})
            config = config.model_copy(update={"scenario": self.scenario.model_copy(update={"replay": moved})})
        model = self.model
        if model.startswith("~"):
            return config.model_copy(update={"model": str(Path(model).expanduser().resolve())})
        if not Path(model).is_absolute() and (model.startswith(("./", "../")) or (base_dir / model).is_dir()):
            return config.model_copy(update={"model": str((base_dir / model).resolve())})
        return config
