"""Backend lists, scoped axes, resolved duplicates and all-errors-at-once, through real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from llenergymeasure.campaign.loader import load_campaign
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash, identity
from llenergymeasure.errors import ConfigError

SCOPED_SWEEP = """
sweep:
  precision: [fp16, bf16]
  pytorch.batch_size: [1, 8]
  vllm.max_num_seqs: [64, 256]
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def shape(path: Path) -> list[tuple[str, str, int | None, int | None]]:
    out = []
    for e in load_campaign(path).config.experiments:
        batch = e.pytorch.batch_size if e.pytorch else None
        seqs = e.vllm.max_num_seqs if e.vllm else None
        out.append((e.backend, e.precision, batch, seqs))
    return out


def test_top_level_backend_list_gives_independent_grids(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: [pytorch, vllm]\n" + SCOPED_SWEEP)
    assert shape(p) == [
        ("pytorch", "fp16", 1, None),
        ("pytorch", "fp16", 8, None),
        ("pytorch", "bf16", 1, None),
        ("pytorch", "bf16", 8, None),
        ("vllm", "fp16", None, 64),
        ("vllm", "fp16", None, 256),
        ("vllm", "bf16", None, 64),
        ("vllm", "bf16", None, 256),
    ]


def test_top_level_list_means_exactly_the_sweep_axis(tmp_path: Path) -> None:
    top = load_campaign(write(tmp_path, "model: m\nbackend: [pytorch, vllm]\n" + SCOPED_SWEEP, "a.yaml"))
    swept = load_campaign(
        write(
            tmp_path, "model: m\n" + SCOPED_SWEEP.replace("sweep:\n", "sweep:\n  backend: [pytorch, vllm]\n"), "b.yaml"
        )
    )
    assert top.config.campaign_design_hash == swept.config.campaign_design_hash
    assert [config_hash(e) for e in top.config.experiments] == [config_hash(e) for e in swept.config.experiments]
    assert top.sources == swept.sources
    assert top.sources[0] == 'sweep {"backend": "pytorch", "precision": "fp16", "pytorch.batch_size": 1}'


def test_top_level_list_with_universal_axes_multiplies_by_backend(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: [vllm, pytorch]\nsweep: {precision: [fp16, bf16]}\n")
    assert [(b, prec) for b, prec, _, _ in shape(p)] == [
        ("vllm", "fp16"),
        ("vllm", "bf16"),
        ("pytorch", "fp16"),
        ("pytorch", "bf16"),
    ]


def test_top_level_list_alone_gives_one_experiment_per_backend(tmp_path: Path) -> None:
    loaded = load_campaign(write(tmp_path, "model: m\nbackend: [pytorch, trtllm]\n"))
    assert [e.backend for e in loaded.config.experiments] == ["pytorch", "trtllm"]
    assert loaded.sources == ["top level (backend pytorch)", "top level (backend trtllm)"]


def test_explicit_items_without_backend_run_on_each_listed_backend(tmp_path: Path) -> None:
    loaded = load_campaign(
        write(
            tmp_path,
            "model: m\nbackend: [pytorch, vllm]\nexperiments:\n  - {precision: fp32}\n  - {backend: vllm, seed: 3}\n",
        )
    )
    got = [(e.backend, e.precision, e.seed) for e in loaded.config.experiments]
    assert got == [("pytorch", "fp32", 42), ("vllm", "fp32", 42), ("vllm", "bf16", 3)]
    assert loaded.sources == ["experiments[0] (backend pytorch)", "experiments[0] (backend vllm)", "experiments[1]"]


def test_top_level_backend_sections_are_per_backend_defaults(tmp_path: Path) -> None:
    loaded = load_campaign(
        write(
            tmp_path,
            "model: m\nbackend: [pytorch, vllm]\npytorch: {batch_size: 4}\nvllm: {max_num_seqs: 32}\n",
        )
    )
    pt, vl = loaded.config.experiments
    assert (pt.backend, pt.pytorch.batch_size if pt.pytorch else None, pt.vllm) == ("pytorch", 4, None)
    assert (vl.backend, vl.vllm.max_num_seqs if vl.vllm else None, vl.pytorch) == ("vllm", 32, None)
    assert loaded.warnings == []


def test_unused_top_level_section_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: pytorch\nvllm: {max_num_seqs: 32}\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert (
        str(err.value) == f"{p}:3: section 'vllm' is set but backend is 'pytorch'; remove 'vllm' or set backend: vllm"
    )
    q = write(tmp_path, "model: m\nbackend: [pytorch, vllm]\ntrtllm: {max_batch_size: 4}\n", "q.yaml")
    with pytest.raises(ConfigError) as err:
        load_campaign(q)
    assert str(err.value) == (
        f"{q}:3: section 'trtllm' is set but no experiment runs backend 'trtllm' (backends: pytorch, vllm); "
        "remove it or add trtllm to backend"
    )


def test_spare_backend_section_in_a_base_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "model: m\nvllm: {max_num_seqs: 32}\n", "base.yaml")
    loaded = load_campaign(write(tmp_path, "base: base.yaml\nbackend: pytorch\n"))
    assert [e.backend for e in loaded.config.experiments] == ["pytorch"]
    assert loaded.warnings == []


def test_backend_given_twice_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: [pytorch]\nsweep:\n  backend: [vllm]\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == (
        f"{p}:2: backend: also given as sweep.backend; keep one (a top-level list means the same as the sweep axis)"
    )


def test_unknown_backend_in_list_is_an_error_at_its_line(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: [pytorch, vlm]\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == f"{p}:2: backend: unknown backend 'vlm'; valid: pytorch, vllm, trtllm"


def test_scoped_axis_without_any_backend_says_what_to_write(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nsweep:\n  pytorch.batch_size: [1, 2]\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == (
        f"{p}:3: sweep.pytorch.batch_size: scoped to backend 'pytorch', but this campaign sets no backend; "
        "add 'backend: pytorch' (or a list such as 'backend: [pytorch, vllm]')"
    )
    assert "None" not in str(err.value)


def test_missing_backend_says_what_to_write(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == (
        f"{p}: backend: Field required; add 'backend: pytorch' (or vllm, trtllm; a list [pytorch, vllm] runs each)"
    )


def test_empty_backend_section_and_absent_section_are_one_experiment(tmp_path: Path) -> None:
    loaded = load_campaign(
        write(
            tmp_path,
            "model: m\nbackend: pytorch\nexperiments:\n  - {}\n  - {pytorch: {}}\n  - {pytorch: {batch_size: 1}}\n",
        )
    )
    (only,) = loaded.config.experiments
    assert loaded.config.duplicates == 2
    merged = [(d.source, d.same_as, d.same_as_source) for d in loaded.config.duplicate_configs]
    assert merged == [("experiments[1]", 0, "experiments[0]"), ("experiments[2]", 0, "experiments[0]")]
    assert only.pytorch is not None
    assert only.pytorch.batch_size == 1


def test_hash_covers_the_resolved_backend_section() -> None:
    bare = ExperimentConfig(model="m", backend="vllm")
    assert identity(bare)["vllm"]["max_num_seqs"] == 256
    assert identity(bare)["pytorch"] is None
    assert config_hash(bare) == config_hash(ExperimentConfig(model="m", backend="vllm", vllm={}))  # type: ignore[arg-type]
    assert config_hash(bare) != config_hash(ExperimentConfig(model="m", backend="vllm", vllm={"max_num_seqs": 255}))  # type: ignore[arg-type]


def test_every_error_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """model: m
backend: pytorch
precison: fp16
sweep:
  seed: 3
  n_prompts: []
experiments:
  - {precision: fp8}
execution: {n_cycles: 0}
""",
    )
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value).splitlines() == [
        f"{p}:5: sweep.seed: must be a list of values, e.g. seed: [a, b]",
        f"{p}:6: sweep.n_prompts: empty list; give at least one value",
        f"{p}:8: experiments[0].precision: Input should be 'fp32', 'fp16' or 'bf16' (got 'fp8')",
        f"{p}:3: precison: unknown field; did you mean 'precision'? valid fields: backend, baseline, dataset, "
        "decoding, energy, gpu, max_input_tokens, max_output_tokens, model, n_prompts, output_lengths, precision, "
        "pytorch, scenario, seed, telemetry, trtllm, vllm, warmup",
        f"{p}:9: execution.n_cycles: Input should be greater than or equal to 1 (got 0)",
    ]


def test_a_bad_fixed_field_under_a_sweep_is_an_error_not_a_skip(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: pytorch\nn_prompts: 0\nsweep: {precision: [fp16, bf16]}\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == f"{p}:3: n_prompts: Input should be greater than or equal to 1 (got 0)"


def test_two_scoped_axes_keep_file_order(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "model: m\nbackend: pytorch\nsweep:\n  pytorch.num_threads: [1, 2]\n  pytorch.batch_size: [4, 8]\n",
    )
    got = [(e.pytorch.num_threads, e.pytorch.batch_size) for e in load_campaign(p).config.experiments if e.pytorch]
    assert got == [(1, 4), (1, 8), (2, 4), (2, 8)]
