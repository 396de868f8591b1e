"""The campaign grammar, through real files (the loader is a thin reader over the pure expansion)."""

from pathlib import Path

import pytest

from llenergymeasure.campaign.grammar import deep_merge, nest, varying_fields
from llenergymeasure.campaign.loader import load_campaign
from llenergymeasure.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_fixed_fields_only_give_one_experiment(tmp_path: Path) -> None:
    c = load_campaign(write(tmp_path, "name: one\nmodel: m\nbackend: pytorch\n")).config
    assert len(c.experiments) == 1
    assert c.name == "one"


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    c = load_campaign(write(tmp_path, "model: m\nbackend: pytorch\n", "my camp.yaml")).config
    assert c.name == "my-camp"


def test_sweep_is_a_cartesian_product(tmp_path: Path) -> None:
    c = load_campaign(
        write(
            tmp_path,
            """
model: m
backend: pytorch
sweep:
  precision: [fp16, bf16]
  pytorch.batch_size: [1, 2, 4]
""",
        )
    ).config
    got = {(e.precision, e.pytorch.batch_size) for e in c.experiments}  # type: ignore[union-attr]
    assert got == {(p, b) for p in ("fp16", "bf16") for b in (1, 2, 4)}


def test_backend_scoped_axes_give_independent_grids(tmp_path: Path) -> None:
    c = load_campaign(
        write(
            tmp_path,
            """
model: m
sweep:
  backend: [pytorch, vllm]
  precision: [fp16, bf16]
  pytorch.batch_size: [1, 8]
  vllm.max_num_seqs: [64, 128, 256]
""",
        )
    ).config
    pt = [e for e in c.experiments if e.backend == "pytorch"]
    vl = [e for e in c.experiments if e.backend == "vllm"]
    assert len(pt) == 4
    assert len(vl) == 6
    assert all(e.vllm is None for e in pt)
    assert all(e.pytorch is None for e in vl)
    assert {e.vllm.max_num_seqs for e in vl} == {64, 128, 256}  # type: ignore[union-attr]


def test_scoped_axis_for_a_backend_not_run_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: pytorch\nsweep:\n  vllm.max_num_seqs: [64]\n")
    with pytest.raises(ConfigError, match=r"c.yaml:4: sweep.vllm.max_num_seqs: scoped to backend 'vllm'"):
        load_campaign(p)


def test_explicit_list_merges_over_fixed_fields(tmp_path: Path) -> None:
    c = load_campaign(
        write(
            tmp_path,
            """
model: m
backend: pytorch
n_prompts: 5
experiments:
  - {precision: fp16}
  - {model: other, pytorch.batch_size: 3}
""",
        )
    ).config
    assert [(e.model, e.precision, e.n_prompts) for e in c.experiments] == [("m", "fp16", 5), ("other", "bf16", 5)]
    assert c.experiments[1].pytorch.batch_size == 3  # type: ignore[union-attr]


def test_sweep_then_explicit(tmp_path: Path) -> None:
    c = load_campaign(
        write(
            tmp_path,
            """
model: m
backend: pytorch
sweep: {precision: [fp16, bf16]}
experiments:
  - {precision: fp32}
""",
        )
    ).config
    assert [e.precision for e in c.experiments] == ["fp16", "bf16", "fp32"]


def test_base_is_inherited_relative_to_campaign_with_campaign_keys_stripped(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    write(
        tmp_path,
        """
name: base-name
model: base-model
backend: pytorch
n_prompts: 7
decoding: {temperature: 0.5, do_sample: true}
execution: {n_cycles: 9}
sweep: {seed: [1, 2, 3]}
""",
        "shared/base.yaml",
    )
    c = load_campaign(write(tmp_path, "name: child\nbase: shared/base.yaml\ndecoding: {top_p: 0.9}\n")).config
    assert c.name == "child"
    assert len(c.experiments) == 1  # the base's sweep is not inherited
    e = c.experiments[0]
    assert (e.model, e.n_prompts, e.decoding.temperature, e.decoding.top_p) == ("base-model", 7, 0.5, 0.9)
    assert c.execution.n_cycles == 1


def test_missing_base_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:1: base: file not found: .*nope.yaml"):
        load_campaign(write(tmp_path, "base: nope.yaml\nmodel: m\nbackend: pytorch\n"))


def test_invalid_grid_points_are_skipped_with_reason(tmp_path: Path) -> None:
    loaded = load_campaign(
        write(
            tmp_path,
            """
model: m
backend: vllm
sweep:
  precision: [fp32, fp16]
  vllm.quantization: [awq]
""",
        )
    )
    assert [e.precision for e in loaded.config.experiments] == ["fp16"]
    (skip,) = loaded.config.skipped_configs
    assert skip.overrides == {"precision": "fp32", "vllm.quantization": "awq"}
    assert "needs precision fp16 or bf16" in skip.reason
    assert loaded.warnings == []  # 1 of 2 is not more than half


SPLIT_8 = "model: m\nbackend: pytorch\nenergy: {prefill_split: true, split_output_tokens: 8}\n"


def test_more_than_half_skipped_warns(tmp_path: Path) -> None:
    # 4 and 8 are fine output lengths, just not beside a split at 8 tokens: a combination, so skipped
    loaded = load_campaign(write(tmp_path, SPLIT_8 + "sweep:\n  max_output_tokens: [4, 8, 16]\n"))
    assert len(loaded.config.experiments) == 1
    assert loaded.warnings == ["2 of 3 sweep configs are invalid and skipped"]


def test_all_invalid_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_campaign(write(tmp_path, SPLIT_8 + "sweep: {max_output_tokens: [4, 8]}\n"))
    assert str(err.value) == (
        f"{tmp_path / 'c.yaml'}: all 2 configs are invalid; first: energy.split_output_tokens 8 must be below "
        "max_output_tokens 4: the split needs two windows with different output lengths; lower it or leave it unset; "
        "then: energy.split_output_tokens 8 must be below max_output_tokens 8: the split needs two windows with "
        "different output lengths; lower it or leave it unset"
    )


def test_duplicates_run_once(tmp_path: Path) -> None:
    loaded = load_campaign(
        write(
            tmp_path,
            """
model: m
backend: pytorch
sweep: {precision: [fp16, fp16, bf16]}
experiments: [{precision: bf16}]
""",
        )
    )
    assert [e.precision for e in loaded.config.experiments] == ["fp16", "bf16"]
    assert loaded.config.duplicates == 2
    assert "2 duplicate configs will run once" in loaded.warnings


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("{}", "sweep: must be a non-empty mapping"),
        ("{precision: []}", "sweep.precision: empty list; give at least one value"),
        ("{precision: fp16}", "sweep.precision: must be a list of values"),
        ("{precison: [fp16]}", "sweep.precison: unknown field 'precison'; valid: backend"),
        ("{pytorch.batch_sise: [1]}", "unknown field 'pytorch.batch_sise'; valid: attn_implementation"),
        ("{model.x: [1]}", "sweep.model.x: 'model' has no sub-fields"),
    ],
)
def test_bad_sweeps(tmp_path: Path, sweep: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_campaign(write(tmp_path, f"model: m\nbackend: pytorch\nsweep: {sweep}\n"))


def test_huge_grid_is_refused_before_expansion(tmp_path: Path) -> None:
    axis = list(range(1, 101))
    with pytest.raises(ConfigError, match="expands to 1000000 configs, more than the limit of 10000"):
        load_campaign(
            write(
                tmp_path,
                f"model: m\nbackend: pytorch\nsweep:\n  seed: {axis}\n  n_prompts: {axis}\n"
                f"  max_output_tokens: {axis}\n",
            )
        )


def test_explicit_item_error_names_its_line(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: pytorch\nexperiments:\n  - precision: fp8\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == (f"{p}:4: experiments[0].precision: Input should be 'fp32', 'fp16' or 'bf16' (got 'fp8')")


def test_execution_error_names_file_line_field(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: pytorch\nexecution:\n  n_cycles: 0\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == f"{p}:4: execution.n_cycles: Input should be greater than or equal to 1 (got 0)"


def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: pytorch\nprecison: fp16\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: precison: unknown field; did you mean 'precision'\?"):
        load_campaign(p)


def test_helpers() -> None:
    assert nest({"a.b": 1, "c": 2}) == {"a": {"b": 1}, "c": 2}
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}
    from llenergymeasure.config.experiment import ExperimentConfig

    cfgs = [ExperimentConfig(model="m", backend="pytorch", seed=s) for s in (1, 2)]
    assert varying_fields(cfgs) == ["seed"]


def test_backend_field_not_supported_is_rejected_at_plan_time(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nexperiments:\n  - backend: vllm\n    vllm: {batch_size: 8}\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value).startswith(f"{p}:4: experiments[0].vllm.batch_size: unknown field; ")
    assert "valid fields: block_size, enable_chunked_prefill" in str(err.value)
    with pytest.raises(ConfigError, match=r"sweep.vllm.batch_size: unknown field 'vllm.batch_size'; valid: block_size"):
        load_campaign(write(tmp_path, "model: m\nbackend: vllm\nsweep: {vllm.batch_size: [8]}\n", "d.yaml"))


def test_a_swept_value_wrong_on_its_own_is_an_error_not_a_skip(tmp_path: Path) -> None:
    p = write(tmp_path, 'model: m\nbackend: pytorch\nsweep:\n  pytorch.batch_size: [1, "big", 0]\n')
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value).splitlines() == [
        f"{p}:4: sweep.pytorch.batch_size[1]: Input should be a valid integer, unable to parse string as an integer "
        "(got 'big'); fix it or remove it from the sweep",
        f"{p}:4: sweep.pytorch.batch_size[2]: Input should be greater than or equal to 1 (got 0); "
        "fix it or remove it from the sweep",
    ]


def test_swept_sections_and_variant_tags_name_the_bad_value_at_its_line(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """model: m
backend: vllm
sweep:
  scenario.kind:
    - offline
    - bogus
  decoding:
    - {temperature: 0.5}
    - {temperature: -1}
""",
    )
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value).splitlines() == [
        f"{p}:9: sweep.decoding[1].temperature: Input should be greater than or equal to 0 (got -1); "
        "fix it or remove it from the sweep",
        f"{p}:6: sweep.scenario.kind[1]: Input tag 'bogus' found using 'kind' does not match any of the expected "
        "tags: 'offline', 'server' (got 'bogus'); fix it or remove it from the sweep",
    ]


def test_a_field_only_some_variants_have_is_still_a_skip(tmp_path: Path) -> None:
    # request_rate exists for server scenarios only: unknown beside offline, a combination, not a bad value
    loaded = load_campaign(
        write(
            tmp_path,
            "model: m\nbackend: vllm\nsweep:\n  scenario.kind: [offline, server]\n  scenario.request_rate: [2.0]\n",
        )
    )
    assert [e.scenario.kind for e in loaded.config.experiments] == ["server"]
    assert [s.reason for s in loaded.config.skipped_configs] == [
        "scenario.request_rate: unknown field; valid fields: kind"
    ]


def test_a_broken_sweep_does_not_hide_the_fixed_fields_errors(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "model: m\nbackend: pytorch\nn_prompts: -1\nsweep:\n  precisionn: [fp16]\nexecution: {n_cycles: 0}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value).splitlines() == [
        f"{p}:5: sweep.precisionn: unknown field 'precisionn'; valid: backend, baseline, dataset, decoding, energy, "
        "gpu, max_input_tokens, max_output_tokens, model, n_prompts, output_lengths, precision, pytorch, scenario, "
        "seed, telemetry, trtllm, vllm, warmup",
        f"{p}:3: n_prompts: Input should be greater than or equal to 1 (got -1)",
        f"{p}:6: execution.n_cycles: Input should be greater than or equal to 1 (got 0)",
    ]


def test_a_field_set_twice_dotted_and_nested_is_an_error(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """model: m
backend: pytorch
pytorch.batch_size: 4
pytorch: {batch_size: 2}
sweep:
  decoding: [{}]
  decoding.temperature: [1]
experiments:
  - {pytorch.batch_size: 2, pytorch: {batch_size: 3}}
""",
    )
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value).splitlines() == [
        f"{p}:4: pytorch: sets pytorch.batch_size again, already set by 'pytorch.batch_size'; keep one",
        f"{p}:7: sweep.decoding.temperature: sweeps decoding again, already swept by sweep.decoding; keep one",
        f"{p}:9: experiments[0].pytorch: sets pytorch.batch_size again, already set by 'pytorch.batch_size'; keep one",
    ]
    assert nest({"pytorch.batch_size": 4, "pytorch": {"device_map": "auto"}}) == {
        "pytorch": {"batch_size": 4, "device_map": "auto"}
    }


def test_non_finite_and_unbounded_timeouts_are_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nbackend: pytorch\nexecution:\n  unit_timeout_s: .inf\n  idle_timeout_s: .nan\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value).splitlines() == [
        f"{p}:4: execution.unit_timeout_s: Input should be a finite number (got inf)",
        f"{p}:5: execution.idle_timeout_s: Input should be a finite number (got nan)",
    ]
    p = write(tmp_path, "model: m\nbackend: pytorch\nexecution: {unit_timeout_s: 1.0e+12}\n", "d.yaml")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == (
        f"{p}:3: execution.unit_timeout_s: Input should be less than or equal to 2592000 (got 1000000000000.0)"
    )


def test_units_are_capped_not_only_configs(tmp_path: Path) -> None:
    seeds = list(range(60))
    p = write(tmp_path, f"model: m\nbackend: pytorch\nexecution:\n  n_cycles: 1000\nsweep:\n  seed: {seeds}\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == (
        f"{p}:4: execution.n_cycles: 60 configs x 1000 cycles = 60000 units, more than the limit of 50000; "
        "lower n_cycles or split the campaign"
    )


def test_the_config_cap_counts_explicit_experiments_too(tmp_path: Path) -> None:
    seeds = list(range(9_999))
    p = write(
        tmp_path,
        f"model: m\nbackend: pytorch\nsweep:\n  seed: {seeds}\n"
        "experiments:\n  - {seed: 10000}\n  - {seed: 10001}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_campaign(p)
    assert str(err.value) == (
        f"{p}:5: experiments: the campaign gives 10001 configs (sweep points and experiments, per backend), more "
        "than the limit of 10000; split the campaign"
    )


def test_inert_sweep_axes_are_warned_about_and_merge(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "model: m\nbackend: vllm\nvllm: {kv_cache_memory_bytes: 1048576}\nsweep:\n"
        "  vllm.gpu_memory_utilization: [0.5, 0.9]\n  decoding.do_sample: [false, true]\n"
        "  decoding.top_p: [0.5, 1.0]\n",
    )
    loaded = load_campaign(p)
    assert loaded.warnings == [
        f"{p}:5: sweep vllm.gpu_memory_utilization has no effect: vllm.kv_cache_memory_bytes is set in every config; "
        "unset vllm.kv_cache_memory_bytes (it sizes the KV cache instead) or drop the axis",
        f"{p}:7: sweep decoding.top_p has no effect where decoding.do_sample is false (4 of 8 configs); "
        "those merge into fewer experiments",
        "5 duplicate configs will run once",
    ]
    assert [(e.decoding.do_sample, e.decoding.top_p) for e in loaded.config.experiments] == [
        (False, 0.5),
        (True, 0.5),
        (True, 1.0),
    ]
