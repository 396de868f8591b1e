"""Result names are unique within a campaign: two configs whose 8-digit hashes collide get longer ones."""

from __future__ import annotations

from pathlib import Path

from llenergymeasure.campaign.loader import load_campaign
from llenergymeasure.campaign.plan import CampaignPlan, build_plan

# Two configs whose config hashes share their first 8 hex digits, found by brute force over `seed`
# (about 53,000 hashes). If a change of config identity (tests/unit/config/test_identity.py's PINNED)
# breaks the pair, find a new one: hash the base config with seed 0, 1, 2, ... until two share 8 digits.
COLLIDING = """\
name: collide
model: llem/tiny-llama
backend: pytorch
n_prompts: 2
max_output_tokens: 2
execution: {n_cycles: 2}
experiments:
  - {seed: 45016}
  - {seed: 53398}
"""


def plan_of(path: Path) -> CampaignPlan:
    loaded = load_campaign(path)
    return build_plan(loaded.config, loaded.sources)


def test_colliding_short_hashes_get_distinct_longer_result_names(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(COLLIDING)
    plan = plan_of(f)
    a, b = (e.config_hash for e in plan.experiments)
    assert a[:8] == b[:8], "the pinned pair no longer collides: config identity changed; find a new pair"
    assert (a, b) == ("825fbd46e2f39ee9", "825fbd4694623a0b")
    assert sorted(u.result_stem for u in plan.units) == [
        "llem--tiny-llama_pytorch_bf16_825fbd469_c1",
        "llem--tiny-llama_pytorch_bf16_825fbd469_c2",
        "llem--tiny-llama_pytorch_bf16_825fbd46e_c1",
        "llem--tiny-llama_pytorch_bf16_825fbd46e_c2",
    ]
    assert plan.notes[-1] == (
        "config hashes share their first 8 digits; result names carry more: exp001 (825fbd46e), exp002 (825fbd469)"
    )


def test_names_keep_8_digits_without_a_collision(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(COLLIDING.replace("53398", "53399"))
    plan = plan_of(f)
    assert [len(e.short_hash) for e in plan.experiments] == [8, 8]
    assert not any("share their first" in n for n in plan.notes)
    assert {u.result_stem for u in plan.units} == {
        f"llem--tiny-llama_pytorch_bf16_{e.config_hash[:8]}_c{c}" for e in plan.experiments for c in (1, 2)
    }
