import base64
import math
from pathlib import Path
from typing import Any

import pytest

from llenergymeasure.results.plotdata import (
    CLIP_NOTE,
    Bar,
    View,
    bar_in_view,
    bars_caption,
    cycle_offsets,
    series_offsets,
    view_of,
)
from llenergymeasure.results.plots import (
    Figure,
    dimension_figure,
    figures,
    power_figure,
    write_figures,
)
from llenergymeasure.results.stats import ConfigStats, Spread, by_config, summarize

JPT = "energy.energy_per_output_token_j"
TPS = "metrics.output_tokens_per_s"
TPOT = "serving.tpot_ms.p90"
STEADY = "serving.steady_state.energy_per_output_token_j"
BATCH = "config.pytorch.batch_size"
SEQS = "config.vllm.max_num_seqs"
BACKEND = "config.backend"


# --- the view, bars and offsets (pure) -------------------------------------------------------------


def test_three_cycles_spanning_decades_get_a_log_view_from_the_values_not_the_interval() -> None:
    wide = summarize([0.05, 0.1, 3.12], positive=True)
    assert wide is not None
    assert wide.ci_high is not None
    assert wide.ci_high > 9.0  # the log-t interval: 37 x the centre
    view = view_of([wide.value, 0.05, 0.1, 3.12])
    pad = 10 ** (0.08 * math.log10(3.12 / 0.05))
    assert view == View(pytest.approx(0.05 / pad), pytest.approx(3.12 * pad), True)
    assert bar_in_view(Spread("interval", wide.ci_low, wide.ci_high, "log-t"), view) == Bar(
        pytest.approx(0.05 / pad), pytest.approx(3.12 * pad), True, True
    )


def test_two_cycles_get_a_linear_view_around_their_range() -> None:
    two = summarize([123.0, 615.0], positive=True)
    assert two is not None
    view = view_of([two.value, 123.0, 615.0])
    assert view == View(pytest.approx(83.64), pytest.approx(654.36), False)
    assert view_of([0.3, 0.5]) == View(pytest.approx(0.284), pytest.approx(0.516), False)
    assert view_of([0.0, 10.0]) == View(0.0, pytest.approx(10.8), False)  # never below 0 for data that are not
    assert view_of([-1.0, 3.0]) == View(pytest.approx(-1.32), pytest.approx(3.32), False)
    assert view_of([2.0, 2.0]) == View(pytest.approx(1.84), pytest.approx(2.16), False)
    assert view_of([]) == View(0.0, 1.0, False)
    assert bar_in_view(Spread("none", None, None, "one cycle: no interval"), view) is None


def test_cycles_stand_beside_their_centre_never_on_it() -> None:
    assert cycle_offsets(3, 0.08) == [0.08, -0.08, pytest.approx(0.12)]
    assert cycle_offsets(1, 0.05) == [0.05]
    assert series_offsets(1) == [0.0]
    assert series_offsets(2) == [pytest.approx(-0.15), pytest.approx(0.15)]


def test_bars_caption_says_what_the_bars_are() -> None:
    two = summarize([123.0, 615.0], positive=True)
    three = summarize([1.0, 2.0, 3.0])
    one = summarize([4.0])
    assert two is not None
    assert three is not None
    assert one is not None
    assert bars_caption([two], 0.95, False) == "centre and range of the 2 cycles"
    assert bars_caption([two, three], 0.95, False) == "centre and 95% CI; 2 cycles: their range"
    assert bars_caption([two], 0.9, True) == "centre and 90% CI"
    assert bars_caption([one], 0.95, False) == "centre of each config (one cycle: no bars)"


# --- figures ---------------------------------------------------------------------------------------


def two_backend_rows() -> list[dict[str, Any]]:
    """pytorch batch 1, 2 and vllm max_num_seqs 2, 4; 3 cycles each; the other backend's field None."""
    rows: list[dict[str, Any]] = []
    configs = [("pytorch", 1, None), ("pytorch", 2, None), ("vllm", None, 2), ("vllm", None, 4)]
    for i, (backend, batch, seqs) in enumerate(configs):
        for cycle in (1, 2, 3):
            rows.append(
                {
                    "config_hash": f"{i}" * 16,
                    "cycle": cycle,
                    "file": f"unit-{i}-{cycle}.json",
                    BACKEND: backend,
                    BATCH: batch,
                    SEQS: seqs,
                    JPT: 0.1 * (i + 1) + 0.01 * cycle,
                    TPS: 100.0 * (i + 1) + cycle,
                }
            )
    return rows


DIMS = [BACKEND, BATCH, SEQS]


def two_backend_figures(tmp_path: Path | None = None, unit: str | None = None) -> list[Figure]:
    rows = two_backend_rows()
    stats = by_config(rows, DIMS)
    backend_of = {r["config_hash"]: r[BACKEND] for r in rows}
    return figures(stats, rows, DIMS, JPT, [JPT, TPS], 0.95, False, backend_of, tmp_path, unit)


def texts(fig: Any) -> list[str]:
    """Every text a reader sees: titles, axis labels, tick labels, legend entries and titles, annotations."""
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        out += [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]
    return [t for t in out if t]


def by_name(figs: list[Figure]) -> dict[str, Figure]:
    return {f.name: f for f in figs}


def legend_texts(ax: Any) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_every_figure_of_a_two_backend_sweep_is_named_without_none_or_prefixes() -> None:
    figs = two_backend_figures()
    assert [f.name for f in figs] == [
        "energy-vs-throughput",
        "energy-per-output-token-by-backend",
        "output-throughput-by-backend",
        "energy-per-output-token-by-pytorch-batch-size",
        "output-throughput-by-pytorch-batch-size",
        "energy-per-output-token-by-vllm-max-num-seqs",
        "output-throughput-by-vllm-max-num-seqs",
    ]
    for f in figs:
        seen = texts(f.fig)
        assert seen
        assert [t for t in seen if "None" in t or "config." in t] == []
        assert "None" not in f.caption
        assert "config." not in f.caption
        assert f.title not in f.caption
    assert [f.title for f in figs][:2] == [
        "Energy per output token vs output throughput",
        "Energy per output token by backend",
    ]


def test_a_scoped_axis_holds_only_its_backends_configs() -> None:
    f = by_name(two_backend_figures())["energy-per-output-token-by-pytorch-batch-size"]
    ax = f.fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    assert ax.get_xlabel() == "pytorch.batch_size"
    assert ax.get_ylabel() == "Energy per output token (J)"
    centres = [line for line in ax.get_lines() if line.get_label() == "_centre"]
    assert len(centres) == 1
    assert list(centres[0].get_xdata()) == [0.0, 1.0]
    # pytorch configs' geometric means of 0.11, 0.12, 0.13 and 0.21, 0.22, 0.23: no vllm config drawn.
    assert list(centres[0].get_ydata()) == [
        pytest.approx((0.11 * 0.12 * 0.13) ** (1 / 3)),
        pytest.approx((0.21 * 0.22 * 0.23) ** (1 / 3)),
    ]
    assert centres[0].get_linestyle() == "-"  # a numeric axis: points joined
    cycles = [c for c in ax.collections if c.get_label() == "_cycles"]
    assert len(cycles) == 1
    assert [tuple(o) for o in cycles[0].get_offsets()] == [
        (pytest.approx(0.08), pytest.approx(0.11)),
        (pytest.approx(-0.08), pytest.approx(0.12)),
        (pytest.approx(0.12), pytest.approx(0.13)),
        (pytest.approx(1.08), pytest.approx(0.21)),
        (pytest.approx(0.92), pytest.approx(0.22)),
        (pytest.approx(1.12), pytest.approx(0.23)),
    ]
    assert ax.get_legend() is None  # one series
    assert f.caption == (
        "centre and 95% CI; x: each cycle, beside its centre;"
        " pytorch configs only (pytorch.batch_size applies to pytorch alone);"
        " bars reaching beyond the view are cut at its edge, marked ▲ / ▼."
    )


def test_a_categorical_axis_is_never_joined_and_its_legend_sits_outside() -> None:
    f = by_name(two_backend_figures())["energy-per-output-token-by-backend"]
    ax = f.fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pytorch", "vllm"]
    centres = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in centres] == [
        "pytorch.batch_size=1",
        "pytorch.batch_size=2",
        "vllm.max_num_seqs=2",
        "vllm.max_num_seqs=4",
    ]
    assert [line.get_linestyle() for line in centres] == ["None"] * 4
    assert legend_texts(ax) == [line.get_label() for line in centres]
    f.fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 > ax.get_window_extent().x1


def one_config_stats(values: list[float], other: list[float]) -> list[ConfigStats]:
    """Two batch sizes of one backend: ``values`` and ``other`` as the cycles' tokens/s."""
    rows = [
        {"config_hash": h * 16, "cycle": c, BACKEND: "pytorch", BATCH: b, TPS: v}
        for h, b, vs in (("a", 1, values), ("b", 2, other))
        for c, v in enumerate(vs, start=1)
    ]
    return by_config(rows, [BATCH])


def cut_marks(ax: Any) -> dict[str, list[tuple[float, float]]]:
    return {
        line.get_label(): list(zip(line.get_xdata(), line.get_ydata(), strict=True))
        for line in ax.get_lines()
        if line.get_label().startswith("_cut")
    }


def test_two_cycles_draw_their_range_in_a_view_of_the_values() -> None:
    stats = one_config_stats([123.0, 615.0], [200.0, 210.0])
    f = dimension_figure(stats, BATCH, [BATCH], TPS, {})
    assert f is not None
    ax = f.fig.axes[0]
    assert ax.get_yscale() == "linear"
    assert ax.get_ylim() == (pytest.approx(83.64), pytest.approx(654.36))
    segments = ax.collections[0].get_segments()
    assert [(s[0][1], s[1][1]) for s in segments] == [
        (pytest.approx(123.0), pytest.approx(615.0)),
        (pytest.approx(200.0), pytest.approx(210.0)),
    ]
    assert cut_marks(ax) == {}
    assert f.caption == "centre and range of the 2 cycles; x: each cycle, beside its centre."
    # The interval asked for at n = 2 reaches 0.00997 .. 7.59e6: cut and marked, the view unchanged.
    wide = dimension_figure(stats, BATCH, [BATCH], TPS, {}, intervals_at_2=True)
    assert wide is not None
    wax = wide.fig.axes[0]
    assert wax.get_ylim() == (pytest.approx(83.64), pytest.approx(654.36))
    # Batch 2's interval from 200 and 210 (151 .. 278) fits in the view: only batch 1's is cut, both ends.
    assert cut_marks(wax) == {"_cut_high": [(0.0, pytest.approx(654.36))], "_cut_low": [(0.0, pytest.approx(83.64))]}
    assert wide.caption == f"centre and 95% CI; x: each cycle, beside its centre; {CLIP_NOTE}."


def test_three_cycles_with_a_huge_log_t_interval_do_not_squash_the_points() -> None:
    stats = one_config_stats([0.05, 0.1, 3.12], [0.5, 0.55, 0.6])
    f = dimension_figure(stats, BATCH, [BATCH], TPS, {})
    assert f is not None
    ax = f.fig.axes[0]
    pad = 10 ** (0.08 * math.log10(3.12 / 0.05))
    assert ax.get_yscale() == "log"
    assert ax.get_ylim() == (pytest.approx(0.05 / pad), pytest.approx(3.12 * pad))
    wide = stats[0].metrics[TPS]
    assert wide.ci_high is not None
    assert ax.get_ylim()[1] < wide.ci_high / 3  # not stretched to the interval's bound
    assert cut_marks(ax) == {
        "_cut_high": [(0.0, pytest.approx(3.12 * pad))],
        "_cut_low": [(0.0, pytest.approx(0.05 / pad))],
    }
    f.fig.canvas.draw()
    low, high = ax.get_ylim()
    ticks = [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    assert ticks == ["0.1", "1"]
    assert f.caption == f"centre and 95% CI; x: each cycle, beside its centre; log scale; {CLIP_NOTE}."


def serving_stats() -> tuple[list[ConfigStats], dict[str, str]]:
    rows = [
        {
            "config_hash": h * 16,
            "cycle": c,
            BACKEND: "vllm",
            "config.scenario.concurrency": conc,
            TPOT: tpot + c,
            STEADY: jpt + 0.01 * c,
        }
        for h, conc, tpot, jpt in (("a", 1, 5.0, 0.9), ("b", 4, 8.0, 0.3), ("c", 16, 9.0, 0.5))
        for c in (1, 2)
    ]
    return by_config(rows, ["config.scenario.concurrency"]), {r["config_hash"]: "vllm" for r in rows}


def test_pareto_marks_the_frontier_and_labels_points_by_swept_values() -> None:
    stats, backend_of = serving_stats()
    figs = figures(stats, [], ["config.scenario.concurrency"], STEADY, [], 0.95, False, backend_of)
    assert [f.name for f in figs] == ["pareto"]  # no offline throughput, no metric shown by dimension
    f = figs[0]
    ax = f.fig.axes[0]
    assert f.title == "Pareto frontier: Energy per output token, steady state vs p90 time per output token"
    assert ax.get_xlabel() == "p90 time per output token (ms)"
    assert ax.get_ylabel() == "Energy per output token, steady state (J)"
    assert legend_texts(ax) == ["vllm", "Pareto frontier"]
    assert [t.get_text() for t in ax.texts] == [
        "scenario.concurrency=1",
        "scenario.concurrency=4",
        "scenario.concurrency=16",
    ]
    frontier = next(line for line in ax.get_lines() if line.get_label() == "Pareto frontier")
    assert list(frontier.get_xdata()) == [pytest.approx((6.0 * 7.0) ** 0.5), pytest.approx((9.0 * 10.0) ** 0.5)]
    # The view holds the centres and cycles: tpot 6 .. 11, J/token 0.31 .. 0.92.
    assert ax.get_xlim() == (pytest.approx(5.6), pytest.approx(11.4))
    assert ax.get_ylim() == (pytest.approx(0.2612), pytest.approx(0.9688))
    assert f.caption == (
        "centre and range of the 2 cycles on both axes; x: each cycle;"
        " circled and joined: the Pareto frontier (no config better on both axes)."
    )


def test_power_of_the_chosen_unit_from_its_timeseries(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"t_s": [0.0, 0.5, 0.0, 0.5], "gpu": [0, 0, 1, 1], "power_w": [100.0, 150.0, 90.0, 95.0]}),
        tmp_path / "unit-1-2.parquet",
    )
    rows = two_backend_rows()
    rows[4]["energy.timeseries_file"] = "unit-1-2.parquet"
    stats = by_config(rows, DIMS)
    figs = figures(stats, rows, DIMS, JPT, [], 0.95, False, {}, tmp_path, "unit-1-2.json")
    f = figs[-1]
    assert f.name == "power-unit-1-2"
    assert f.title == "Power draw of unit-1-2.json"
    ax = f.fig.axes[0]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[100.0, 150.0], [90.0, 95.0]]
    assert legend_texts(ax) == ["GPU 0", "GPU 1"]
    assert ax.get_ylabel() == "Power (W)"
    # A unit named but without a file: none drawn rather than another unit's.
    missing = figures(stats, rows, DIMS, JPT, [], 0.95, False, {}, tmp_path / "elsewhere", "unit-1-2.json")
    assert [f.name for f in missing] == ["energy-vs-throughput"]


def test_power_figure_with_one_gpu_has_no_legend() -> None:
    f = power_figure({"t_s": [0.0, 1.0], "gpu": [0, 0], "power_w": [80.0, 81.0]}, "run.json")
    assert f.name == "power-run"
    assert f.fig.axes[0].get_legend() is None


def test_write_figures_writes_png_svg_and_pdf_and_embeds_the_png(tmp_path: Path) -> None:
    figs = two_backend_figures()[:2]
    written = write_figures(figs, tmp_path / "plots")
    assert [w.name for w in written] == ["energy-vs-throughput", "energy-per-output-token-by-backend"]
    for w, f in zip(written, figs, strict=True):
        assert (w.png, w.svg, w.pdf) == tuple(tmp_path / "plots" / f"{f.name}.{x}" for x in ("png", "svg", "pdf"))
        assert w.title == f.title
        assert w.caption == f.caption
        assert w.png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert w.svg.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
        assert w.pdf.read_bytes().startswith(b"%PDF")
        assert base64.b64decode(w.png_base64) == w.png.read_bytes()
        assert f.fig.axes == []  # cleared once written
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        f"{n}.{x}"
        for n in ("energy-vs-throughput", "energy-per-output-token-by-backend")
        for x in ("png", "svg", "pdf")
    )


def test_clashing_names_get_a_suffix() -> None:
    from llenergymeasure.results.plots import _unique

    figs = _unique([Figure("a", "A", "c.", None), Figure("a", "A", "c.", None), Figure("b", "B", "c.", None)])
    assert [f.name for f in figs] == ["a", "a-2", "b"]
