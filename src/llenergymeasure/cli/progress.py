"""A progress bar fed by campaign events (shared by `up` and `resume`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from llenergymeasure.campaign.events import Event, EventSink


@contextmanager
def progress_events(total: int, done: int) -> Iterator[EventSink]:
    """Yield an event sink that advances a bar and logs each unit's outcome."""
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
        if event.kind == "unit_started" and e is not None:
            bar.update(task, description=f"{e.key} (cycle {e.cycle})")
        elif event.kind == "unit_finished" and e is not None:
            bar.advance(task)
            if e.status == "completed":
                logger.info("{} completed -> {}", e.key, e.result_file)
            else:
                logger.error("{} failed: {}: {}", e.key, e.error_type, e.error_message)
        elif event.kind == "adopted" and e is not None:
            bar.advance(task)
            logger.info("{} {}", e.key, event.message)
        elif event.kind == "lost" and e is not None:
            bar.advance(task, -1)
            logger.warning("{} {}", e.key, event.message)
        elif event.message:
            logger.info(event.message)

    with bar:
        yield sink
