"""Prompt files are snapshotted and identified by content, never by file name (real files)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from llenergymeasure.campaign.api import check_design, plan_campaign
from llenergymeasure.campaign.prepare import prepare_campaign
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.identity import config_hash
from llenergymeasure.config.loader import load_experiment
from llenergymeasure.errors import CampaignError, ConfigError

A = b'{"prompt": "alpha one"}\n{"prompt": "alpha two"}\n'
B = b'{"prompt": "beta one"}\n{"prompt": "beta two"}\n'


def two_same_named_datasets(tmp_path: Path) -> Path:
    for folder, data in (("a", A), ("b", B)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "prompts.jsonl").write_bytes(data)
    campaign = tmp_path / "c.yaml"
    campaign.write_text("model: m\nbackend: pytorch\nsweep:\n  dataset: [a/prompts.jsonl, b/prompts.jsonl]\n")
    return campaign


def test_same_file_name_in_two_folders_gives_two_experiments_and_two_copies(tmp_path: Path) -> None:
    campaign = two_same_named_datasets(tmp_path)
    _, plan = plan_campaign(campaign)
    assert len(plan.experiments) == 2
    first, second = plan.experiments
    assert first.config_hash != second.config_hash
    layout, _, lock = prepare_campaign(plan, tmp_path / "results", campaign, "local")
    lock.release()
    copies = sorted(p.name for p in layout.configs.glob("dataset_*.jsonl"))
    digest_a, digest_b = hashlib.sha256(A).hexdigest(), hashlib.sha256(B).hexdigest()
    assert copies == sorted([f"dataset_{digest_a[:16]}.jsonl", f"dataset_{digest_b[:16]}.jsonl"])
    for exp, data, digest in ((first, A, digest_a), (second, B, digest_b)):
        unit = yaml.safe_load((layout.configs / f"{exp.exp_id}.yaml").read_text())
        assert unit["dataset"] == {
            "kind": "jsonl",
            "path": f"dataset_{digest[:16]}.jsonl",
            "field": "prompt",
            "sha256": digest,
        }
        assert (layout.configs / unit["dataset"]["path"]).read_bytes() == data
        # The unit's own config, as llem-exp loads it, keeps the identity the plan gave it.
        assert config_hash(load_experiment(layout.configs / f"{exp.exp_id}.yaml")) == exp.config_hash


def test_identity_is_the_content_not_the_path(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "one.jsonl").write_bytes(A)
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "other-name.jsonl").write_bytes(A)
    campaign = tmp_path / "c.yaml"
    campaign.write_text("model: m\nbackend: pytorch\nsweep:\n  dataset: [x/one.jsonl, y/other-name.jsonl]\n")
    loaded, plan = plan_campaign(campaign)
    assert len(plan.experiments) == 1
    assert loaded.config.duplicates == 1
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "p.jsonl").write_bytes(A)
    (moved / "c.yaml").write_text("model: m\nbackend: pytorch\ndataset: p.jsonl\n")
    _, plan2 = plan_campaign(moved / "c.yaml")
    assert plan2.config.campaign_design_hash == plan.config.campaign_design_hash


def test_changed_prompts_are_a_new_design_and_resume_refuses(tmp_path: Path) -> None:
    campaign = two_same_named_datasets(tmp_path)
    _, plan = plan_campaign(campaign)
    layout, _, lock = prepare_campaign(plan, tmp_path / "results", campaign, "local")
    lock.release()
    store = ManifestStore.load(layout.manifest)
    check_design(store, force=False)  # unchanged: fine
    (tmp_path / "b" / "prompts.jsonl").write_bytes(B + b'{"prompt": "beta three"}\n')
    _, changed = plan_campaign(campaign)
    assert changed.config.campaign_design_hash != plan.config.campaign_design_hash
    with pytest.raises(CampaignError, match=r"design changed since this campaign started .*pass --force"):
        check_design(store, force=False)
    check_design(store, force=True)


def test_pinned_digest_that_does_not_match_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_bytes(A)
    wrong = "0" * 64
    cfg = tmp_path / "e.yaml"
    cfg.write_text(f"model: m\nbackend: pytorch\ndataset:\n  kind: jsonl\n  path: p.jsonl\n  sha256: '{wrong}'\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(cfg)
    digest = hashlib.sha256(A).hexdigest()
    assert str(err.value) == (
        f"{cfg}:6: dataset.sha256: {tmp_path / 'p.jsonl'} has content {digest[:16]}, not the pinned "
        f"{wrong[:16]}; restore the file or update the digest"
    )


def test_dataset_in_base_resolves_from_the_base_folder(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "p.jsonl").write_bytes(A)
    (tmp_path / "shared" / "base.yaml").write_text("model: m\nbackend: pytorch\ndataset: p.jsonl\n")
    (tmp_path / "c.yaml").write_text("base: shared/base.yaml\nn_prompts: 2\n")
    _, plan = plan_campaign(tmp_path / "c.yaml")
    (exp,) = plan.experiments
    assert exp.config.dataset.model_dump() == {
        "kind": "jsonl",
        "path": str(tmp_path / "shared" / "p.jsonl"),
        "field": "prompt",
        "sha256": hashlib.sha256(A).hexdigest(),
    }
