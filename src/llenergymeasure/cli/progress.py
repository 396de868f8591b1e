"""A progress bar fed by campaign events (shared by `up` and `resume`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
def progress_events(total: int, done: int, root: Path | None = None) -> Iterator[EventSink]:
    """Yield an event sink that advances a bar and logs each unit's outcome.

    ``root``: the campaign folder (``up`` learns it from the ``created`` event). Ctrl-C inside
    becomes ``Interrupted``, naming it.
    """
    campaign = [root]
    err = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=err,  # stdout stays clean for --json
        disable=not err.is_terminal,  # no bar (and no stray blank line) in logs and pipes
    )
    task = bar.add_task("campaign", total=total, completed=done)

    def sink(event: Event) -> None:
        e = event.entry
        if event.kind == "created":
            campaign[0] = Path(event.message)
        if event.kind == "unit_started" and e is not None:
            bar.update(task, description=f"{e.key} (cycle {e.cycle})")
        elif event.kind == "unit_finished" and e is not None:
            bar.advance(task)
            if e.status == "completed":
                logger.info("{} completed -> {}", e.key, e.result_file)
            else:
                log = f" (its output: {unit_log(campaign[0], e.result_file)})" if campaign[0] else ""
                logger.error("{} failed: {}: {}{}", e.key, e.error_type, e.error_message, log)
        elif event.kind == "adopted" and e is not None:
            bar.advance(task)
            logger.info("{} {}", e.key, event.message)
        elif event.kind == "lost" and e is not None:
            bar.advance(task, -1)
            logger.warning("{} {}", e.key, event.message)
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
