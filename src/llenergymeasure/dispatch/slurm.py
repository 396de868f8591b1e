"""Slurm executor: each unit is one ``sbatch`` job running ``llem-exp`` on a compute node.

Submitted with argument lists, never shell strings: the batch script is a fixed two-line file in
the campaign folder (``exec "$@"``) and the unit's command is its arguments. ``sbatch`` rather than
submitit: submitit pickles Python callables into its own folder layout, while a unit here is
already a command line, and a job must be recorded in the manifest *before* it can start, which
``sbatch --hold`` then ``scontrol release`` gives directly. The campaign folder must be on a
filesystem the nodes share; the unit measures energy on its node with NVML exactly as locally.

After the host dies, ``resume`` asks Slurm about each recorded job: a job still pending or
running is adopted and waited on (``live``, then ``run`` with ``job.adopt``), never resubmitted.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from loguru import logger

from llenergymeasure.config.campaign import SlurmConfig
from llenergymeasure.dispatch.base import JobOutcome, UnitJob, Watchdog
from llenergymeasure.dispatch.interpreters import python_for
from llenergymeasure.dispatch.local import ENTRYPOINT, RUN_ENV, exp_command
from llenergymeasure.errors import ExecutorError

HANDLE = "slurm:"
SCRIPT = '#!/bin/sh\n# written by llem: runs its arguments as they are, no shell parsing\nexec "$@"\n'
LIVE_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


@dataclass(frozen=True)
class JobState:
    """What Slurm says about a job: its state, exit code, and energy if accounting measured it."""

    state: str
    exit_code: int | None = None
    consumed_energy_j: float | None = None


def job_id(handle: str | None) -> str | None:
    """The Slurm job id of a manifest handle ``slurm:123``."""
    return handle[len(HANDLE) :] if handle and handle.startswith(HANDLE) else None


def time_limit(cfg: SlurmConfig, unit_timeout_s: float) -> str:
    """The sbatch --time: the configured one, else the unit timeout in whole minutes (at least 1)."""
    return cfg.time_limit or str(max(1, math.ceil(unit_timeout_s / 60)))


def sbatch_argv(cfg: SlurmConfig, job: UnitJob, n_gpus: int, script: Path, command: Sequence[str]) -> list[str]:
    """The ``sbatch`` command line for one unit, held until its job id is in the manifest."""
    argv = ["sbatch", "--parsable", "--hold", f"--job-name=llem-{job.key}", f"--output={job.log_file}"]
    argv += ["--open-mode=append", f"--chdir={job.campaign_dir}", f"--time={time_limit(cfg, job.timeout_s)}"]
    argv += ["--ntasks=1", "--export=ALL"]
    if cfg.partition:
        argv.append(f"--partition={cfg.partition}")
    if cfg.account:
        argv.append(f"--account={cfg.account}")
    gpus = cfg.gpus_per_unit if cfg.gpus_per_unit is not None else n_gpus
    if gpus:
        argv.append(f"--gres=gpu:{gpus}")
    if cfg.exclusive:
        argv.append("--exclusive")
    return [*argv, *cfg.extra_args, str(script), *command]


def parse_job_state(scontrol_line: str) -> JobState | None:
    """State and exit code from one ``scontrol show job -o`` line."""
    fields = dict(f.split("=", 1) for f in scontrol_line.split() if "=" in f)
    state = fields.get("JobState")
    if state is None:
        return None
    code = fields.get("ExitCode", "")
    exit_code = int(code.split(":")[0]) if code.split(":")[0].isdigit() else None
    return JobState(state, exit_code)


def parse_sacct(text: str) -> JobState | None:
    """State, exit code and ConsumedEnergyRaw (J) from ``sacct -n -P -X -o State,ExitCode,ConsumedEnergyRaw``."""
    for line in text.strip().splitlines():
        parts = line.split("|")
        if len(parts) < 3:
            continue
        state = parts[0].split()[0] if parts[0] else ""
        code = parts[1].split(":")[0]
        energy = parts[2].strip()
        return JobState(
            state,
            int(code) if code.isdigit() else None,
            float(energy) if energy and energy.replace(".", "", 1).isdigit() and float(energy) > 0 else None,
        )
    return None


class SlurmExecutor:
    """Submits each unit as an ``sbatch`` job and follows it to its end through ``scontrol``/``sacct``."""

    name = "slurm"

    def __init__(self, cfg: SlurmConfig, run: Run = _run, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.max_in_flight = cfg.max_jobs  # Slurm places units; the host only bounds how many are queued
        self.run_cmd = run
        self.clock = clock

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Submit held, record the job id, release it, and wait for it to end; an adopted job is only waited on."""
        jid = job_id(job.adopt)
        if jid is None:
            jid = self._submit(job)
            on_started(f"{HANDLE}{jid}")  # in the manifest before the job can start
            try:
                self._check(["scontrol", "release", jid], f"cannot release job {jid}")
            except ExecutorError:
                self.run_cmd(["scancel", jid])  # never leave a held job behind
                raise
        return self._follow(job, jid)

    def _submit(self, job: UnitJob) -> str:
        # The job starts elsewhere, in another directory: every path it is given is absolute.
        job = replace(
            job,
            campaign_dir=job.campaign_dir.resolve(),
            config_file=job.config_file.resolve(),
            log_file=job.log_file.resolve(),
        )
        script = job.campaign_dir / "slurm-unit.sh"
        if not script.exists():
            script.write_text(SCRIPT)
            script.chmod(0o755)
        args = exp_command(job, str(job.config_file), str(job.campaign_dir))
        command = [*self.cfg.container, "llem-exp", *args] if self.cfg.container else [
            python_for(job.backend), "-m", ENTRYPOINT, *args
        ]  # fmt: skip
        argv = sbatch_argv(self.cfg, job, len(job.gpu_uuids) or job.n_gpus, script, command)
        env = {**os.environ, **job.env, "PYTHONUNBUFFERED": "1", RUN_ENV: job.run_id}
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
        except OSError as exc:
            raise ExecutorError(f"cannot run sbatch ({exc}); is Slurm installed on this host?") from None
        if proc.returncode != 0:
            raise ExecutorError(f"sbatch refused {job.key}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout.strip().split(";")[0]

    def _check(self, argv: list[str], what: str) -> str:
        proc = self.run_cmd(argv)
        if proc.returncode != 0:
            raise ExecutorError(f"{what}: {proc.stderr.strip()}")
        return proc.stdout

    def state(self, jid: str) -> JobState | None:
        """What Slurm knows of job ``jid`` (None: forgotten; with accounting, ``sacct`` still knows it)."""
        proc = self.run_cmd(["scontrol", "show", "job", "-o", jid])
        found = parse_job_state(proc.stdout) if proc.returncode == 0 else None
        if found is not None and found.state in LIVE_STATES:
            return found
        acct = self.run_cmd(["sacct", "-j", jid, "-n", "-P", "-X", "-o", "State,ExitCode,ConsumedEnergyRaw"])
        from_acct = parse_sacct(acct.stdout) if acct.returncode == 0 else None
        return from_acct or found

    def _follow(self, job: UnitJob, jid: str) -> JobOutcome:
        """Poll until the job ends; the unit and idle timeouts count from when it starts running, not from the queue."""
        dog: Watchdog | None = None
        size = -1
        while True:
            st = self.state(jid)
            if st is None:
                return JobOutcome(exit_code=None, message=f"Slurm job {jid} is unknown to Slurm")
            if st.state not in LIVE_STATES:
                return self._ended(jid, st)
            now = self.clock()
            if st.state == "RUNNING":
                dog = dog or Watchdog(job.timeout_s, job.idle_timeout_s, now)
                grown = job.log_file.stat().st_size if job.log_file.exists() else 0
                if grown != size:
                    size = grown
                    dog.poke(now)
            stopped = "interrupted" if job.cancelled() else (dog.expired(now) if dog is not None else None)
            if stopped:
                logger.warning("unit {} {}; cancelling Slurm job {}", job.key, stopped, jid)
                self.run_cmd(["scancel", jid])
                return JobOutcome(exit_code=-9, stopped=stopped)
            time.sleep(self.cfg.poll_s)

    def _ended(self, jid: str, st: JobState) -> JobOutcome:
        if st.state == "COMPLETED" and st.exit_code == 0:
            return JobOutcome(exit_code=0, scheduler_energy_j=st.consumed_energy_j)
        return JobOutcome(
            exit_code=st.exit_code if st.exit_code else 1,
            message=f"Slurm job {jid} ended {st.state} (exit code {st.exit_code})",
            scheduler_energy_j=st.consumed_energy_j,
        )

    def live(self, handles: list[str]) -> set[str]:
        """The handles whose jobs are still pending or running: ``resume`` waits on these, never resubmits them."""
        out = set()
        for h in handles:
            jid = job_id(h)
            st = self.state(jid) if jid else None
            if st is not None and st.state in LIVE_STATES:
                out.add(h)
        return out

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str], run_id: str) -> list[str]:
        """Nothing to stop: live jobs are adopted (``live``), ended ones are settled from their result files."""
        return []

    def close(self) -> None:
        """Nothing runs on the host."""


def job_states(ids: list[str], run: Run = _run) -> dict[str, str]:
    """Slurm's state of each job (``PENDING``, ``RUNNING``, ``COMPLETED``, ...); jobs Slurm forgot are left out."""
    executor = SlurmExecutor(SlurmConfig(), run)
    out: dict[str, str] = {}
    for jid in ids:
        try:
            st = executor.state(jid)
        except (OSError, subprocess.SubprocessError):
            return out  # no Slurm on this machine: the table shows job ids only
        if st is not None:
            out[jid] = st.state
    return out
