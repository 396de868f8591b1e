"""``python -m llenergymeasure.experiment.gpunode DIR UNIT CONFIG -- COMMAND...``: a unit's gpu.* on a Slurm node.

A Slurm job runs on a node the host cannot reach, so the job itself sets the unit's GPU settings
around ``llem-exp`` and puts them back when it ends: after the command exits, and on the SIGTERM
Slurm sends at ``scancel`` or the time limit (forwarded to the command, then restored: the trap of
the job). The campaign folder is shared, so the journal (gpu/journal.py) it writes before the first
change is the one ``resume`` reads; a node killed outright (SIGKILL, power loss) leaves its entry
open, and ``resume`` names that node. Without gpu.* the command simply replaces this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.loader import read_unit_config
from llenergymeasure.energy.nvml import load_pynvml
from llenergymeasure.energy.scope import parse_visible
from llenergymeasure.errors import EnergyUnavailableError, GpuSettingsError, LlemError
from llenergymeasure.gpu import control
from llenergymeasure.gpu.guard import UnitSettings, unit_gpu_indices
from llenergymeasure.gpu.settings import Target, problems

MODULE = "llenergymeasure.experiment.gpunode"


def command(campaign_dir: str, unit: str, config_file: str, argv: Sequence[str], python: str) -> list[str]:
    """The job's argument list: this wrapper around the unit's own command."""
    return [python, "-m", MODULE, campaign_dir, unit, config_file, "--", *argv]


def unit_indices(nvml: Any, config: ExperimentConfig) -> list[int]:
    """NVML indices of the GPUs the unit's engine uses, as its energy is measured (the job's CUDA_VISIBLE_DEVICES).

    The host's rule too (``gpu.guard.unit_gpu_indices``), so a unit's GPUs are the same wherever it runs.
    """
    visible = parse_visible(os.environ.get("CUDA_VISIBLE_DEVICES"))
    return unit_gpu_indices(nvml, (), visible, config.gpu_count(), config.energy.gpu_indices)


def run(campaign_dir: Path, unit: str, config_file: Path, argv: Sequence[str]) -> int:
    """Check, apply, run ``argv``, put back; the command's exit status (2: the settings could not be applied)."""
    config = read_unit_config(config_file)
    if config is None:  # llem-exp says what is wrong with it
        os.execvp(argv[0], list(argv))
    target = Target.of(config.gpu.power_limit_w, config.gpu.sm_clock_mhz, config.gpu.memory_clock_mhz)
    if target.is_empty:
        os.execvp(argv[0], list(argv))
    nvml = load_pynvml()
    indices = unit_indices(nvml, config)
    found = problems(target, control.capabilities(nvml, indices), str(config_file))
    if found:  # the node's own check: its GPUs, not the host's
        raise GpuSettingsError("; ".join(found))
    child: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child:
            child[0].send_signal(signum)
        else:  # still applying: leave through the restore below
            raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    with UnitSettings(campaign_dir, lambda: nvml).applied(unit, target, lambda _nvml: indices):
        child.append(subprocess.Popen(list(argv)))
        return child[0].wait()


def main(args: Sequence[str] | None = None) -> None:
    """Console entry: a problem with the settings is one line on stderr and exit status 2."""
    argv = list(sys.argv[1:] if args is None else args)
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write(__doc__ or "")
        sys.exit(2)
    try:
        code = run(Path(argv[0]), argv[1], Path(argv[2]), argv[4:])
    except (GpuSettingsError, EnergyUnavailableError) as exc:
        sys.stderr.write(f"error: gpu.*: {exc}\n")
        sys.exit(2)
    except LlemError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
