"""Slurm executor: each unit is one ``sbatch`` job running ``llem-exp`` on a compute node.

Submitted with argument lists, never shell strings: the batch script is a fixed two-line file in
the campaign folder (``exec "$@"``) and the unit's command is its arguments. ``sbatch`` rather than
submitit: submitit pickles Python callables into its own folder layout, while a unit here is
already a command line, and a job must be recorded in the manifest *before* it can start, which
``sbatch --hold`` then ``scontrol release`` gives directly. The campaign folder must be on a
filesystem the nodes share; the unit measures energy on its node with NVML exactly as locally.

Exactly once, whatever fails:

- The job is submitted held; its id is written to the manifest *durably* (fsync) before it is
  released. If that write fails, the job is cancelled and the unit fails: a job never runs
  unrecorded.
- A controller that does not answer (an error, a timeout) means "unknown, ask again", for up to
  ``patience_s``; only Slurm's own answer ends a job. After that the host stops waiting but
  never cancels: the job is left to Slurm and ``resume`` asks again (``live``).
- Job names are ``llem.<run id>.<unit>`` and jobs run in the campaign folder, so ``resume``
  finds jobs a host submitted but died before recording (``strays``): held ones are cancelled.
  An ``sbatch`` that times out may still have queued its job: it is looked up by that name and
  cancelled at once.
- A followed job (its id recorded) seen held by the user is released, on whichever poll sees it:
  an adopted job whose host died between recording and release waits for no lucky first answer.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from loguru import logger

from llenergymeasure.atomic import write_atomic
from llenergymeasure.config.campaign import SlurmConfig
from llenergymeasure.config.loader import read_unit_config
from llenergymeasure.dispatch.base import Executor, JobOutcome, RecordError, Stray, UnitJob, Watchdog, supervise
from llenergymeasure.dispatch.interpreters import python_for
from llenergymeasure.dispatch.local import ENTRYPOINT, exp_command
from llenergymeasure.dispatch.processes import COMMANDS, RUN_ENV, Answer, Commands
from llenergymeasure.errors import ExecutorError
from llenergymeasure.experiment import gpunode

HANDLE = "slurm:"
JOB_PREFIX = "llem."  # job names: llem.<run id>.<unit key>
SCRIPT = '#!/bin/sh\n# written by llem: runs its arguments as they are, no shell parsing\nexec "$@"\n'
# Every state Slurm may still run or resume a job from. STOPPED (SIGSTOP), REQUEUE_HOLD and
# SPECIAL_EXIT (requeued and held), SIGNALING and STAGE_OUT (ending, not ended) included.
LIVE_STATES = frozenset(
    {
        "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "STOPPED",
        "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD",
    }
)  # fmt: skip
UNKNOWN = "UNKNOWN"  # not a Slurm state: the controller did not answer
FORGOTTEN = "FORGOTTEN"  # not a Slurm state: Slurm answered that it no longer knows the job
HELD_BY_USER = "JobHeldUser"


@dataclass(frozen=True)
class JobState:
    """What Slurm says about a job: its state, exit code, why it waits, and energy if accounting measured it."""

    state: str
    exit_code: int | None = None
    consumed_energy_j: float | None = None
    reason: str = ""
    detail: str = ""  # for UNKNOWN: what the controller said instead

    @property
    def live(self) -> bool:
        """Slurm may still run it (or has not said it won't)."""
        return self.state in LIVE_STATES or self.state == UNKNOWN


def job_id(handle: str | None) -> str | None:
    """The Slurm job id of a manifest handle ``slurm:123``."""
    return handle[len(HANDLE) :] if handle and handle.startswith(HANDLE) else None


def sets_gpu(config_file: Path) -> bool:
    """Whether the unit's config asks for GPU settings (gpu.*): its job then runs under the node wrapper."""
    config = read_unit_config(config_file)  # None: llem-exp reports an unreadable config itself
    return config is not None and not config.gpu.is_empty()


def job_name(job: UnitJob) -> str:
    """``llem.<run id>.<unit key>``: which run submitted the job, for which unit."""
    return f"{JOB_PREFIX}{job.run_id}.{job.key}"


def unit_of(name: str) -> str | None:
    """The unit key in a job name ``llem.<run id>.<unit key>``; None for another job's name."""
    if not name.startswith(JOB_PREFIX):
        return None
    parts = name[len(JOB_PREFIX) :].split(".", 1)
    return parts[1] if len(parts) == 2 and parts[1] else None


def time_limit(cfg: SlurmConfig, unit_timeout_s: float) -> str:
    """The sbatch --time: the configured one, else the unit timeout in whole minutes (at least 1)."""
    return cfg.time_limit or str(max(1, math.ceil(unit_timeout_s / 60)))


def gpus_asked(cfg: SlurmConfig, n_gpus: int) -> int:
    """GPUs per job: ``gpus_per_unit`` when set, else the unit's slot size."""
    return cfg.gpus_per_unit if cfg.gpus_per_unit is not None else n_gpus


def sbatch_argv(cfg: SlurmConfig, job: UnitJob, n_gpus: int, script: Path, command: Sequence[str]) -> list[str]:
    """The ``sbatch`` command line for one unit, held until its job id is in the manifest.

    ``--no-requeue``: a job whose node failed is an attempt that counts against ``max_retries``,
    never silently run again by Slurm. ``--exclusive`` unless ``share_nodes``: a unit measures
    energy, and another job on its node would be counted in it.
    """
    argv = ["sbatch", "--parsable", "--hold", "--no-requeue", f"--job-name={job_name(job)}"]
    argv += [f"--output={job.log_file}", "--open-mode=append", f"--chdir={job.campaign_dir}"]
    argv += [f"--time={time_limit(cfg, job.timeout_s)}", "--ntasks=1", "--export=ALL"]
    if cfg.partition:
        argv.append(f"--partition={cfg.partition}")
    if cfg.account:
        argv.append(f"--account={cfg.account}")
    gpus = gpus_asked(cfg, n_gpus)
    if gpus:
        argv.append(f"--gres=gpu:{gpus}")
    if cfg.exclusive or not cfg.share_nodes:
        argv.append("--exclusive")
    return [*argv, *cfg.extra_args, str(script), *command]


def parse_job_state(scontrol_line: str) -> JobState | None:
    """State, exit code and reason from one ``scontrol show job -o`` line."""
    fields = dict(f.split("=", 1) for f in scontrol_line.split() if "=" in f)
    state = fields.get("JobState")
    if state is None:
        return None
    code = fields.get("ExitCode", "")
    exit_code = int(code.split(":")[0]) if code.split(":")[0].isdigit() else None
    return JobState(state, exit_code, reason=fields.get("Reason", ""))


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


def forgotten(answer: Answer) -> bool:
    """``scontrol`` answered that it does not know the job (as opposed to not answering)."""
    return not answer.timed_out and answer.returncode != 0 and "Invalid job id" in answer.stderr


def no_accounting(answer: Answer) -> bool:
    """``sacct`` answered that this cluster keeps no accounting (a lasting fact, not a hiccup)."""
    return "accounting storage is disabled" in (answer.stdout + answer.stderr)


class SlurmExecutor(Executor):
    """Submits each unit as an ``sbatch`` job and follows it to its end through ``scontrol``/``sacct``."""

    name = "slurm"

    def __init__(
        self,
        cfg: SlurmConfig,
        commands: Commands = COMMANDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cfg = cfg
        self.max_in_flight = cfg.max_jobs  # Slurm places units; the host only bounds how many are queued
        self.on_nodes = True  # each job sets and puts back its unit's gpu.* on its node (experiment.gpunode)
        self.commands = commands
        self.clock = clock
        self.sleep = sleep

    def _ask(self, argv: Sequence[str], env: dict[str, str] | None = None) -> Answer:
        try:
            return self.commands.run(argv, self.cfg.command_timeout_s, env)
        except OSError as exc:
            raise ExecutorError(f"cannot run {argv[0]} ({exc}); is Slurm installed on this host?") from None

    def job_id(self, handle: str) -> str | None:
        """The Slurm job id of ``slurm:ID``."""
        return job_id(handle)

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Submit held, record the job id durably, release it, and follow it (a held adopted job is released there)."""
        jid = job_id(job.adopt)
        if jid is None:
            jid = self._submit(job)
            try:
                on_started(f"{HANDLE}{jid}")  # durable before the job can start
            except RecordError as exc:
                self._cancel(jid)
                return JobOutcome(
                    exit_code=None,
                    stopped="launch",
                    message=f"Slurm job {jid} cancelled before it ran: its id could not be recorded ({exc})",
                )
            if not self._release(jid):
                return JobOutcome(
                    exit_code=None, stopped="launch", message=f"Slurm job {jid} cancelled: it could not be released"
                )
        return self._follow(job, jid)

    def _release(self, jid: str) -> bool:
        """``scontrol release``, asked again while the controller does not answer; cancelled when it never does."""
        deadline = self.clock() + self.cfg.patience_s
        while True:
            answer = self._ask(["scontrol", "release", jid])
            if answer.ok:
                return True
            if self.clock() >= deadline or forgotten(answer):
                logger.warning("cannot release Slurm job {} ({}); cancelling it", jid, answer.stderr.strip())
                self._cancel(jid)
                return False
            self.sleep(self.cfg.poll_s)

    def _cancel(self, jid: str) -> None:
        """``scancel``, asked again while the controller does not answer (up to ``patience_s``)."""
        deadline = self.clock() + self.cfg.patience_s
        while True:
            answer = self._ask(["scancel", jid])
            if answer.ok or forgotten(answer) or self.clock() >= deadline:
                if not answer.ok:
                    logger.warning("scancel {}: {}", jid, answer.stderr.strip())
                return
            self.sleep(self.cfg.poll_s)

    def _submit(self, job: UnitJob) -> str:
        # The job starts elsewhere, in another directory: every path it is given is absolute.
        job = replace(
            job,
            campaign_dir=job.campaign_dir.resolve(),
            config_file=job.config_file.resolve(),
            log_file=job.log_file.resolve(),
        )
        script = job.campaign_dir / "slurm-unit.sh"
        if not script.exists() or script.read_text() != SCRIPT:
            write_atomic(script, SCRIPT.encode())  # several submit threads may write it at once
            script.chmod(0o755)
        args = exp_command(job, str(job.config_file), str(job.campaign_dir))
        command = [*self.cfg.container, "llem-exp", *args] if self.cfg.container else [
            python_for(job.backend), "-m", ENTRYPOINT, *args
        ]  # fmt: skip
        if sets_gpu(job.config_file):  # the node sets gpu.* around the unit and puts it back (experiment.gpunode)
            inner = command[len(self.cfg.container) :]  # the unit's own command, inside any container
            python = "python" if self.cfg.container else python_for(job.backend)
            wrapper = gpunode.command(str(job.campaign_dir), job.key, str(job.config_file), inner, python)
            command = [*self.cfg.container, *wrapper]
        argv = sbatch_argv(self.cfg, job, len(job.gpu_uuids) or job.n_gpus, script, command)
        env = {**os.environ, **job.env, "PYTHONUNBUFFERED": "1", RUN_ENV: job.run_id}
        answer = self._ask(argv, env)
        if answer.timed_out:
            # It may have been queued, held and unrecorded: found by its name and cancelled now, not at `resume`.
            said = self._cancel_named(job_name(job), job.campaign_dir)
            raise ExecutorError(f"sbatch gave no answer for {job.key} within {self.cfg.command_timeout_s:g} s; {said}")
        if answer.returncode != 0:
            raise ExecutorError(f"sbatch refused {job.key}: {answer.stderr.strip() or answer.stdout.strip()}")
        return answer.stdout.strip().split(";")[0]

    def _cancel_named(self, name: str, campaign_dir: Path) -> str:
        """Cancel the queued jobs named ``name`` that run in ``campaign_dir``; says what was done, for the error."""
        try:
            answer = self._squeue(["squeue", "--me", "--name", name, "-h", "-o", "%i|%Z"])
        except ExecutorError as exc:
            return f"{exc}; `llem campaign resume {campaign_dir}` cancels it if it was queued"
        rows = (line.partition("|") for line in answer.stdout.splitlines())
        ids = [jid for jid, _, workdir in rows if workdir.rstrip("/") == str(campaign_dir)]
        for jid in ids:
            self._cancel(jid)
        if not ids:
            return f"no job named {name} was queued"
        return f"cancelled job {', '.join(ids)} it queued (found by its name {name})"

    def _squeue(self, argv: Sequence[str]) -> Answer:
        """``squeue``'s answer, asked again while it gives none (up to ``patience_s``); then ExecutorError."""
        deadline = self.clock() + self.cfg.patience_s
        while True:
            answer = self._ask(argv)
            if answer.ok:
                return answer
            if self.clock() >= deadline:
                raise ExecutorError(f"squeue gave no answer ({answer.stderr.strip()})")
            self.sleep(self.cfg.poll_s)

    def state(self, jid: str) -> JobState:
        """What Slurm knows of job ``jid``: a state, FORGOTTEN (it says it forgot it), or UNKNOWN (no answer)."""
        shown = self._ask(["scontrol", "show", "job", "-o", jid])
        found = parse_job_state(shown.stdout) if shown.ok else None
        if found is not None and found.state in LIVE_STATES:
            return found
        acct = self._ask(["sacct", "-j", jid, "-n", "-P", "-X", "-o", "State,ExitCode,ConsumedEnergyRaw"])
        from_acct = parse_sacct(acct.stdout) if acct.ok else None
        if from_acct is not None:
            return from_acct
        if found is not None:
            return found  # ended, as scontrol says; no accounting to add energy
        if forgotten(shown) and (no_accounting(acct) or acct.ok):
            return JobState(FORGOTTEN)
        said = shown.stderr.strip() or acct.stderr.strip() or "no answer"
        return JobState(UNKNOWN, detail=said)

    def _follow(self, job: UnitJob, jid: str) -> JobOutcome:
        """Poll until the job ends; the unit and idle timeouts count from when it starts running, not from the queue.

        Slurm not answering is "unknown, ask again", for up to ``patience_s`` in a row; then the
        host stops waiting without cancelling: the unit fails with its job still named, and
        ``resume`` asks Slurm about it before any retry.
        """
        dog = Watchdog(job.timeout_s, job.idle_timeout_s, None)
        size = -1
        unknown_since: float | None = None

        def poll() -> JobOutcome | None:
            nonlocal size, unknown_since
            st = self.state(jid)
            now = self.clock()
            if st.state == UNKNOWN:
                if unknown_since is None:
                    unknown_since = now
                    logger.warning("Slurm gave no answer about job {} ({}); asking again", jid, st.detail)
                if now - unknown_since >= self.cfg.patience_s:
                    return JobOutcome(
                        exit_code=None,
                        message=(
                            f"Slurm gave no answer about job {jid} for {self.cfg.patience_s:g} s ({st.detail}); "
                            f"the job is left to Slurm and `llem campaign resume {job.campaign_dir}` asks about it "
                            "again"
                        ),
                    )
                return None
            unknown_since = None
            if st.state == FORGOTTEN:
                return JobOutcome(exit_code=None, message=f"Slurm job {jid} ended and Slurm no longer knows how")
            if not st.live:
                return self._ended(jid, st)
            if st.state == "PENDING" and st.reason == HELD_BY_USER:
                # Recorded before it was ever released (the host died in between, or this is that
                # host's job adopted by `resume`): a hold nobody lifts would be followed for ever.
                logger.info("unit {}: job {} is held; releasing it", job.key, jid)
                self._release(jid)  # cancelled when it never can be: the next poll sees it ended
                return None
            if st.state == "RUNNING":
                dog.start(now)
                grown = job.log_file.stat().st_size if job.log_file.exists() else 0
                if grown != size:
                    size = grown
                    dog.poke(now)
            return None

        def stop() -> int:
            logger.warning("cancelling Slurm job {} of unit {}", jid, job.key)
            self._cancel(jid)
            return -9

        return supervise(job, dog, poll, stop, self.sleep, self.cfg.poll_s, self.clock)

    def _ended(self, jid: str, st: JobState) -> JobOutcome:
        if st.state == "COMPLETED" and st.exit_code == 0:
            return JobOutcome(exit_code=0, scheduler_energy_j=st.consumed_energy_j)
        return JobOutcome(
            exit_code=st.exit_code if st.exit_code else 1,
            message=f"Slurm job {jid} ended {st.state} (exit code {st.exit_code})",
            scheduler_energy_j=st.consumed_energy_j,
        )

    def live(self, handles: Sequence[str]) -> set[str]:
        """Handles whose jobs Slurm may still run (or gave no answer about): waited on, never resubmitted."""
        return {h for h in handles if (jid := job_id(h)) and self.state(jid).live}

    def strays(self, campaign_dir: Path, recorded: set[str]) -> list[Stray]:
        """Queued jobs of this campaign (by name and folder) whose ids no manifest entry records.

        ``squeue`` not answering is asked again up to ``patience_s``; then it is an ExecutorError:
        ``resume`` must not run units while a stray may still be queued.
        """
        try:
            answer = self._squeue(["squeue", "--me", "-h", "-o", "%i|%j|%T|%r|%Z"])
        except ExecutorError as exc:
            raise ExecutorError(f"{exc}; cannot look for stray jobs") from None
        root = str(campaign_dir.resolve())
        out = []
        for line in answer.stdout.splitlines():
            parts = line.split("|")
            if len(parts) != 5:
                continue
            jid, name, state, reason, workdir = parts
            key = unit_of(name)
            if key is None or workdir.rstrip("/") != root or jid in recorded:
                continue
            out.append(Stray(key, f"{HANDLE}{jid}", held=state == "PENDING" and reason == HELD_BY_USER))
        return out

    def cancel(self, handles: Sequence[str]) -> None:
        """Cancel the jobs ``handles`` name."""
        for h in handles:
            if (jid := job_id(h)) is not None:
                self._cancel(jid)

    def partition_problem(self, n_gpus: int) -> str | None:
        """Refuse, before anything is submitted, a GPU request on a partition without GPUs (asked through ``sinfo``)."""
        gpus = gpus_asked(self.cfg, n_gpus)
        if not gpus:
            return None
        answer = self._ask(["sinfo", "-h", "-o", "%P|%G"])
        if not answer.ok:
            return f"Slurm: cannot ask the partitions' GPUs (sinfo: {answer.stderr.strip() or 'no answer'})"
        gres: dict[str, list[str]] = {}
        default = None
        for line in answer.stdout.splitlines():
            if "|" not in line:
                continue
            part, res = line.split("|", 1)
            if part.endswith("*"):
                part = part[:-1]
                default = part
            gres.setdefault(part, []).append(res)
        partition = self.cfg.partition or default
        if partition is None or partition not in gres:
            return f"Slurm: no partition {partition!r} (sinfo lists {', '.join(sorted(gres)) or 'none'})"
        if any("gpu" in r for r in gres[partition]):
            return None
        return (
            f"Slurm partition {partition} has no GPUs (GRES {', '.join(sorted(set(gres[partition])))}) but each unit "
            f"asks for {gpus}; set `execution.slurm.gpus_per_unit: 0` in the campaign file to run without GPUs, "
            "or choose a GPU partition with --slurm-partition"
        )


def job_states(ids: list[str], commands: Commands = COMMANDS) -> dict[str, str]:
    """Slurm's state of each job (``PENDING``, ``RUNNING``, ``COMPLETED``, ...); jobs Slurm forgot are left out."""
    executor = SlurmExecutor(SlurmConfig(command_timeout_s=10), commands)
    out: dict[str, str] = {}
    for jid in ids:
        try:
            st = executor.state(jid)
        except ExecutorError:
            return out  # no Slurm on this machine: the table shows job ids only
        if st.state not in (UNKNOWN, FORGOTTEN):
            out[jid] = st.state
    return out
