"""The report a reviewer reads: a real two-backend campaign with scoped axes (3 cycles) and its 2-cycle cut.

tests/data/campaigns/two-backend-a is a campaign measured on this machine kind (the tiny model on
pytorch, batch sizes 1 and 2, and on vllm, max_num_seqs 2 and 4; 3 interleaved cycles). Its first two
cycles stand for a 2-cycle campaign, where intervals span +-12.7 standard errors and once squashed
every plot. Headless Chromium renders the page at 1280 px.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llenergymeasure.cli.campaign_dir import read_campaign
from llenergymeasure.cli.main import cli
from llenergymeasure.results.report import report_figures
from llenergymeasure.results.view import build_view
from tests.integration.conftest import chromium, headless

DATA = Path(__file__).resolve().parents[1] / "data" / "campaigns"
HEADER = [
    "Design hash",
    "Campaign file",
    "Model(s)",
    "Fixed settings",
    "Dataset",
    "SLOs (goodput)",
    "Cycles",
    "Engines",
    "Images",
    "Hardware",
    "Executor",
    "llem",
    "Started",
    "Ended",
]


def copy_campaign(tmp_path: Path, cycles: int) -> Path:
    """The fixed campaign with only its first ``cycles`` cycles (a copy: reports are written into it)."""
    out = tmp_path / f"two-backend-{cycles}c"
    shutil.copytree(DATA / "two-backend-a", out)
    for path in out.glob("*_c*.json"):
        if int(path.stem.rsplit("_c", 1)[1]) > cycles:
            path.unlink()
    return out


def texts(fig: Any) -> list[str]:
    """Every text a reader sees on a figure: titles, axis labels, ticks, legends, annotations."""
    out = []
    for ax in fig.get_axes():
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in (*ax.get_xticklabels(), *ax.get_yticklabels(), *ax.texts)]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]
    return [t for t in out if t]


@pytest.mark.parametrize("cycles", [2, 3])
def test_figures_keep_to_the_data_and_never_read_none(tmp_path: Path, cycles: int) -> None:
    data = read_campaign(copy_campaign(tmp_path, cycles))
    view = build_view(data.table.rows, data.manifest, data.snapshot)
    figs = report_figures(view, data.table.rows)
    # No energy on this CPU campaign: no energy-vs-throughput scatter, tokens/s and latency by each axis.
    assert [f.name for f in figs] == [
        "output-throughput-by-backend",
        "mean-request-latency-by-backend",
        "output-throughput-by-pytorch-batch-size",
        "mean-request-latency-by-pytorch-batch-size",
        "output-throughput-by-vllm-max-num-seqs",
        "mean-request-latency-by-vllm-max-num-seqs",
    ]
    bounds = {
        round(b, 9) for s in view.stats for m in s.metrics.values() for b in (m.ci_low, m.ci_high) if b is not None
    }
    for f in figs:
        for ax in f.fig.get_axes():
            assert not {round(v, 9) for v in (*ax.get_ylim(), *ax.get_xlim())} & bounds, f.name
        seen = texts(f.fig)
        assert not [t for t in seen if "None" in t or "config." in t], (f.name, seen)
    by_batch = next(f for f in figs if f.name == "output-throughput-by-pytorch-batch-size")
    (ax,) = by_batch.fig.get_axes()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]  # pytorch's configs only
    by_backend = next(f for f in figs if f.name == "output-throughput-by-backend")
    (ax,) = by_backend.fig.get_axes()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pytorch", "vllm"]
    assert all(line.get_linestyle() == "None" for line in ax.get_lines() if len(line.get_xdata()) > 1)
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # outside the data


def test_report_writes_every_figure_three_ways_and_a_complete_header(tmp_path: Path) -> None:
    campaign = copy_campaign(tmp_path, 2)
    result = CliRunner().invoke(cli, ["report", str(campaign)])
    assert result.exit_code == 0, result.output
    page = (campaign / "report.html").read_text()
    names = sorted(p.stem for p in (campaign / "figures").glob("*.png"))
    assert len(names) == 6
    for name in names:
        for ext, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
            assert (campaign / "figures" / f"{name}.{ext}").read_bytes()[:5].startswith(magic)
            assert f"figures/{name}.{ext}" in page or ext == "png"
    for field in HEADER:
        assert f"<dt>{field}</dt><dd>" in page
    assert "<dt>Cycles</dt><dd>3, interleaved</dd>" in page  # as planned; 2 of them here
    assert "<dt>SLOs (goodput)</dt><dd>none: offline runs have no goodput</dd>" in page
    assert "<dt>Campaign file</dt><dd>tests/data/campaigns/two-backend.yaml</dd>" in page
    assert "<dt>Started</dt><dd>2026-12-01 00:47:06 UTC</dd>" in page
    assert "None" not in page
    assert "config." not in page.split("<body>", 1)[1].replace("config.yaml", "")
    assert (
        "<p class='method'>Ranked by output throughput (tokens/s), higher is better. 2 cycles: their range, not an"
        " interval.</p>"
    ) in page


def test_report_fits_1280_px_in_a_browser(tmp_path: Path) -> None:
    campaign = copy_campaign(tmp_path, 3)
    assert CliRunner().invoke(cli, ["report", str(campaign)]).exit_code == 0
    browser = chromium()
    page = (campaign / "report.html").read_text()
    probe = campaign / "probe.html"
    probe.write_text(
        page.replace(
            "</body>",
            "<script>window.addEventListener('load',()=>{const d=document.documentElement;"
            "document.title=JSON.stringify({scroll:d.scrollWidth,client:d.clientWidth,"
            "images:[...document.images].filter(i=>i.complete&&i.naturalWidth>100).length})})</script></body>",
        )
    )
    dom = headless(
        browser, tmp_path / "p1", "--window-size=1280,2000", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()
    )
    title = dom.stdout.split("<title>", 1)[1].split("</title>", 1)[0]
    seen = json.loads(title)
    assert seen["images"] == 6, dom.stderr[-2000:]
    assert seen["scroll"] <= seen["client"] <= 1280  # no horizontal overflow
    shot = tmp_path / "report.png"
    headless(
        browser, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1280,2400", (campaign / "report.html").as_uri()
    )
    assert shot.stat().st_size > 50_000  # a rendered page with its figures, not a blank one
