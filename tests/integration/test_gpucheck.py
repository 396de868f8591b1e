"""The GPU kit end to end on this CPU machine: the real CLI, campaigns and llem-exp, NVML faked at pynvml.

Without a GPU the model runs on the CPU, so the kit must say its warm-start and scope checks FAILED
(the units did not run on CUDA) and exit 1, while still writing the whole section from the results.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.slow

SHIM = ROOT / "tests" / "fakes" / "pynvml_shim"


def test_smoke_run_writes_the_section_and_fails_its_cuda_checks(tmp_path: Path) -> None:
    out = tmp_path / "gpu.md"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SHIM), str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    args = [
        "--shape",
        "smoke",
        "--work",
        str(tmp_path / "w"),
        "--out",
        str(out),
        "--cycles",
        "1",
        "--min-window-s",
        "0",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "llenergymeasure.gpucheck", *args], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    doc = out.read_text()
    assert doc.startswith("# GPU validation\n")
    section = doc[doc.index("### ") :].splitlines()
    assert section[0].endswith(": 1 x Fake H100")
    assert section[2] == (
        "- GPU: Fake H100 (GPU-fake-0, PCI 00000000:18:00.0), power limit 700 W (enforced 650 W),"
        " driver 550.54.15, CUDA driver 12.4"
    )
    rows = [line.split(" | ")[:5] for line in section if line.startswith("| pytorch")]
    assert rows == [
        ["| pytorch", "bf16", "4", "warm-start", "1"],
        ["| pytorch", "bf16", "32", "warm-start", "1"],
        ["| pytorch", "bf16", "32", "fresh", "2"],
    ]
    assert (
        "- Warm start (pytorch batch 32, 1 forked vs 2 fresh): FAILED: forked units ran on cpu, a fresh process on cpu;"
        in "\n".join(section)
    )
    scope = "- GPU scope by UUID: FAILED: a unit run with CUDA_VISIBLE_DEVICES=GPU-fake-0 ran on cpu and measured"
    assert f"{scope} GPU-fake-0" in section
    assert "- Skipped: vLLM (not installed in this interpreter)" in section
    harness = [line for line in section if line.startswith("- Harness window vs a bare generate on cpu: ")]
    assert len(harness) == 1
    assert harness[0].endswith(", 8 paired batches (target >= 0.99)")
    assert "- Power reading sampled: power_usage_instant (averaging 0 s)" in section
    assert any(line.startswith("- Idle baseline in the loaded state (model warmed") for line in section)
