"""Rebuild a lost, empty or torn manifest from ``campaign.resolved.json`` and the result files.

A power cut can leave ``manifest.json`` empty or cut short (a filesystem without ext4's
flush-on-rename), or an ``up`` killed between writing the snapshot and the manifest can leave
none. Everything the manifest indexes can be derived again: the snapshot is the campaign as it was
planned, so expanding and ordering it gives the same units in the same order, and a unit whose
valid result file (its config hash and cycle) exists is done. How it ran is in the snapshot too
(``executor``, ``gpus``, ``campaign_file``, written at ``up``); a snapshot of an older llem lacks
them, and ``resume`` must then be told the executor. What cannot be derived is named in the note:
retry counts and failure reasons. Handles of units that were running are lost as well: a
scheduler's jobs are found again by their names (``recover``: strays, adopted when released).

``rebuilt_manifest`` is pure (snapshot in, all-pending manifest out); ``load_manifest`` reads the
files and is what ``status`` and ``resume`` call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llenergymeasure import __version__
from llenergymeasure.atomic import write_atomic
from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.manifest import CampaignManifest
from llenergymeasure.campaign.plan import build_plan
from llenergymeasure.campaign.prepare import plan_entries
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import CampaignConfig
from llenergymeasure.errors import CampaignError, ManifestError
from llenergymeasure.results.reader import InvalidResultError, read_result

# Keys of the snapshot that are not CampaignConfig input: derived, the plan's own, or how it runs.
SNAPSHOT_EXTRAS = (
    "campaign_design_hash",
    "shuffle_seed",
    "varying",
    "executor",
    "gpus",
    "campaign_file",
    "images",
)
EXECUTORS = "local|docker|slurm"


def rebuilt_manifest(snapshot: Mapping[str, Any], executor: str | None = None) -> CampaignManifest:
    """The manifest a campaign had when it was created, every unit pending, from its resolved snapshot.

    The executor, GPUs and campaign file are the recorded ones; ``executor`` (what ``resume`` was
    given) only stands in for a snapshot that records none (an older llem's).
    Raises ``ValueError`` with the reason when the snapshot does not give back the campaign it was
    written for (another llem version, whose defaults hash differently, or an edited file), or
    when no executor is known.
    """
    ran_by = snapshot.get("executor") or executor
    if not ran_by:
        raise ValueError(f"it does not record the executor; resume with --executor {EXECUTORS}")
    config = CampaignConfig.model_validate({k: v for k, v in snapshot.items() if k not in SNAPSHOT_EXTRAS})
    plan = build_plan(config)
    design = snapshot.get("campaign_design_hash")
    if design is not None and design != config.campaign_design_hash:
        raise ValueError(f"it gives design hash {config.campaign_design_hash}, not the {design} it was written with")
    seed = snapshot.get("shuffle_seed")
    if seed is not None and seed != plan.shuffle_seed:
        raise ValueError(f"it gives shuffle seed {plan.shuffle_seed}, not the {seed} it was written with")
    return CampaignManifest(
        campaign=config.name,
        design_hash=config.campaign_design_hash,
        llem_version=__version__,
        campaign_file=snapshot.get("campaign_file"),
        executor=ran_by,
        gpus=snapshot.get("gpus"),
        entries=plan_entries(plan),
    )


def manifest_problem(path: Path) -> str | None:
    """Why the manifest at ``path`` needs rebuilding (missing, empty, not whole JSON); None when it parses."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not data.strip():
        return f"empty ({len(data)} bytes)"
    try:
        json.loads(data)
    except ValueError:
        return f"torn ({len(data)} bytes, not whole JSON)"
    return None


def load_manifest(
    layout: CampaignLayout, executor: str | None = None, write: bool = False
) -> tuple[ManifestStore, str | None]:
    """The campaign's manifest, rebuilt when it is missing, empty or torn; and the one-line note if it was.

    A manifest that parses is loaded as it is (a foreign or invalid one is still an error, never
    overwritten). ``executor``: the one ``resume`` was given (None: not given), used only where the
    snapshot records none; without either, a rebuild is refused (``ManifestError`` naming the fix).
    ``write``: save the rebuilt manifest durably (only the lock holder, i.e. ``resume``). ``status``
    shows the rebuilt view without writing.
    """
    problem = manifest_problem(layout.manifest)
    if problem is None or not layout.campaign_snapshot.is_file():
        return ManifestStore.load(layout.manifest), None
    name = layout.campaign_snapshot.name
    try:
        snapshot = json.loads(layout.campaign_snapshot.read_text(encoding="utf-8"))
        manifest = rebuilt_manifest(snapshot, executor)
    except (OSError, ValueError, ValidationError, CampaignError) as exc:
        reason = str(exc).splitlines()[0]
        raise ManifestError(f"{layout.manifest}: manifest {problem} and {name} cannot rebuild it ({reason})") from None
    done = 0
    for i, entry in enumerate(manifest.entries):
        try:
            result = read_result(layout.root / str(entry.result_file), entry.config_hash, entry.cycle)
        except InvalidResultError:
            continue
        manifest.entries[i] = mf.adopt(entry, str(entry.result_file), result.finished_at)
        done += 1
    store = ManifestStore(layout.manifest, manifest)
    note = (
        f"{layout.manifest.name} was {problem}; rebuilt from {name} and the result files: "
        f"{done} of {len(manifest.entries)} unit(s) completed, the rest pending "
        "(retry counts and failure reasons are lost)"
    )
    if write:
        try:
            write_atomic(layout.manifest, store.render(), "full")
        except OSError as exc:
            raise ManifestError(
                f"{layout.manifest}: cannot write the rebuilt manifest ({exc.strerror or exc})"
            ) from None
    return store, note
