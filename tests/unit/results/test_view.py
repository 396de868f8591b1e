"""The results view model: header facts, scoped axes as ``-``, the one metric table. Pure."""

from __future__ import annotations

from llenergymeasure.results.metrics import SPECS, label
from llenergymeasure.results.view import build_view, when

TPS = "metrics.output_tokens_per_s"


def sweep_rows() -> list[dict[str, object]]:
    """pytorch batch sizes 2, 8 and vllm max_num_seqs 4: 2 cycles each, tokens/s = 10 x the axis (+1 in cycle 2)."""
    rows: list[dict[str, object]] = []
    configs = [("pytorch", {"config.pytorch.batch_size": b}, b) for b in (8, 2)]
    configs.append(("vllm", {"config.vllm.max_num_seqs": 4}, 4))
    for backend, axis, x in configs:
        for cycle in (1, 2):
            rows.append(
                {
                    "config_hash": f"{backend}-{x}".ljust(16, "0"),
                    "cycle": cycle,
                    "config.backend": backend,
                    "config.model": "llem/tiny-llama",
                    "config.precision": "fp32",
                    "config.n_prompts": 8,
                    "config.max_output_tokens": 16,
                    "config.dataset.kind": "jsonl",
                    "config.dataset.path": "prompts.jsonl",
                    "config.dataset.field": "prompt",
                    "config.dataset.sha256": "ab" * 32,
                    "config.scenario.kind": "server",
                    "config.scenario.slo.ttft_ms": 500.0,
                    "config.scenario.slo.tpot_ms": None,
                    **axis,
                    TPS: x * 10.0 + (cycle - 1),
                    f"environment.packages.{backend}": "2.13.0" if backend == "pytorch" else "0.32.0",
                    "environment.container_image": f"llenergymeasure/{backend}:cpu-test",
                    "environment.container_image_id": f"sha256:{backend[:2]}",
                    "environment.cpu": "AMD EPYC",
                    "environment.launch": "warm-start",
                    "environment.llem_version": "0.1.0",
                    "started_at": f"2026-11-23T06:0{cycle}:00+00:00",
                    "finished_at": f"2026-11-23T07:0{cycle}:30+01:00",
                    "gpu": "NVIDIA H100 80GB HBM3",
                }
            )
    return rows


MANIFEST = {
    "campaign": "engines",
    "design_hash": "0123456789abcdef",
    "campaign_file": "campaigns/engines.yaml",
    "executor": "docker",
    "entries": [
        {"exp_id": "exp001", "config_hash": "pytorch-8".ljust(16, "0")},
        {"exp_id": "exp002", "config_hash": "pytorch-2".ljust(16, "0")},
        {"exp_id": "exp003", "config_hash": "vllm-4".ljust(16, "0")},
    ],
}
SNAPSHOT = {"execution": {"n_cycles": 2, "cycle_order": "shuffled"}}


def test_header_holds_every_fact_a_reviewer_asks_for() -> None:
    view = build_view(sweep_rows(), MANIFEST, SNAPSHOT)
    assert [(f.name, f.text) for f in view.facts] == [
        ("Design hash", "0123456789abcdef"),
        ("Campaign file", "campaigns/engines.yaml"),
        ("Model(s)", "llem/tiny-llama"),
        ("Fixed settings", "precision=fp32, n_prompts=8, max_output_tokens=16, scenario.kind=server"),
        ("Dataset", f"prompts.jsonl (field prompt), sha256 {'ab' * 32}"),
        ("SLOs (goodput)", "ttft_ms <= 500.0 ms"),
        ("Cycles", "2, shuffled"),
        ("Engines", "pytorch (pytorch 2.13.0); vllm (vllm 0.32.0)"),
        ("Images", "llenergymeasure/pytorch:cpu-test (sha256:py), llenergymeasure/vllm:cpu-test (sha256:vl)"),
        ("Hardware", "GPU: NVIDIA H100 80GB HBM3; CPU: AMD EPYC"),
        ("Executor", "docker (warm-start launch)"),
        ("llem", "0.1.0"),
        # The last end is 07:02:30+01:00 = 06:02:30 UTC, after the last start 06:02 UTC: zones compared, shown.
        ("Started", "2026-11-23 06:01:00 UTC"),
        ("Ended", "2026-11-23 07:02:30 UTC+01:00"),
    ]


def test_scoped_axes_read_dash_for_the_other_backend_and_rows_carry_exp_ids() -> None:
    view = build_view(sweep_rows(), MANIFEST, SNAPSHOT, rank_by="throughput")
    # vllm.max_num_seqs has one value: a fixed setting of vllm's, not an axis.
    assert view.axes == ["backend", "pytorch.batch_size"]
    assert [(r.rank, r.exp_id, r.backend, r.fields) for r in view.rows] == [
        (1, "exp001", "pytorch", {"backend": "pytorch", "pytorch.batch_size": "8"}),
        (2, "exp003", "vllm", {"backend": "vllm", "pytorch.batch_size": "-"}),
        (3, "exp002", "pytorch", {"backend": "pytorch", "pytorch.batch_size": "2"}),
    ]
    assert view.method_line == (
        "Ranked by output throughput (tokens/s), higher is better. 2 cycles: their range, not an interval."
    )
    one = build_view([r for r in sweep_rows() if r["cycle"] == 1], MANIFEST, SNAPSHOT, rank_by="throughput")
    assert one.method_line == "Ranked by output throughput (tokens/s), higher is better. 1 cycle: no interval."


def test_times_always_carry_their_zone() -> None:
    assert when("2026-11-23T06:00:00+00:00") == "2026-11-23 06:00:00 UTC"
    assert when("2026-11-23T06:00:00-05:00") == "2026-11-23 06:00:00 UTC-05:00"
    assert when("2026-11-23T06:00:00") == "2026-11-23 06:00:00 (zone not recorded)"
    assert when(None) is None


def test_every_metric_has_one_human_name_with_its_unit() -> None:
    assert len({s.key for s in SPECS}) == len(SPECS)
    for s in SPECS:
        assert label(s.key) == f"{s.name} ({s.unit})"
        assert s.unit in ("J", "s", "ms", "tokens/s", "requests/s", "gCO2e")
        assert "config." not in s.short
        assert "None" not in s.short


def test_serving_rows_name_each_config_once_with_each_metrics_centre_and_spread() -> None:
    from llenergymeasure.results.export import serving_cells, serving_columns
    from llenergymeasure.results.html import serving_table_html

    rows = [
        {
            "config_hash": f"{c}".ljust(16, "0"),
            "cycle": cycle,
            "config.backend": "vllm",
            "config.scenario.kind": "server",
            "config.scenario.concurrency": c,
            "serving.tpot_ms.p90": 10.0 * c + cycle,
            "serving.steady_state.energy_per_output_token_j": 0.5 / c,
        }
        for c in (1, 4)
        for cycle in (1, 2, 3)
    ]
    view = build_view(rows, rank_by="throughput")
    assert serving_columns(view) == ["exp", "config", "scenario.concurrency", "metric", "centre", "CI", "method", "n"]
    assert serving_cells(view, lambda s: s.short) == [
        # scipy: exp of t.interval(0.95, 2) of log(11, 12, 13)
        ["-", "10000000", "1", "p90 TPOT ms", "11.97", "9.728–14.73", "geometric mean, log-t", "3"],
        ["", "", "", "steady J/tok", "0.5000", "0.5000–0.5000", "geometric mean, log-t", "3"],
        ["-", "40000000", "4", "p90 TPOT ms", "41.99", "39.58–44.55", "geometric mean, log-t", "3"],
        ["", "", "", "steady J/tok", "0.1250", "0.1250–0.1250", "geometric mean, log-t", "3"],
    ]
    page = serving_table_html(view)
    assert "<td class='t'>p90 time per output token (ms)</td><td>11.97</td>" in page
