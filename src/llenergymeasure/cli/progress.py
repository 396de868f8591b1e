"""A progress bar fed by campaign events (shared by `up` and `resume`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from llenergymeasure.campaign.eta import Countdown, duration_s, duration_text
from llenergymeasure.campaign.events import Event, EventSink
from llenergymeasure.cli.render import resume_command


class Interrupted(click.ClickException):
    """Ctrl-C during ``up`` or ``resume``: one line naming the command that finishes the campaign."""

    exit_code = 130


def interrupted(root: Path | None) -> Interrupted:
    """The Ctrl-C line, with the real campaign folder (None: interrupted before it was created)."""
    if root is None:
        return Interrupted("interrupted before the campaign folder was created; nothing to resume")
    return Interrupted(f"interrupted; `{resume_command(root)}` finishes what is left")


@contextmanager
def progress_events(
    countdown: Countdown, root: Path | None = None, terminal: bool | None = None
) -> Iterator[EventSink]:
    """Yield an event sink that advances a bar (with the ETA) and logs each unit's outcome.

    ``countdown``: the units to run, those already done and the times known (``resume``: from the
    manifest). ``root``: the campaign folder (``up`` learns it from the ``created`` event). Ctrl-C
    inside becomes ``Interrupted``, naming it. ``terminal`` (default: whether stderr is one): with
    a bar, the bar shows which unit runs; without one (a log file, a pipe, a batch job) each unit's
    start is logged too, and start and finish lines carry ``[n/N]`` and the ETA, the only progress a
    log has.
    """
    campaign = [root]
    err = Console(stderr=True)
    bar_on = err.is_terminal if terminal is None else terminal
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
        transient=True,
        console=err,  # stdout stays clean for --json
        disable=not bar_on,  # no bar (and no stray blank line) in logs and pipes
    )
    cd = countdown
    task = bar.add_task("campaign", total=cd.total, completed=cd.done, eta=cd.eta_text())

    def counter(n: int) -> str:
        return "" if bar_on else f"[{n}/{cd.total}] "

    def eta() -> str:
        text = cd.eta_text()
        bar.update(task, completed=cd.done, eta=text)
        return f"; {text}" if text and not bar_on else ""

    def sink(event: Event) -> None:
        e = event.entry
        if event.kind == "created":
            campaign[0] = Path(event.message)
        if event.kind == "unit_started" and e is not None:
            n = cd.start(e.key)
            bar.update(task, description=f"{e.key} (cycle {e.cycle})")
            if not bar_on:
                logger.info("{}{} started (cycle {}){}", counter(n), e.key, e.cycle, eta())
        elif event.kind == "unit_finished" and e is not None:
            n = cd.finish(e)
            took = duration_s(e)
            spent = f" in {duration_text(took)}" if took is not None else ""
            if e.status == "completed":
                logger.info("{}{} completed{} -> {}{}", counter(n), e.key, spent, e.result_file, eta())
            else:
                log = f" (its output: {unit_log(campaign[0], e.result_file)})" if campaign[0] else ""
                msg = f"{e.error_type}: {e.error_message}{log}"
                logger.error("{}{} failed: {}{}", counter(n), e.key, msg, eta())
        elif event.kind == "adopted" and e is not None:
            cd.finish(e)
            logger.info("{} {}", e.key, event.message)
            eta()
        elif event.kind == "lost" and e is not None:
            cd.reopen(e.key)
            logger.warning("{} {}", e.key, event.message)
            eta()
        elif event.message:
            logger.info(event.message)

    try:
        with bar:
            yield sink
    except KeyboardInterrupt:
        raise interrupted(campaign[0]) from None


def unit_log(root: Path, result_file: str | None) -> Path:
    """The log file of the unit whose result would be ``result_file`` (engine output included)."""
    return root / "logs" / f"{(result_file or '').removesuffix('.json')}.log"
