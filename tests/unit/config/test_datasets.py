"""Dataset kinds: validation messages, output-length checks, identity by content, resolved paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llenergymeasure.config.datasets import carries_output_lengths
from llenergymeasure.config.experiment import (
    ExperimentConfig,
    HfDataset,
    JsonlDataset,
    ShareGptDataset,
    SyntheticDataset,
    TableDataset,
)
from llenergymeasure.config.identity import config_hash, identity
from llenergymeasure.config.loader import load_experiment
from llenergymeasure.errors import ConfigError

DIGEST = "ab" * 32


def cfg(**over: object) -> ExperimentConfig:
    return ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", **over})


def message(**over: object) -> str:
    with pytest.raises(ValidationError) as err:
        cfg(**over)
    (first,) = err.value.errors()
    return str(first["msg"])


def test_output_lengths_dataset_needs_a_dataset_with_output_lengths() -> None:
    assert message(output_lengths="dataset", dataset={"kind": "jsonl", "path": "p.jsonl"}) == (
        "Value error, output_lengths dataset needs output lengths from the dataset, and dataset kind jsonl has none: "
        "use sharegpt, table or hf with output_field, or synthetic with output; or set output_lengths: fixed or natural"
    )
    assert "dataset kind table has none" in message(
        output_lengths="dataset", dataset={"kind": "table", "path": "t.csv"}
    )
    assert "dataset kind synthetic has none" in message(output_lengths="dataset", dataset={"kind": "synthetic"})


@pytest.mark.parametrize(
    "dataset",
    [
        {"kind": "sharegpt", "path": "c.json"},
        {"kind": "table", "path": "t.csv", "output_field": "n"},
        {"kind": "hf", "name": "org/set", "output_field": "reply"},
        {"kind": "synthetic", "output": {"distribution": "fixed", "mean": 8}},
    ],
)
def test_datasets_that_carry_output_lengths(dataset: dict[str, object]) -> None:
    assert carries_output_lengths(cfg(output_lengths="dataset", dataset=dataset).dataset)


def test_hf_needs_exactly_one_source() -> None:
    text = "Value error, dataset kind hf needs exactly one of path (a local folder or file) and name (a Hub id)"
    assert message(dataset={"kind": "hf"}) == text
    assert message(dataset={"kind": "hf", "path": "d", "name": "org/set"}) == text


def test_output_bounds_need_output_lengths() -> None:
    assert message(dataset={"kind": "table", "path": "t.csv", "filter": {"max_output_tokens": 9}}) == (
        "Value error, dataset.filter output bounds need output lengths, and this table dataset has none; "
        "set dataset.output_field or remove min_output_tokens/max_output_tokens"
    )
    assert message(dataset={"kind": "jsonl", "path": "p.jsonl", "filter": {"min_output_tokens": 2}}) == (
        "Value error, dataset.filter output bounds need output lengths, and this jsonl dataset has none; "
        "remove min_output_tokens/max_output_tokens"
    )


def test_filter_bounds_must_be_ordered() -> None:
    assert message(
        dataset={"kind": "sharegpt", "path": "c.json", "filter": {"min_input_tokens": 9, "max_input_tokens": 3}}
    ) == ("Value error, dataset.filter.min_input_tokens 9 is above max_input_tokens 3; swap or widen them")


def test_new_fields_at_their_defaults_leave_old_hashes_alone() -> None:
    jsonl = cfg(dataset={"kind": "jsonl", "path": "/a/p.jsonl", "sha256": DIGEST})
    assert "filter" not in identity(jsonl)["dataset"]
    assert identity(jsonl)["dataset"] == {"kind": "jsonl", "field": "prompt", "sha256": DIGEST}
    synthetic = cfg(dataset={"kind": "synthetic", "input_tokens": 64})
    assert identity(synthetic)["dataset"] == {"kind": "synthetic", "input_tokens": 64}
    assert config_hash(synthetic) != config_hash(
        cfg(dataset={"kind": "synthetic", "input_tokens": 64, "prefix_tokens": 8})
    )


def test_identity_drops_where_a_dataset_lies_once_its_digest_is_known() -> None:
    a = cfg(dataset={"kind": "hf", "path": "/x/d", "sha256": DIGEST})
    b = cfg(dataset={"kind": "hf", "name": "org/set", "sha256": DIGEST, "snapshot": "dataset_ab.jsonl"})
    assert config_hash(a) == config_hash(b)
    assert identity(a)["dataset"] == {
        "kind": "hf",
        "split": "train",
        "field": "prompt",
        "output_field": None,
        "sha256": DIGEST,
        "filter": None,
    }
    c = cfg(dataset={"kind": "table", "path": "/x/t.csv", "sha256": DIGEST})
    d = cfg(dataset={"kind": "table", "path": "/y/other.csv", "sha256": DIGEST})
    assert config_hash(c) == config_hash(d)
    assert config_hash(cfg(dataset={"kind": "table", "path": "/x/t.csv"})) != config_hash(
        cfg(dataset={"kind": "table", "path": "/y/t.csv"})
    )


def test_relative_paths_and_snapshots_resolve_from_the_config_folder(tmp_path: Path) -> None:
    for kind in ("sharegpt", "table"):
        resolved = cfg(dataset={"kind": kind, "path": "d/x.json"}).with_resolved_paths(tmp_path)
        assert isinstance(resolved.dataset, ShareGptDataset | TableDataset)
        assert resolved.dataset.path == str(tmp_path / "d" / "x.json")
    hf = cfg(dataset={"kind": "hf", "name": "org/set", "snapshot": "s.jsonl"}).with_resolved_paths(tmp_path)
    assert isinstance(hf.dataset, HfDataset)
    assert (hf.dataset.name, hf.dataset.snapshot) == ("org/set", str(tmp_path / "s.jsonl"))


def test_dataset_names_are_still_exported_by_experiment() -> None:
    assert JsonlDataset(path="p").kind == "jsonl"
    assert SyntheticDataset().input_tokens == 128


def test_an_unknown_dataset_field_lists_that_kinds_fields(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("model: m\nbackend: pytorch\ndataset: {kind: table, path: t.csv, feild: x}\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(err.value) == (
        f"{path}:3: dataset.feild: unknown field; did you mean 'field'? "
        "valid fields: field, filter, kind, output_field, path, sha256"
    )


def test_synthetic_prompts_longer_than_max_input_tokens_are_refused_not_cut() -> None:
    import pydantic

    from llenergymeasure.config.experiment import ExperimentConfig

    def problem(dataset: dict, **over: object) -> str:
        with pytest.raises(pydantic.ValidationError) as err:
            ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", "dataset": dataset, **over})
        return str(err.value.errors()[0]["msg"])

    assert problem({"kind": "synthetic", "input_tokens": 600}) == (
        "Value error, dataset.input_tokens: synthetic prompts of up to 600 tokens (600) exceed max_input_tokens 512, "
        "which would cut them; raise max_input_tokens to 600 or shorten them"
    )
    assert problem(
        {"kind": "synthetic", "prefix_tokens": 64, "input": {"distribution": "uniform", "min": 8, "max": 500}}
    ) == (
        "Value error, dataset.input: synthetic prompts of up to 564 tokens (500 + prefix_tokens 64) exceed "
        "max_input_tokens 512, which would cut them; raise max_input_tokens to 564 or shorten them"
    )
    assert problem({"kind": "synthetic", "input": {"distribution": "normal", "mean": 100, "std": 10}}) == (
        "Value error, dataset.input: a normal distribution needs max (at most max_input_tokens 512 - prefix_tokens "
        "0), or longer prompts would be cut at max_input_tokens; set dataset.input.max"
    )
    ExperimentConfig.model_validate(
        {
            "model": "m",
            "backend": "pytorch",
            "max_input_tokens": 564,
            "dataset": {"kind": "synthetic", "prefix_tokens": 64, "input": {"distribution": "uniform", "max": 500}},
        }
    )
