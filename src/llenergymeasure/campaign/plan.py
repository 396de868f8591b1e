"""From a campaign config to the ordered list of units (experiment + cycle) to run. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from llenergymeasure.backends.registry import SERVICES
from llenergymeasure.campaign.grammar import summary, varying_fields
from llenergymeasure.campaign.manifest import unit_key
from llenergymeasure.campaign.ordering import default_shuffle_seed, order_units, ordering_note, self_follow_note
from llenergymeasure.config.campaign import CampaignConfig
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.errors import CampaignError
from llenergymeasure.results.naming import SHORT_HASH_LEN, result_stem, short_hashes


@dataclass(frozen=True)
class PlannedExperiment:
    """One unique experiment with its identity and the short label of what varies."""

    exp_id: str
    config: ExperimentConfig
    config_hash: str
    summary: dict[str, Any]
    source: str = ""  # where the campaign file wrote it (a sweep point, experiments[i])
    short_hash: str = ""  # the config hash in its result names: 8 digits, more where two configs share those

    @property
    def hash_len(self) -> int:
        """Digits of the config hash in this experiment's result names."""
        return len(self.short_hash) or SHORT_HASH_LEN


@dataclass(frozen=True)
class Unit:
    """One experiment in one cycle: the thing that is dispatched, measured and checkpointed."""

    experiment: PlannedExperiment
    cycle: int

    @property
    def key(self) -> str:
        """Stable unique id of this unit within a campaign."""
        return unit_key(self.experiment.exp_id, self.cycle)

    @property
    def result_stem(self) -> str:
        """File name (without extension) of this unit's result."""
        return result_stem(self.experiment.config, self.experiment.config_hash, self.cycle, self.experiment.hash_len)

    @property
    def service(self) -> str:
        """Compose service (and image) that runs this unit."""
        return SERVICES[self.experiment.config.backend]


@dataclass(frozen=True)
class CampaignPlan:
    """Everything ``campaign up`` needs, computed without touching disk."""

    config: CampaignConfig
    experiments: list[PlannedExperiment]
    units: list[Unit]
    varying: list[str]
    shuffle_seed: int
    notes: list[str]

    def describe(self) -> dict[str, Any]:
        """Everything that decides what runs and in which order, as plain JSON-able data.

        ``llem campaign plan --json`` prints it; two machines that print the same thing run the
        same campaign.
        """
        cfg = self.config
        ex = cfg.execution
        ids = [e.exp_id for e in self.experiments]
        return {
            "name": cfg.name,
            "design_hash": cfg.campaign_design_hash,
            "n_experiments": len(self.experiments),
            "n_units": len(self.units),
            "execution": {
                "n_cycles": ex.n_cycles,
                "cycle_order": ex.cycle_order,
                "shuffle_seed": self.shuffle_seed,
                "shuffle_seed_source": "execution.shuffle_seed" if ex.shuffle_seed is not None else "design_hash",
                "config_gap_seconds": ex.config_gap_seconds,
                "cycle_gap_seconds": ex.cycle_gap_seconds,
                "max_retries": ex.max_retries,
                "unit_timeout_s": ex.unit_timeout_s,
                "idle_timeout_s": ex.idle_timeout_s,
                "warm_start": ex.warm_start,
                "cooldown": ex.cooldown.model_dump(mode="json"),
            },
            "varying": self.varying,
            "experiments": [
                {
                    "exp_id": e.exp_id,
                    "config_hash": e.config_hash,
                    "backend": e.config.backend,
                    "source": e.source,
                    "summary": e.summary,
                }
                for e in self.experiments
            ],
            "units": [u.key for u in self.units],
            # Where a unit runs straight after one of its own experiment (sequential: every cycle).
            "self_follows": [
                {"unit": u.key, "after": prev.key}
                for prev, u in pairwise(self.units)
                if u.experiment.exp_id == prev.experiment.exp_id
            ],
            "skipped": [s.model_dump(mode="json") for s in cfg.skipped_configs],
            "duplicates": {
                "count": len(cfg.duplicate_configs),
                "merged": [
                    {"source": d.source, "same_as": ids[d.same_as], "same_as_source": d.same_as_source}
                    for d in cfg.duplicate_configs
                ],
            },
            "notes": self.notes,
        }


def build_plan(config: CampaignConfig, sources: list[str] | None = None) -> CampaignPlan:
    """Number experiments in the order written, label them by what varies, and order their cycles."""
    varying = varying_fields(config.experiments)
    hashes = [config_hash(cfg) for cfg in config.experiments]
    short = short_hashes(hashes)
    experiments = [
        PlannedExperiment(
            exp_id=f"exp{i + 1:03d}",
            config=cfg,
            config_hash=hashes[i],
            summary=summary(cfg, varying),
            source=sources[i] if sources and i < len(sources) else "",
            short_hash=short[hashes[i]],
        )
        for i, cfg in enumerate(config.experiments)
    ]
    ex = config.execution
    seed = ex.shuffle_seed if ex.shuffle_seed is not None else default_shuffle_seed(config.campaign_design_hash)
    order = order_units(len(experiments), ex.n_cycles, ex.cycle_order, seed)
    units = [Unit(experiment=experiments[e], cycle=c) for e, c in order]
    check_unique_names(units)
    notes = [
        ordering_note(len(experiments), ex.n_cycles, ex.cycle_order),
        self_follow_note(order, ex.cycle_order, [e.exp_id for e in experiments]),
        long_hash_note(experiments),
    ]
    return CampaignPlan(
        config=config,
        experiments=experiments,
        units=units,
        varying=varying,
        shuffle_seed=seed,
        notes=[n for n in notes if n],
    )


def check_unique_names(units: list[Unit]) -> None:
    """Refuse a plan in which two units would write one result file (one result would overwrite the other)."""
    seen: dict[str, str] = {}
    for u in units:
        other = seen.setdefault(u.result_stem, u.key)
        if other != u.key:
            raise CampaignError(
                f"units {other} and {u.key} would both write {u.result_stem}.json; this is a bug in llem"
            )


def long_hash_note(experiments: list[PlannedExperiment]) -> str:
    """Names the experiments whose first 8 hash digits are shared, and how many digits their names carry."""
    longer = [e for e in experiments if len(e.short_hash) > SHORT_HASH_LEN]
    if not longer:
        return ""
    named = ", ".join(f"{e.exp_id} ({e.short_hash})" for e in longer)
    return f"config hashes share their first {SHORT_HASH_LEN} digits; result names carry more: {named}"
