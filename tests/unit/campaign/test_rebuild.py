"""An empty or torn manifest is rebuilt from campaign.resolved.json and the result files (issue 22, item 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llenergymeasure.campaign.api import status
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.loader import load_campaign
from llenergymeasure.campaign.plan import build_plan
from llenergymeasure.campaign.prepare import prepare_campaign
from llenergymeasure.campaign.rebuild import load_manifest, manifest_problem, rebuilt_manifest
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.errors import ManifestError
from tests.unit.campaign.test_reconcile import FINISHED, result_doc

CAMPAIGN = """
name: torn
model: llem/tiny-llama
backend: pytorch
n_prompts: 2
sweep:
  max_output_tokens: [4, 8]
execution:
  n_cycles: 2
  cycle_order: shuffled
"""


def made_campaign(
    tmp_path: Path, executor: str = "local", gpus: str | None = None
) -> tuple[CampaignLayout, ManifestStore]:
    """A campaign folder as `up` makes it (configs, snapshot, pending manifest), lock released."""
    src = tmp_path / "c.yaml"
    src.write_text(CAMPAIGN)
    plan = build_plan(load_campaign(src).config)
    layout, store, lock = prepare_campaign(plan, tmp_path / "results", src, executor, gpus=gpus)
    lock.release()
    return layout, store


def write_result(layout: CampaignLayout, store: ManifestStore, index: int) -> str:
    entry = store.manifest.entries[index]
    doc = {
        **result_doc(entry.config_hash, entry.cycle),
        "config": yaml.safe_load((layout.root / entry.config_file).read_text()),
    }
    (layout.root / str(entry.result_file)).write_text(json.dumps(doc))
    return entry.key


@pytest.mark.parametrize("cut", ["empty", "half", "missing"])
def test_resume_rebuilds_the_manifest_with_the_units_that_have_a_result_done(tmp_path: Path, cut: str) -> None:
    layout, original = made_campaign(tmp_path, "slurm", "0,1")
    done = {write_result(layout, original, 0), write_result(layout, original, 2)}
    data = layout.manifest.read_bytes()
    if cut == "missing":
        layout.manifest.unlink()
    else:
        layout.manifest.write_bytes(b"" if cut == "empty" else data[: len(data) // 2])
    problem = {
        "empty": "empty (0 bytes)",
        "half": f"torn ({len(data) // 2} bytes, not whole JSON)",
        "missing": "missing",
    }[cut]

    store, note = load_manifest(layout, "local", write=True)  # `resume --executor local`

    assert note == (
        f"manifest.json was {problem}; rebuilt from campaign.resolved.json and the result files: "
        "2 of 4 unit(s) completed, the rest pending (retry counts and failure reasons are lost)"
    )
    assert [e.key for e in store.manifest.entries] == [e.key for e in original.manifest.entries]
    assert {e.key: e.status for e in store.manifest.entries} == {
        e.key: "completed" if e.key in done else "pending" for e in original.manifest.entries
    }
    assert [e.completed_at for e in store.manifest.entries if e.status == "completed"] == [FINISHED, FINISHED]
    fixed = ("config_hash", "config_file", "result_file", "service", "n_gpus", "config_summary")
    for got, want in zip(store.manifest.entries, original.manifest.entries, strict=True):
        assert got.model_dump(include=set(fixed)) == want.model_dump(include=set(fixed))
    # How it ran comes from the snapshot, not from the executor `resume` was given.
    recorded = ("executor", "gpus", "campaign_file", "design_hash")
    assert store.manifest.model_dump(include=set(recorded)) == original.manifest.model_dump(include=set(recorded))
    assert (store.manifest.executor, store.manifest.gpus) == ("slurm", "0,1")
    assert store.manifest.campaign_file == str(tmp_path / "c.yaml")
    # Written durably, and read back as a whole manifest.
    assert ManifestStore.load(layout.manifest).render() == store.render()
    assert load_manifest(layout)[1] is None


def test_status_shows_the_rebuilt_manifest_without_writing_it(tmp_path: Path) -> None:
    layout, original = made_campaign(tmp_path)
    write_result(layout, original, 1)
    layout.manifest.write_bytes(b"")

    store = status(layout.root)

    assert store.manifest.counters().completed == 1
    assert layout.manifest.read_bytes() == b""


def test_a_manifest_that_parses_but_is_invalid_is_refused_not_rebuilt(tmp_path: Path) -> None:
    layout, _ = made_campaign(tmp_path)
    layout.manifest.write_text('{"campaign": 3}')

    with pytest.raises(ManifestError, match="manifest invalid at"):
        load_manifest(layout, write=True)
    assert layout.manifest.read_text() == '{"campaign": 3}'


def test_a_snapshot_that_gives_another_design_is_refused_with_one_line(tmp_path: Path) -> None:
    layout, _ = made_campaign(tmp_path)
    layout.manifest.write_bytes(b"")
    snap = json.loads(layout.campaign_snapshot.read_text())
    snap["campaign_design_hash"] = "0" * 16
    layout.campaign_snapshot.write_text(json.dumps(snap))

    with pytest.raises(ManifestError) as err:
        load_manifest(layout, write=True)

    design = rebuilt_manifest({k: v for k, v in snap.items() if k != "campaign_design_hash"}).design_hash
    assert str(err.value) == (
        f"{layout.manifest}: manifest empty (0 bytes) and campaign.resolved.json cannot rebuild it "
        f"(it gives design hash {design}, not the {'0' * 16} it was written with)"
    )
    assert layout.manifest.read_bytes() == b""


def test_an_older_snapshot_without_the_executor_is_rebuilt_only_when_resume_names_one(tmp_path: Path) -> None:
    """A snapshot written before it recorded how the campaign ran: guessing `local` could run a Slurm job twice."""
    layout, _ = made_campaign(tmp_path, "slurm")
    layout.manifest.write_bytes(b"")
    snap = json.loads(layout.campaign_snapshot.read_text())
    assert (snap["executor"], snap["gpus"], snap["campaign_file"]) == ("slurm", None, str(tmp_path / "c.yaml"))
    layout.campaign_snapshot.write_text(
        json.dumps({k: v for k, v in snap.items() if k not in ("executor", "gpus", "campaign_file")})
    )

    with pytest.raises(ManifestError) as err:
        status(layout.root)  # what `resume` without --executor reads first
    assert str(err.value) == (
        f"{layout.manifest}: manifest empty (0 bytes) and campaign.resolved.json cannot rebuild it "
        "(it does not record the executor; resume with --executor local|docker|slurm)"
    )
    assert status(layout.root, "docker").manifest.executor == "docker"
    assert layout.manifest.read_bytes() == b""


def test_without_a_snapshot_an_empty_manifest_stays_an_error(tmp_path: Path) -> None:
    layout, _ = made_campaign(tmp_path)
    layout.manifest.write_bytes(b"")
    layout.campaign_snapshot.unlink()

    with pytest.raises(ManifestError, match="manifest unreadable"):
        load_manifest(layout, write=True)


def test_manifest_problem_names_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    assert manifest_problem(path) == "missing"
    path.write_bytes(b"\n \n")
    assert manifest_problem(path) == "empty (3 bytes)"
    path.write_bytes(b'{"a": [1,')
    assert manifest_problem(path) == "torn (9 bytes, not whole JSON)"
    path.write_bytes(b'{"a": 1}')
    assert manifest_problem(path) is None
