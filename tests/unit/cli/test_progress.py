"""The progress sink shared by `up` and `resume`: what each campaign event logs (no bar off a terminal)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger

from llenergymeasure.campaign.eta import Countdown, Gaps, Step
from llenergymeasure.campaign.events import Event
from llenergymeasure.campaign.manifest import ManifestEntry
from llenergymeasure.cli.progress import progress_events


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Log lines through this sink only: a `cli` invocation earlier in the worker leaves its stderr sink behind."""
    logger.remove()
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.rstrip("\n")), format="{level} {message}", level="DEBUG")
    yield lines
    logger.remove(sink)


def entry(key: str, **over: object) -> ManifestEntry:
    data: dict[str, object] = {
        "key": key,
        "exp_id": key.split("_")[0],
        "config_hash": "0" * 16,
        "backend": "pytorch",
        "service": "pytorch",
        "cycle": 1,
        "config_file": f"configs/{key}.yaml",
    }
    return ManifestEntry.model_validate(data | over)


def test_each_event_is_logged_once_with_its_outcome(logged: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    order = [Step(k, k.split("_")[0], 1) for k in ("exp001_c1", "exp002_c1", "exp003_c1")]
    with progress_events(Countdown(order)) as sink:
        sink(Event("created", message="res/c_1"))
        sink(Event("unit_started", entry("exp001_c1", status="running")))
        sink(Event("unit_finished", entry("exp001_c1", status="completed", result_file="r1.json")))
        failed = entry(
            "exp002_c1", status="failed", error_type="ExitCode", error_message="exit 1", result_file="r2.json"
        )
        sink(Event("unit_finished", failed))
        sink(Event("adopted", entry("exp003_c1"), "finished before the crash; result kept"))
        sink(Event("lost", entry("exp001_c1"), "result vanished; queued again"))
        sink(Event("gap"))  # nothing to say: nothing logged
    assert logged == [
        "INFO res/c_1",
        "INFO [1/3] exp001_c1 started (cycle 1); ETA after the first unit",
        "INFO [1/3] exp001_c1 completed -> r1.json; ETA after the first unit",
        "ERROR [2/3] exp002_c1 failed: ExitCode: exit 1 (its output: res/c_1/logs/r2.log); ETA after the first unit",
        "INFO exp003_c1 finished before the crash; result kept",
        "WARNING exp001_c1 result vanished; queued again",
    ]
    assert capsys.readouterr() == ("", "")  # not a terminal: no bar, not even a blank line


def at(hms: str) -> str:
    return f"2025-01-02T{hms}+00:00"


def test_a_log_counts_units_and_says_the_eta_from_the_units_finished(logged: list[str]) -> None:
    order = [Step("exp001_c1", "exp001", 1), Step("exp002_c1", "exp002", 1), Step("exp001_c2", "exp001", 2)]
    gaps = Gaps(config_s=30.0, cycle_s=300.0)
    with progress_events(Countdown(order, gaps), terminal=False) as sink:
        sink(Event("unit_started", entry("exp001_c1", status="running", started_at=at("12:00:00"))))
        done = entry("exp001_c1", status="completed", result_file="r1.json")
        sink(
            Event(
                "unit_finished", done.model_copy(update={"started_at": at("12:00:00"), "completed_at": at("12:20:00")})
            )
        )
        sink(Event("gap", message="waiting 30 s before exp002_c1"))
        sink(Event("unit_started", entry("exp002_c1", status="running")))
        two = entry("exp002_c1", status="completed", result_file="r2.json", started_at=at("12:20:30"))
        sink(Event("unit_finished", two.model_copy(update={"completed_at": at("12:30:30")})))
    assert logged == [
        "INFO [1/3] exp001_c1 started (cycle 1); ETA after the first unit",
        # 2 units x 20 min + the gaps before exp002_c1 (30 s) and exp001_c2 (a new cycle: 5 min)
        "INFO [1/3] exp001_c1 completed in 20 min 00 s -> r1.json; ETA 45 min 30 s",
        "INFO waiting 30 s before exp002_c1",
        "INFO [2/3] exp002_c1 started (cycle 1); ETA 45 min 00 s",
        # mean 15 min x 1 unit + the 5 min cycle gap
        "INFO [2/3] exp002_c1 completed in 10 min 00 s -> r2.json; ETA 20 min 00 s",
    ]


def test_on_a_terminal_the_bar_counts_and_the_log_keeps_only_outcomes(logged: list[str]) -> None:
    order = [Step("exp001_c1", "exp001", 1)]
    with progress_events(Countdown(order), terminal=True) as sink:
        sink(Event("unit_started", entry("exp001_c1", status="running")))
        sink(Event("unit_finished", entry("exp001_c1", status="completed", result_file="r1.json")))
    assert logged == ["INFO exp001_c1 completed -> r1.json"]
