"""Progress notices the campaign operations send to the CLI; the library itself never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llenergymeasure.campaign.manifest import ManifestEntry


@dataclass(frozen=True)
class Event:
    """Progress notice for the CLI to render; the library itself never prints."""

    # created | unit_started | unit_finished | gap | orphans | adopted | following | lost | disowned | strays
    # | rebuilt | note
    kind: str
    entry: ManifestEntry | None = None
    message: str = ""


EventSink = Callable[[Event], None]


def noop(_: Event) -> None:
    """Default event sink."""
