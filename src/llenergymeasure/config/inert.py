"""Fields that cannot change a measurement under the other fields: sampling knobs without sampling, and the like.

``temperature: 0.7`` with ``do_sample: false`` measures the same greedy decoding as ``temperature:
1.0``. Such a field is *inert*: ``config.identity`` hashes it as its default, so two configs that
differ only in inert fields are one experiment (a sweep over one merges into a single unit), and the
campaign grammar warns about a sweep axis that is inert in every config, naming the field that makes
it so. Pure: a table of rules and two functions over a validated config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from llenergymeasure.config.experiment import ExperimentConfig, ServerScenario


@dataclass(frozen=True)
class InertRule:
    """``fields`` (dotted paths) have no effect on the measurement while ``applies`` holds."""

    fields: tuple[str, ...]
    applies: Callable[[ExperimentConfig], bool]
    reason: str  # the field that makes them inert, as the user would read it
    fix: str  # what to set instead so they take effect


def _closed_loop(config: ExperimentConfig) -> bool:
    return isinstance(config.scenario, ServerScenario) and not config.scenario.open_loop


def _replayed(config: ExperimentConfig) -> bool:
    return isinstance(config.scenario, ServerScenario) and config.scenario.replay is not None


def _vllm_kv_bytes_set(config: ExperimentConfig) -> bool:
    return config.backend == "vllm" and config.vllm is not None and config.vllm.kv_cache_memory_bytes is not None


RULES: tuple[InertRule, ...] = (
    InertRule(
        ("decoding.temperature", "decoding.top_p", "decoding.top_k"),
        lambda c: not c.decoding.do_sample,
        "decoding.do_sample is false",
        "set decoding.do_sample: true",
    ),
    InertRule(
        ("energy.split_output_tokens",),
        lambda c: not c.energy.prefill_split,
        "energy.prefill_split is false",
        "set energy.prefill_split: true",
    ),
    InertRule(
        ("baseline.duration_s", "baseline.sub_windows"),
        lambda c: not c.baseline.enabled,
        "baseline.enabled is false",
        "set baseline.enabled: true",
    ),
    InertRule(
        ("warmup.max_runs", "warmup.cv_threshold", "warmup.window"),
        lambda c: c.warmup.mode == "fixed",
        "warmup.mode is fixed",
        "set warmup.mode: cv",
    ),
    InertRule(
        (
            "warmup.settle_window_s",
            "warmup.settle_max_drift_c",
            "warmup.settle_max_power_change",
            "warmup.settle_max_s",
        ),
        lambda c: not c.warmup.until_settled,
        "warmup.until_settled is false",
        "set warmup.until_settled: true",
    ),
    InertRule(
        ("scenario.arrival_schedule",),
        lambda c: _closed_loop(c) or _replayed(c),
        "no arrivals are drawn (scenario.request_rate unset, or a trace replayed)",
        "set scenario.request_rate (a closed loop has no arrival schedule, a trace its own)",
    ),
    InertRule(
        ("n_prompts",),
        _replayed,
        "scenario.replay is set (the trace decides the requests and their times)",
        "remove scenario.replay",
    ),
    InertRule(
        ("decoding.ignore_eos",),
        lambda c: c.output_lengths == "natural",
        "output_lengths is natural (requests stop at EOS)",
        "set output_lengths: fixed or dataset",
    ),
    InertRule(
        ("vllm.gpu_memory_utilization",),
        _vllm_kv_bytes_set,
        "vllm.kv_cache_memory_bytes is set",
        "unset vllm.kv_cache_memory_bytes (it sizes the KV cache instead)",
    ),
)


def inert_fields(config: ExperimentConfig) -> dict[str, InertRule]:
    """Every inert field of ``config`` (dotted path) and the rule that makes it inert, in table order."""
    return {path: rule for rule in RULES if rule.applies(config) for path in rule.fields}


def default_of(config: ExperimentConfig, path: str) -> Any:
    """The default of the field at dotted ``path`` in ``config``'s own section models (JSON form)."""
    *parents, name = path.split(".")
    owner: BaseModel = config
    for part in parents:
        owner = getattr(owner, part)
    return type(owner).model_fields[name].get_default(call_default_factory=True)


def normalise(data: dict[str, Any], config: ExperimentConfig) -> dict[str, Any]:
    """``data`` (``config``'s JSON dump) with every inert field set to its default, in place and returned."""
    for path in inert_fields(config):
        *parents, name = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[name] = default_of(config, path)
    return data
