"""A campaign runs the order its manifest holds: an order that llem now builds differently leaves it alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.ordering import order_units
from llenergymeasure.campaign.schedule import run_pending
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.dispatch.base import Executor, JobOutcome, UnitJob

# What `reverse` gave 3 configs x 4 cycles before pairs started one config further on: 012 210 012 210.
OLD_REVERSE = [(0, 1), (1, 1), (2, 1), (2, 2), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3), (2, 4), (1, 4), (0, 4)]


class OrderExecutor(Executor):
    """Records the order units are started in and ends each at once."""

    name = "local"
    max_in_flight = 1

    def __init__(self) -> None:
        self.started: list[str] = []
        self.lock = threading.Lock()

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        with self.lock:
            self.started.append(job.key)
        return JobOutcome(exit_code=1)

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str], run_id: str) -> list[str]:
        return []

    def close(self) -> None:
        pass


def test_an_older_campaign_resumes_in_the_order_its_manifest_holds(tmp_path: Path) -> None:
    assert order_units(3, 4, "reverse", 0) != OLD_REVERSE  # the order changed since this campaign was planned
    entries = [
        ManifestEntry(
            key=f"exp{e + 1:03d}_c{c}", exp_id=f"exp{e + 1:03d}", config_hash="0" * 16, backend="pytorch",
            service="pytorch", cycle=c, config_file="c.yaml", result_file=f"exp{e + 1:03d}_c{c}.json",
            status="completed" if c == 1 else "pending",
        )
        for e, c in OLD_REVERSE
    ]  # fmt: skip
    layout = CampaignLayout(tmp_path)
    manifest = CampaignManifest(campaign="c", design_hash="d" * 16, llem_version="0", entries=entries)
    store = ManifestStore(layout.manifest, manifest)
    executor = OrderExecutor()
    execution = ExecutionConfig(n_cycles=4, cycle_order="reverse", max_retries=0)
    run_pending(layout, store, executor, execution, "run1", sleep=lambda _: None)
    assert executor.started == [f"exp{e + 1:03d}_c{c}" for e, c in OLD_REVERSE[3:]]
