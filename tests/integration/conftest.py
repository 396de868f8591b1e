from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAST = """
model: llem/tiny-llama
backend: pytorch
precision: fp32
n_prompts: 2
max_input_tokens: 32
max_output_tokens: 4
warmup: {n_runs: 0}
baseline: {enabled: false}
"""


def llem(
    *args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "llenergymeasure.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"llem {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def manifest(campaign_dir: Path) -> dict:
    return json.loads((campaign_dir / "manifest.json").read_text())


def only_campaign_dir(results: Path) -> Path:
    (d,) = [p for p in results.iterdir() if p.is_dir()]
    return d


def attempts_that_measured(campaign_dir: Path, stem: str) -> int:
    log = campaign_dir / "logs" / f"{stem}.log"
    return log.read_text().count("warmup done") if log.exists() else 0


@pytest.fixture
def fast_campaign(tmp_path: Path) -> Path:
    p = tmp_path / "camp.yaml"
    p.write_text("name: fast\n" + FAST + "sweep:\n  pytorch.batch_size: [1, 2]\nexecution: {n_cycles: 2}\n")
    return p
