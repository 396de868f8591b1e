from __future__ import annotations

from llenergymeasure.results.pareto import dominates, pareto_front


def test_dominance_needs_one_strict_improvement() -> None:
    assert dominates((1.0, 1.0), (2.0, 1.0))
    assert not dominates((1.0, 1.0), (1.0, 1.0))
    assert not dominates((1.0, 3.0), (2.0, 1.0))
    assert dominates((3.0, 1.0), (2.0, 1.0), lower_x=False)


def test_frontier_of_a_load_sweep_ordered_by_latency() -> None:
    # (p90 TPOT ms, J/token): more load lowers J/token and raises latency; (30, 0.5) is beaten by (20, 0.4).
    pts = [(10.0, 0.9), (20.0, 0.4), (30.0, 0.5), (40.0, 0.2), (15.0, 0.9)]
    assert pareto_front(pts) == [0, 1, 3]


def test_frontier_with_higher_is_better_on_y() -> None:
    # (p90 TPOT ms, tokens/s) without energy: fast and high throughput wins.
    pts = [(10.0, 100.0), (20.0, 300.0), (30.0, 250.0), (25.0, 400.0)]
    assert pareto_front(pts, lower_y=False) == [0, 1, 3]
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0, 1]


def test_axes_prefer_steady_state_energy_then_whole_run_then_throughput() -> None:
    from llenergymeasure.results.pareto import pareto_axes

    tpot = "serving.tpot_ms.p90"
    steady = "serving.steady_state.energy_per_output_token_j"
    whole = "serving.whole_run.energy_per_output_token_j"
    tps = "serving.whole_run.output_tokens_per_s"
    axes = pareto_axes([{tpot, steady, whole, tps}, {tpot, whole, tps}])
    assert axes is not None
    assert (axes.x, axes.y, axes.lower_y) == (tpot, steady, True)
    axes = pareto_axes([{tpot, tps}])
    assert axes is not None
    assert (axes.y, axes.y_label, axes.lower_y) == (tps, "output tokens / s", False)
    assert pareto_axes([{"energy.energy_per_output_token_j"}]) is None
