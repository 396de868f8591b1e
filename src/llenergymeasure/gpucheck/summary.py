"""What a GPU validation run found, as the markdown section ``docs/gpu.md`` keeps per run.

Pure: result objects in, text out, so the table and the warm-start verdict are unit-tested
without a GPU. ``gpucheck.run`` does the measuring and the file writing.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llenergymeasure.results.schema import ExperimentResult

RUNS_HEADING = "## Runs (newest first)"
# Forked and fresh units of one config agree within this ratio or the warm start is suspect: the
# GPU work is identical, so a larger gap means the child's CUDA context is not a normal one. It is
# wide because a 1B model under transformers is paced by the host CPU, and on the shared hosts this
# was measured on, one config drifted by up to 35 % between cycles minutes apart (docs/gpu.md);
# a broken CUDA context shows as a failed unit, a CPU device or a many-fold slowdown.
FORK_TOLERANCE = 0.40


@dataclass(frozen=True)
class ConfigRow:
    """One experiment of the check, its cycles pooled."""

    backend: str
    precision: str
    batch: int | None
    launch: str
    cycles: int
    j_per_token: float | None
    j_per_token_unc: float | None
    adjusted_j_per_token: float | None
    tokens_per_s: float
    mean_power_w: float | None
    window_s: float
    passes: int
    gap_pct: float | None
    period_ms: float | None
    baseline_w: float | None
    j_per_decode_token: float | None = None
    decode_tokens_per_s: float | None = None
    prefill_energy_pct: float | None = None


@dataclass(frozen=True)
class ForkCheck:
    """Warm-start (forked) units against a fresh process of the same config."""

    config: str
    forked_device: str | None
    fresh_device: str | None
    throughput_ratio: float
    energy_ratio: float | None

    @property
    def ok(self) -> bool:
        """Both on a CUDA device, and forked within FORK_TOLERANCE of fresh in throughput and J/token."""
        on_gpu = all(d is not None and d.startswith("cuda") for d in (self.forked_device, self.fresh_device))
        ratios = [self.throughput_ratio] + ([self.energy_ratio] if self.energy_ratio is not None else [])
        return on_gpu and all(abs(r - 1.0) <= FORK_TOLERANCE for r in ratios)


def batch_of(result: ExperimentResult) -> int | None:
    """The batch knob of the result's backend (batch_size, max_num_seqs or max_batch_size)."""
    section: dict[str, Any] = result.config.get(result.config["backend"]) or {}
    for key in ("batch_size", "max_num_seqs", "max_batch_size"):
        if isinstance(section.get(key), int):
            return int(section[key])
    return None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def config_rows(results: Sequence[ExperimentResult]) -> list[ConfigRow]:
    """One row per (config, launch mode), in first-seen order; each cycle's figures are averaged."""
    groups: dict[tuple[str, str], list[ExperimentResult]] = {}
    for r in results:
        groups.setdefault((r.config_hash, str(r.environment.get("launch"))), []).append(r)
    rows = []
    for (_, launch), rs in groups.items():
        gaps = [abs(r.energy.counter_sampling_gap) for r in rs if r.energy.counter_sampling_gap is not None]
        periods = [r.energy.counter_update_period_s for r in rs if r.energy.counter_update_period_s is not None]
        rows.append(
            ConfigRow(
                backend=rs[0].config["backend"],
                precision=rs[0].config["precision"],
                batch=batch_of(rs[0]),
                launch=launch,
                cycles=len(rs),
                j_per_token=_mean([r.energy.energy_per_output_token_j for r in rs]),
                j_per_token_unc=_mean([r.energy.energy_per_output_token_uncertainty_j for r in rs]),
                adjusted_j_per_token=_mean([r.energy.adjusted_energy_per_output_token_j for r in rs]),
                tokens_per_s=statistics.fmean(r.metrics.output_tokens_per_s for r in rs),
                mean_power_w=_mean([r.energy.mean_power_w for r in rs]),
                window_s=statistics.fmean(r.metrics.wall_time_s for r in rs),
                passes=rs[0].metrics.n_passes,
                gap_pct=100.0 * max(gaps) if gaps else None,
                period_ms=1000.0 * statistics.median(periods) if periods else None,
                baseline_w=_mean([r.energy.baseline_power_w for r in rs]),
                j_per_decode_token=_mean([r.energy.energy_per_decode_token_j for r in rs]),
                decode_tokens_per_s=_mean([r.metrics.decode_tokens_per_s for r in rs]),
                prefill_energy_pct=_mean(
                    [
                        100.0 * r.energy.prefill_energy_j / r.energy.total_energy_j
                        if r.energy.prefill_energy_j is not None and r.energy.total_energy_j
                        else None
                        for r in rs
                    ]
                ),
            )
        )
    return sorted(rows, key=lambda r: (r.launch != "warm-start", r.backend, r.batch or 0))


def fork_check(forked: Sequence[ExperimentResult], fresh: Sequence[ExperimentResult]) -> ForkCheck:
    """Compare the warm-start units of the fresh results' config with them (each side's units averaged).

    ``fresh`` holds one config's fresh-process results, ideally run before and after the forked
    ones, so that a host whose pace drifts over minutes weighs on both sides alike.
    """
    if not fresh or len({r.config_hash for r in fresh}) != 1:
        raise ValueError("fresh results of exactly one config are needed")
    mine = [r for r in forked if r.config_hash == fresh[0].config_hash]
    if not mine:
        raise ValueError(f"no warm-start result of config {fresh[0].config_hash}")
    tps = statistics.fmean(r.metrics.output_tokens_per_s for r in mine)
    jpt = _mean([r.energy.energy_per_output_token_j for r in mine])
    fresh_tps = statistics.fmean(r.metrics.output_tokens_per_s for r in fresh)
    fresh_jpt = _mean([r.energy.energy_per_output_token_j for r in fresh])
    devices = {str(r.environment.get("device")) for r in fresh}
    return ForkCheck(
        config=f"{fresh[0].config['backend']} batch {batch_of(fresh[0])}, {len(mine)} forked vs {len(fresh)} fresh",
        forked_device=mine[0].environment.get("device"),
        fresh_device=devices.pop() if len(devices) == 1 else ", ".join(sorted(devices)),
        throughput_ratio=tps / fresh_tps,
        energy_ratio=jpt / fresh_jpt if jpt is not None and fresh_jpt else None,
    )


def scope_check(uuid: str, result: ExperimentResult) -> str:
    """Whether a unit given its GPU by UUID (CUDA_VISIBLE_DEVICES) measured exactly that GPU, on CUDA."""
    measured = [g.get("uuid") for g in result.environment.get("gpus") or []]
    device = result.environment.get("device")
    ok = measured == [uuid] and str(device).startswith("cuda") and result.energy.available
    verdict = "ok" if ok else "FAILED"
    return (
        f"{verdict}: a unit run with CUDA_VISIBLE_DEVICES={uuid} ran on {device} and measured"
        f" {', '.join(str(m) for m in measured) or 'no GPU'}"
    )


def _f(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def run_section(
    when: str,
    results: Sequence[ExperimentResult],
    forks: Sequence[ForkCheck],
    skipped: Sequence[str],
    model: str,
    scope: Sequence[str] = (),
    harness: Sequence[str] = (),
) -> str:
    """The markdown of one validation run: the machine, the table, the warm-start check, what was skipped."""
    if not results:
        raise ValueError("a validation run needs at least one result")
    env = results[0].environment
    gpus = env.get("gpus") or []
    gpu = gpus[0] if gpus else {}
    packages = env.get("packages") or {}
    lines = [
        f"### {when}: {len(gpus)} x {gpu.get('name', 'unknown GPU')}",
        "",
        f"- GPU: {gpu.get('name', 'unknown')} ({gpu.get('uuid', 'unknown')}, PCI {gpu.get('pci_bus_id')}), power limit "
        f"{_f(gpu.get('power_limit_w'), '.0f')} W (enforced {_f(gpu.get('enforced_power_limit_w'), '.0f')} W), "
        f"driver {env.get('driver_version')}, CUDA driver {env.get('cuda_driver_version')}",
        f"- Software: llem {env.get('llem_version')}, Python {env.get('python')}, "
        + ", ".join(f"{k} {v}" for k, v in sorted(packages.items())),
        f"- Model: {model}",
        "",
        "| backend | precision | batch | launch | cycles | J/token | ± (whole budget) | J/token above idle"
        " | J/decode token | prefill share of energy | tokens/s | decode tokens/s | mean power W | window s | passes"
        " | counter vs sampled | counter update ms | loaded idle W |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in config_rows(results):
        lines.append(
            f"| {row.backend} | {row.precision} | {row.batch if row.batch is not None else 'n/a'} | {row.launch}"
            f" | {row.cycles} | {_f(row.j_per_token, '.4f')} | {_f(row.j_per_token_unc, '.5f')}"
            f" | {_f(row.adjusted_j_per_token, '.4f')} | {_f(row.j_per_decode_token, '.4f')}"
            f" | {_f(row.prefill_energy_pct, '.1f')}{'' if row.prefill_energy_pct is None else ' %'}"
            f" | {row.tokens_per_s:.1f} | {_f(row.decode_tokens_per_s, '.1f')} | {_f(row.mean_power_w, '.1f')}"
            f" | {row.window_s:.1f} | {row.passes} | {_f(row.gap_pct, '.1f')}{'' if row.gap_pct is None else ' %'}"
            f" | {_f(row.period_ms, '.0f')} | {_f(row.baseline_w, '.1f')} |"
        )
    lines.append("")
    for fc in forks:
        verdict = "ok" if fc.ok else "FAILED"
        lines.append(
            f"- Warm start ({fc.config}): {verdict}: forked units ran on {fc.forked_device}, a fresh process on"
            f" {fc.fresh_device}; forked/fresh tokens/s {fc.throughput_ratio:.3f},"
            f" J/token {_f(fc.energy_ratio, '.3f')} (tolerance ±{FORK_TOLERANCE:.0%})"
        )
    for line in scope:
        lines.append(f"- GPU scope by UUID: {line}")
    for line in harness:
        lines.append(f"- {line}")
    for s in skipped:
        lines.append(f"- Skipped: {s}")
    lines.extend(measurement_lines(results))
    throttles = sorted({t for r in results for t in r.energy.throttle_reasons})
    if throttles:
        lines.append(f"- Throttled (a slowing reason held >= 5 % of a window): {', '.join(throttles)}")
    notes = sorted({n for r in results for n in r.energy.notes})
    for n in notes:
        lines.append(f"- Note from the meter: {n}")
    return "\n".join(lines) + "\n"


def measurement_lines(results: Sequence[ExperimentResult]) -> list[str]:
    """How the figures were read: the power reading, the budget's parts, the loaded idle baseline, throttle time."""
    energy = [r.energy for r in results if r.energy.available]
    if not energy:
        return []
    out = []
    sources = sorted({f"{e.power_source} (averaging {_f(e.power_average_window_s, 'g')} s)" for e in energy})
    out.append(f"- Power reading sampled: {', '.join(sources)}")
    budgets = [e.uncertainty_budget for e in energy if e.uncertainty_budget is not None]
    if budgets:
        parts = sorted({k for b in budgets for k in b.components_j})
        shares = ", ".join(
            f"{k} {_f(_mean([b.components_j.get(k, 0.0) / b.total_j if b.total_j else None for b in budgets]), '.0%')}"
            for k in parts
        )
        rel = _mean(
            [
                e.total_energy_uncertainty_j / e.total_energy_j
                for e in energy
                if e.total_energy_j and e.total_energy_uncertainty_j is not None
            ]
        )
        out.append(f"- Uncertainty budget: {_f(rel, '.2%')} of the window's energy on average; parts: {shares}")
        left = sorted({k for b in budgets for k in b.not_included})
        out.append(f"- Not included (named, not zero): {', '.join(left)}")
    gaps = [e for e in energy if e.sampled_energy_j is not None and e.method == "counter" and e.total_energy_j]
    if gaps:
        inside = len([e for e in gaps if _agrees(e)])
        out.append(
            f"- Sampled power vs the counter: within both bounds in {inside} of {len(gaps)} windows"
            " (one sensor behind both: a check of integration and timing, not of the sensor)"
        )
    base = [e for e in energy if e.baseline_power_w is not None]
    if base:
        out.append(
            f"- Idle baseline in the loaded state (model warmed, weights and KV cache resident): "
            f"{_f(_mean([e.baseline_power_w for e in base]), '.1f')} W ± "
            f"{_f(_mean([e.baseline_power_uncertainty_w for e in base]), '.2f')} W, "
            f"{min(e.baseline_power_w for e in base):.1f}-{max(e.baseline_power_w for e in base):.1f} W over"  # type: ignore[type-var]
            f" {len(base)} units, GPU at {_f(_mean([e.baseline_temperature_start_c for e in base]), '.0f')} °C"
        )
    shares_by_reason: dict[str, list[float]] = {}
    for e in energy:
        for k, v in e.throttle_share.items():
            shares_by_reason.setdefault(k, []).append(v)
    held = {k: max(v) for k, v in shares_by_reason.items() if max(v) > 0}
    if held:
        method = sorted({e.throttle_method for e in energy if e.throttle_method})
        out.append(
            f"- Throttle time, largest share of a window ({', '.join(m for m in method if m)}): "
            + ", ".join(f"{k} {v:.1%}" for k, v in sorted(held.items()))
        )
    return out


def _agrees(e: Any) -> bool:
    """Whether a window's sampled figure and its counter figure lie within their two bounds of each other."""
    if e.sampled_energy_j is None or e.total_energy_j is None or e.sampled_energy_uncertainty_j is None:
        return False
    gap = abs(float(e.sampled_energy_j) - float(e.total_energy_j))
    return gap <= float(e.sampled_energy_uncertainty_j) + float(e.total_energy_uncertainty_j or 0.0)


def insert_run(document: str | None, preamble: str, section: str) -> str:
    """``document`` with ``section`` as its newest run; a missing or headingless document starts anew."""
    if document is None or RUNS_HEADING not in document:
        return f"{preamble.rstrip()}\n\n{RUNS_HEADING}\n\n{section}"
    head, _, older = document.partition(RUNS_HEADING)
    return f"{head}{RUNS_HEADING}\n\n{section}\n{older.lstrip()}"
