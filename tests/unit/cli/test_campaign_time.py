"""What `llem campaign plan` and `status` say about time: the estimate from earlier runs, unit times, the total."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from llenergymeasure.campaign.api import plan_campaign
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.cli.campaign_plan import plan
from llenergymeasure.cli.campaign_status import status

CAMPAIGN = """
name: timed
model: llem/tiny-gpt2
backend: pytorch
sweep:
  pytorch.batch_size: [1, 2]
execution: {n_cycles: 2, cycle_order: interleaved, config_gap_seconds: 30, cycle_gap_seconds: 180}
"""


def at(hms: str) -> str:
    return f"2025-01-02T{hms}+00:00"


def earlier_campaign(campaign_file: Path, folder: Path, times: dict[str, tuple[str, str]]) -> None:
    """A finished campaign of the same file under ``folder``, units started and ended at ``times``."""
    _, p = plan_campaign(campaign_file)
    entries = [
        ManifestEntry(
            key=u.key,
            exp_id=u.experiment.exp_id,
            config_hash=u.experiment.config_hash,
            backend="pytorch",
            service="pytorch",
            cycle=u.cycle,
            status="completed" if u.key in times else "pending",
            config_file=f"configs/{u.experiment.exp_id}.yaml",
            started_at=times[u.key][0] if u.key in times else None,
            completed_at=times[u.key][1] if u.key in times else None,
        )
        for u in p.units
    ]
    folder.mkdir(parents=True)
    manifest = CampaignManifest(
        campaign="timed", design_hash=p.config.campaign_design_hash, llem_version="0", entries=entries
    )
    ManifestStore(folder / "manifest.json", manifest).save()


def plan_lines(tmp_path: Path) -> list[str]:
    args = [str(tmp_path / "c.yaml"), "--executor", "local", "--results-dir", str(tmp_path / "results")]
    result = CliRunner().invoke(plan, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_plan_without_earlier_runs_says_the_duration_is_unknown_and_what_the_gaps_add(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CAMPAIGN)
    # interleaved: exp001_c1, exp002_c1, exp001_c2, exp002_c2: 30 s + 3 min (the cycle gap, the larger) + 30 s
    assert plan_lines(tmp_path)[-1] == "duration: unknown (no earlier run of these configs); gaps alone add 4 min 00 s"


def test_plan_estimates_from_an_earlier_campaign_of_the_same_configs(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CAMPAIGN)
    times = {"exp001_c1": (at("12:00:00"), at("12:10:00")), "exp002_c1": (at("12:10:30"), at("12:30:30"))}
    earlier_campaign(tmp_path / "c.yaml", tmp_path / "results" / "timed_1", times)
    # exp001 10 min, exp002 20 min, each twice, and 4 min of gaps
    assert plan_lines(tmp_path)[-1] == (
        "duration: about 1 h 04 min (unit times from earlier runs of these configs; gaps add 4 min 00 s)"
    )


def test_status_shows_each_units_start_end_and_duration_and_the_totals(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CAMPAIGN)
    times = {"exp001_c1": (at("12:00:00"), at("12:10:00")), "exp002_c1": (at("12:10:30"), at("12:30:35"))}
    earlier_campaign(tmp_path / "c.yaml", tmp_path / "timed_1", times)
    result = CliRunner().invoke(status, [str(tmp_path / "timed_1")], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split(line[0])[1:-1]] for line in result.stdout.splitlines() if line[:1] in "┃│"]
    assert [r[:8] for r in rows] == [
        ["unit", "backend", "cycle", "status", "retries", "start (UTC)", "end (UTC)", "duration"],
        ["exp001_c1", "pytorch", "1", "completed", "0", "2025-01-02 12:00:00", "12:10:00", "10 min 00 s"],
        ["exp002_c1", "pytorch", "1", "completed", "0", "2025-01-02 12:10:30", "12:30:35", "20 min 05 s"],
        ["exp001_c2", "pytorch", "2", "pending", "0", "", "", ""],
        ["exp002_c2", "pytorch", "2", "pending", "0", "", "", ""],
    ]
    assert result.stdout.splitlines()[-1] == (
        "4 units: 2 completed, 2 pending; wall 30 min 35 s (first start to last end), units 30 min 05 s (summed);"
        f" campaign directory: {tmp_path / 'timed_1'}"
    )
