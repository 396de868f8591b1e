"""Prompt sets per pass: distinct while the dataset lasts, the first set fixed, repeats said."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.errors import ConfigError
from llenergymeasure.experiment.prompts import needs_tokenizer, select_prompt_sets, select_prompts


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


def words(texts: Sequence[str]) -> list[int]:
    """A stand-in tokenizer: one token per word."""
    return [len(t.split()) for t in texts]


def sharegpt_file(tmp_path: Path) -> Path:
    records: list[object] = [
        {"conversations": [{"from": "human", "value": f"q{i} " * (i + 1)}, {"from": "gpt", "value": "w " * (i + 1)}]}
        for i in range(6)
    ]
    records.append({"conversations": [{"from": "human", "value": "unanswered"}]})
    path = tmp_path / "c.json"
    path.write_text(json.dumps(records))
    return path


def test_sharegpt_output_lengths_are_the_reference_replies_token_counts(tmp_path: Path) -> None:
    path = sharegpt_file(tmp_path)
    c = cfg(n_prompts=3, output_lengths="dataset", dataset={"kind": "sharegpt", "path": str(path)})
    assert needs_tokenizer(c)
    sets = select_prompt_sets(c, 1000, 2, words)
    assert sets.output_tokens is not None
    for prompts, lengths in zip(sets.sets, sets.output_tokens, strict=True):
        assert lengths == [len(str(p).split()) for p in prompts]  # prompt i has i+1 words, its reply i+1 tokens
    assert sets.note == f"{path}: 1 records skipped (no user turn followed by a reply)"
    assert select_prompt_sets(c.model_copy(update={"output_lengths": "fixed"}), 1000, 1).output_tokens is None


def test_filters_apply_before_the_draw(tmp_path: Path) -> None:
    path = sharegpt_file(tmp_path)
    bounds = {"min_input_tokens": 2, "max_output_tokens": 4}
    c = cfg(n_prompts=3, dataset={"kind": "sharegpt", "path": str(path), "filter": bounds})
    assert needs_tokenizer(c)
    (drawn,) = select_prompt_sets(c, 1000, 1, words).sets
    assert sorted(len(str(p).split()) for p in drawn) == [2, 3, 4]
    narrow = cfg(n_prompts=3, dataset={"kind": "sharegpt", "path": str(path), "filter": {"min_input_tokens": 99}})
    with pytest.raises(ConfigError, match=r"dataset\.filter keeps none of its 6 prompts; widen the bounds"):
        select_prompt_sets(narrow, 1000, 1, words)


def test_table_integer_output_lengths_need_no_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("prompt,n\na,3\nb,5\n")
    c = cfg(n_prompts=2, output_lengths="dataset", dataset={"kind": "table", "path": str(path), "output_field": "n"})
    sets = select_prompt_sets(c, 1000, 1)
    assert sets.output_tokens == [[{"a": 3, "b": 5}[str(p)] for p in sets.sets[0]]]
    assert not needs_tokenizer(cfg(dataset={"kind": "table", "path": str(path)}))


def test_synthetic_output_lengths_and_shared_prefix() -> None:
    c = cfg(
        n_prompts=4,
        output_lengths="dataset",
        dataset={
            "kind": "synthetic",
            "input_tokens": 3,
            "prefix_tokens": 2,
            "output": {"distribution": "uniform", "max": 9},
        },
    )
    assert not needs_tokenizer(c)
    sets = select_prompt_sets(c, 1000, 3)
    assert sets.output_tokens is not None
    assert [len(s) for s in sets.output_tokens] == [4, 4, 4]
    assert sets.output_tokens[0] == select_prompt_sets(c, 1000, 1).output_tokens[0]  # type: ignore[index]
    assert all(1 <= n <= 9 for s in sets.output_tokens for n in s)
    prompts = [p for s in sets.sets for p in s]
    assert all(isinstance(p, list) and len(p) == 5 and p[:2] == prompts[0][:2] for p in prompts)
