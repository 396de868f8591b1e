"""The progress sink shared by `up` and `resume`: what each campaign event logs (no bar off a terminal)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger

from llenergymeasure.campaign.events import Event
from llenergymeasure.campaign.manifest import ManifestEntry
from llenergymeasure.cli.progress import progress_events


@pytest.fixture
def logged() -> Iterator[list[str]]:
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
    with progress_events(total=3, done=0) as sink:
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
        "INFO exp001_c1 completed -> r1.json",
        "ERROR exp002_c1 failed: ExitCode: exit 1 (its output: res/c_1/logs/r2.log)",
        "INFO exp003_c1 finished before the crash; result kept",
        "WARNING exp001_c1 result vanished; queued again",
    ]
    assert capsys.readouterr() == ("", "")  # not a terminal: no bar, not even a blank line
