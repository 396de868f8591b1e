"""From a campaign config to the ordered list of units (experiment + cycle) to run. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llenergymeasure.backends.registry import SERVICES
from llenergymeasure.campaign.grammar import summary, varying_fields
from llenergymeasure.campaign.manifest import unit_key
from llenergymeasure.campaign.ordering import default_shuffle_seed, order_units
from llenergymeasure.config.campaign import CampaignConfig
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.results.naming import result_stem


@dataclass(frozen=True)
class PlannedExperiment:
    """One unique experiment with its identity and the short label of what varies."""

    exp_id: str
    config: ExperimentConfig
    config_hash: str
    summary: dict[str, Any]


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
        return result_stem(self.experiment.config, self.experiment.config_hash, self.cycle)

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


def build_plan(config: CampaignConfig) -> CampaignPlan:
    """Number experiments, label them by what varies, and order their cycles."""
    varying = varying_fields(config.experiments)
    experiments = [
        PlannedExperiment(
            exp_id=f"exp{i + 1:03d}",
            config=cfg,
            config_hash=config_hash(cfg),
            summary=summary(cfg, varying),
        )
        for i, cfg in enumerate(config.experiments)
    ]
    ex = config.execution
    seed = ex.shuffle_seed if ex.shuffle_seed is not None else default_shuffle_seed(config.campaign_design_hash)
    order = order_units(len(experiments), ex.n_cycles, ex.cycle_order, seed)
    units = [Unit(experiment=experiments[e], cycle=c) for e, c in order]
    return CampaignPlan(config=config, experiments=experiments, units=units, varying=varying, shuffle_seed=seed)
