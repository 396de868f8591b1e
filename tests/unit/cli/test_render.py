"""Tables never cut a name or an error: cells wrap in a narrow terminal, and piped output keeps rows whole."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.cli.render import PIPE_WIDTH, manifest_table

ERROR = "image llenergymeasure/pytorch:0.9 writes result schema '0' but this llem reads '1'; rebuild the image " * 2


def manifest() -> CampaignManifest:
    entry = ManifestEntry(
        key="exp001_c1",
        exp_id="exp001",
        config_hash="a" * 16,
        config_summary={"model": "meta-llama/Llama-3.2-1B-Instruct-with-a-long-fine-tune-name"},
        backend="pytorch",
        service="pytorch",
        cycle=1,
        status="failed",
        config_file="configs/exp001.yaml",
        error_type="LaunchError",
        error_message=ERROR,
    )
    return CampaignManifest(campaign="c", design_hash="d" * 16, llem_version="0", entries=[entry])


def render(width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, highlight=False, color_system=None).print(manifest_table(manifest()))
    return buf.getvalue()


def column(text: str, index: int) -> str:
    """Column ``index`` of the body rows, its wrapped pieces joined: what the cell holds."""
    pieces = [line.split("│")[index + 1].strip() for line in text.splitlines() if line.startswith("│")]
    return " ".join(p for p in pieces if p)


def test_narrow_terminal_wraps_every_cell_and_cuts_none() -> None:
    text = render(60)
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "…" not in text
    assert column(text, 6).replace(" ", "") == f"LaunchError: {ERROR}".replace(" ", "")
    assert column(text, 5).replace(" ", "") == "model=meta-llama/Llama-3.2-1B-Instruct-with-a-long-fine-tune-name"


def test_piped_output_keeps_each_row_on_one_line() -> None:
    code = "from llenergymeasure.cli.render import console; print(console().width)"
    env = {"PATH": "/usr/bin:/bin"}  # no COLUMNS: stdout is a pipe
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(PIPE_WIDTH)
    text = render(PIPE_WIDTH)
    (row,) = [line for line in text.splitlines() if "exp001_c1" in line]
    assert f"LaunchError: {ERROR.strip()}" in row
