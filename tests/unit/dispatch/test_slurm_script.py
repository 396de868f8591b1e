"""``slurm-unit.sh`` is never seen torn, however many submit threads write it at once (issue 22, item 6).

Every submit thread writes the script when it finds it missing or different, then runs ``sbatch``,
which reads it. The check is at the process boundary: an ``sbatch`` stand-in (the ``Commands``
seam) reads the script as the controller would, and a reader thread reads it all along while the
writers run. A plain ``write_text`` truncates the file before writing it, so a reader, or the
``sbatch`` of a thread that found it already there, could read it empty or half written.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from llenergymeasure.config.campaign import SlurmConfig
from llenergymeasure.dispatch.base import UnitJob
from llenergymeasure.dispatch.processes import Answer, Commands
from llenergymeasure.dispatch.slurm import SCRIPT, SlurmExecutor

THREADS = 8
ROUNDS = 40


class Sbatch(Commands):
    """``sbatch``: reads the batch script (its first argument that is not an option) and queues a job."""

    def __init__(self) -> None:
        self.read: list[bytes] = []
        self._lock = threading.Lock()

    def run(self, argv: Sequence[str], timeout_s: float = 60.0, env: Mapping[str, str] | None = None) -> Answer:
        assert argv[0] == "sbatch"
        script = next(a for a in argv[1:] if not a.startswith("--"))
        data = Path(script).read_bytes()
        with self._lock:
            self.read.append(data)
            return Answer(0, f"{len(self.read)}\n")


def unit(campaign: Path, n: int) -> UnitJob:
    return UnitJob(
        key=f"exp{n:03d}_c1", backend="pytorch", service="pytorch", campaign_dir=campaign,
        config_file=campaign / "configs" / f"exp{n:03d}.yaml", stem=f"s{n}", config_hash="0" * 16, cycle=1,
        timeout_s=60, idle_timeout_s=60, log_file=campaign / "logs" / f"s{n}.log", run_id="r1",
    )  # fmt: skip


def test_concurrent_submits_never_show_a_torn_batch_script(tmp_path: Path) -> None:
    sbatch = Sbatch()
    executor = SlurmExecutor(SlurmConfig(container=["apptainer", "exec", "llem.sif"]), commands=sbatch)
    seen: list[bytes] = []  # every read of the script by the watcher while writers ran
    current: list[Path] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if current:
                with contextlib.suppress(FileNotFoundError):  # not written yet
                    seen.append(current[-1].read_bytes())

    switch_s = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often, so a torn moment would be seen
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ids: list[str] = []
    try:
        for r in range(ROUNDS):
            campaign = tmp_path / f"c{r}"
            campaign.mkdir()
            current.append(campaign / "slurm-unit.sh")
            start = threading.Barrier(THREADS)

            def submit(n: int, campaign: Path = campaign, start: threading.Barrier = start) -> None:
                start.wait(timeout=10)
                ids.append(executor._submit(unit(campaign, n)))

            threads = [threading.Thread(target=submit, args=(n,)) for n in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
            assert sorted(os.listdir(campaign)) == ["slurm-unit.sh"]  # no temp file left
            script = campaign / "slurm-unit.sh"
            assert script.read_bytes() == SCRIPT.encode()
            assert stat.S_IMODE(script.stat().st_mode) == 0o755
    finally:
        done.set()
        watcher.join(timeout=5)
        sys.setswitchinterval(switch_s)
    assert len(ids) == ROUNDS * THREADS
    assert sorted(map(int, ids)) == list(range(1, ROUNDS * THREADS + 1))
    assert sbatch.read == [SCRIPT.encode()] * (ROUNDS * THREADS)  # what every sbatch read
    assert seen  # the watcher read the script while it was being written
    assert {s for s in seen if s != SCRIPT.encode()} == set()
