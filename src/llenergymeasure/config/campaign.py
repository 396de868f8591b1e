"""The campaign config: a resolved list of experiments plus how to schedule them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash, design_hash

MAX_TIMEOUT_S = 30 * 86_400  # longer than any unit; short enough for every timer API and sbatch --time
CycleOrder = Literal["sequential", "interleaved", "shuffled", "reverse", "latin_square"]


class SlurmConfig(BaseModel):
    """How ``--executor slurm`` submits each unit as a job; the campaign folder must be on a shared filesystem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = Field(None, description="sbatch --partition.")
    account: str | None = Field(None, description="sbatch --account.")
    gpus_per_unit: int | None = Field(
        None, ge=0, le=64, description="GPUs per job (--gres=gpu:N); None: the unit's tensor-parallel size. 0: none."
    )
    exclusive: bool = Field(False, description="sbatch --exclusive: the unit's node runs nothing else.")
    time_limit: str | None = Field(
        None, description="sbatch --time (e.g. 01:30:00); None: the unit timeout, rounded up to minutes."
    )
    extra_args: list[str] = Field(
        default_factory=list, description="More sbatch arguments, one list item each (e.g. ['--qos', 'high'])."
    )
    container: list[str] = Field(
        default_factory=list,
        description=(
            "Argv prefix that runs llem-exp in a container on the node, e.g. ['apptainer', 'exec', '--nv', "
            "'llem.sif'] or ['srun', '--container-image=...']; empty: the host's interpreter, on the shared filesystem."
        ),
    )
    share_nodes: bool = Field(
        False,
        description=(
            "Let a unit share its node with other jobs. False (the default): each job asks for its node alone "
            "(--exclusive), because every unit measures energy and another job's load on the node would be counted "
            "in it (CPU energy, the node's GPUs, memory bandwidth). True: jobs may share nodes; their figures then "
            "include whatever else the node runs."
        ),
    )
    max_jobs: int = Field(16, ge=1, le=10_000, description="Units submitted and not yet finished, at most.")
    poll_s: float = Field(2.0, gt=0, le=600, description="How often job states are polled.")
    command_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="How long one sbatch/scontrol/sacct/squeue/sinfo call may take before it counts as no answer.",
    )
    patience_s: float = Field(
        900.0,
        gt=0,
        le=7 * 86_400,
        description=(
            "How long Slurm may give no answer about a job (controller errors, timeouts) before the host stops "
            "waiting for it; the job is left to Slurm and `resume` asks about it again."
        ),
    )


class CooldownConfig(BaseModel):
    """Before every unit, wait until its GPUs are back near their idle state, so each unit starts from the same one.

    Runs in the unit's own process (it owns the GPUs; the host may have none), before the model
    loads. Each GPU's idle reference is its first reading in the campaign: the first unit on that
    GPU records it in the campaign folder (``thermal/``), later units wait to get back within the
    band of it. Without NVML the unit records "unavailable" and does not wait.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="Wait for the unit's GPUs to cool down before it starts.")
    temperature_band_c: float = Field(
        2.0, ge=0, le=100, description="Idle again: at most this many °C above the GPU's idle reference temperature."
    )
    power_band_w: float = Field(
        10.0, ge=0, le=10_000, description="Idle again: at most this many W above the GPU's idle reference power."
    )
    max_wait_s: float = Field(
        600.0,
        ge=0,
        le=86_400,
        description="Longest wait; the unit then starts anyway and its result says 'capped'. Counts in unit_timeout_s.",
    )
    poll_s: float = Field(2.0, gt=0, le=600, description="How often temperature and power are read while waiting.")


class ExecutionConfig(BaseModel):
    """Scheduling only; deliberately outside the design hash, so re-ordering is not a new design."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_cycles: int = Field(1, ge=1, le=1000, description="Times each experiment is repeated.")
    cycle_order: CycleOrder = Field(
        "sequential",
        description=(
            "sequential [A,A,B,B]; interleaved [A,B,A,B]; shuffled (each cycle a seeded permutation, never "
            "starting with the config the previous cycle ended with); reverse [A,B,B,A] (every other cycle "
            "backwards, each pair of cycles starting one config further on); latin_square (a Williams design: "
            "every config follows every other equally often, across cycle boundaries too). `plan` names every "
            "place a config still runs straight after itself."
        ),
    )
    config_gap_seconds: float = Field(0.0, ge=0, le=86_400, description="Pause between two units.")
    cycle_gap_seconds: float = Field(0.0, ge=0, le=86_400, description="Pause when a new cycle starts.")
    shuffle_seed: int | None = Field(
        None, ge=0, le=2**63 - 1, description="Seed of 'shuffled'; None derives it from the design hash."
    )
    max_retries: int = Field(2, ge=0, le=100, description="How often `resume` retries a failed unit.")
    # Bounded and finite: every executor turns these into timers (and Slurm into --time), where
    # .inf or .nan fail each unit with OverflowError long after `plan` accepted them.
    unit_timeout_s: float = Field(
        6 * 3600,
        gt=0,
        le=MAX_TIMEOUT_S,
        allow_inf_nan=False,
        description="A unit running longer is stopped and failed.",
    )
    idle_timeout_s: float = Field(
        1800,
        gt=0,
        le=MAX_TIMEOUT_S,
        allow_inf_nan=False,
        description="A unit printing nothing for this long is presumed hung, stopped and failed.",
    )
    warm_start: bool = Field(
        True,
        description=(
            "Run each unit in a fresh process forked from a per-backend server that imported torch and "
            "transformers once (never CUDA); false starts a new interpreter, and with docker a new container, per unit."
        ),
    )
    slurm: SlurmConfig = Field(default_factory=SlurmConfig, description="Used by --executor slurm only.")
    cooldown: CooldownConfig = Field(
        default_factory=CooldownConfig, description="Wait before every unit until its GPUs are back to idle."
    )


class SkippedConfig(BaseModel):
    """A grid point that failed validation, kept so the plan can show what was left out and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    overrides: dict[str, Any] = Field(description="The sweep values of this grid point.")
    reason: str = Field(description="Why it was skipped.")


class DuplicateConfig(BaseModel):
    """A config that resolved to one already listed: it runs once, under the first one's id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="Where the duplicate was written: a sweep point or experiments[i].")
    same_as: int = Field(ge=0, description="0-based index of the experiment it merged into.")
    same_as_source: str = Field(description="Where that experiment was written.")


class CampaignConfig(BaseModel):
    """A campaign after expansion: what to run (experiments) and how (execution)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="Names the campaign folder.")
    experiments: list[ExperimentConfig] = Field(min_length=1)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    skipped_configs: list[SkippedConfig] = Field(default_factory=list)
    duplicates: int = Field(0, ge=0, description="Configs listed more than once, run once.")
    duplicate_configs: list[DuplicateConfig] = Field(
        default_factory=list, description="Each duplicate merged, and the experiment it merged into."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def campaign_design_hash(self) -> str:
        """Identity of the set of experiments; ``resume`` refuses a campaign file whose hash changed."""
        return design_hash(config_hash(e) for e in self.experiments)
