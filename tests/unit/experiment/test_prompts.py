"""Prompt sets per pass: distinct while the dataset lasts, the first set fixed, repeats said."""

from __future__ import annotations

from pathlib import Path

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.experiment.prompts import select_prompt_sets, select_prompts


def cfg(**over: object) -> ExperimentConfig:
    return ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", **over})


def test_synthetic_sets_never_repeat_and_the_first_is_fixed() -> None:
    c = cfg(n_prompts=3, dataset={"kind": "synthetic", "input_tokens": 5})
    sets = select_prompt_sets(c, 1000, 4)
    flat = [tuple(p) for s in sets.sets for p in s]
    assert (len(flat), len(dict.fromkeys(flat)), sets.distinct, sets.note) == (12, 12, 4, None)
    assert sets.sets[0] == select_prompts(c, 1000) == select_prompt_sets(c, 1000, 1).sets[0]


def test_a_file_runs_out_and_says_when(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(f'{{"prompt": "p{i}"}}\n' for i in range(7)))
    c = cfg(n_prompts=3, dataset={"kind": "jsonl", "path": str(path)})
    sets = select_prompt_sets(c, 1000, 4)
    assert sets.distinct == 2
    assert len({p for s in sets.sets[:2] for p in s}) == 6  # two passes of distinct prompts
    assert sets.note == (
        f"{path} holds 7 prompts, 2 passes of 3: passes after pass 2 of a window repeat prompts; KV/prefix reuse "
        "makes repeats cache hits, so keep it off or use a larger (or synthetic) dataset"
    )


def test_fewer_prompts_than_one_pass_repeat_within_it() -> None:
    sets = select_prompt_sets(cfg(n_prompts=50), 1000, 2)
    assert sets.distinct == 0
    assert sets.note == (
        "the built-in set holds 40 prompts, fewer than n_prompts 50: prompts repeat within every pass; KV/prefix "
        "reuse makes repeats cache hits, so keep it off or use a larger (or synthetic) dataset"
    )
