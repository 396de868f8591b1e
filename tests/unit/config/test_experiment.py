import pytest
from pydantic import ValidationError

from llenergymeasure.config.experiment import ExperimentConfig, JsonlDataset


def test_defaults_fill_a_minimal_config() -> None:
    cfg = ExperimentConfig(model="m", backend="pytorch")
    assert cfg.precision == "bf16"
    assert cfg.decoding.ignore_eos is True
    assert cfg.backend_section().batch_size == 1  # type: ignore[union-attr]


def test_section_of_another_backend_is_rejected() -> None:
    with pytest.raises(ValidationError, match="section 'vllm' is set but backend is 'pytorch'"):
        ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", "vllm": {"max_num_seqs": 8}})


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", "precison": "fp16"})


def test_dataset_shorthands() -> None:
    cfg = ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", "dataset": "p.jsonl"})
    assert isinstance(cfg.dataset, JsonlDataset)
    assert cfg.dataset.path == "p.jsonl"
    assert (
        ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", "dataset": "builtin"}).dataset.kind
        == "builtin"
    )


def test_vllm_quantization_needs_half_precision() -> None:
    with pytest.raises(ValidationError, match="needs precision fp16 or bf16"):
        ExperimentConfig.model_validate(
            {"model": "m", "backend": "vllm", "precision": "fp32", "vllm": {"quantization": "awq"}}
        )


def test_relative_dataset_path_resolves_from_config_dir(tmp_path) -> None:
    cfg = ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", "dataset": "d/p.jsonl"})
    resolved = cfg.with_resolved_paths(tmp_path)
    assert resolved.dataset.path == str(tmp_path / "d" / "p.jsonl")  # type: ignore[union-attr]


def test_server_scenario_defaults_and_pytorch_is_refused() -> None:
    from llenergymeasure.config.experiment import ExperimentConfig, ServerScenario

    c = ExperimentConfig(model="llem/tiny-llama", backend="vllm", scenario={"kind": "server", "concurrency": 4})
    assert isinstance(c.scenario, ServerScenario)
    assert (c.scenario.concurrency, c.scenario.request_rate, c.scenario.slo.ttft_ms) == (4, None, None)
    with pytest.raises(ValueError, match="backend pytorch runs offline only: set backend: vllm"):
        ExperimentConfig(model="llem/tiny-llama", backend="pytorch", scenario={"kind": "server"})
    with pytest.raises(ValueError, match="'offline', 'server'"):
        ExperimentConfig(model="m", backend="vllm", scenario={"kind": "batch"})


def test_offline_scenario_keeps_every_older_hash_and_server_changes_it() -> None:
    from llenergymeasure.config.experiment import ExperimentConfig
    from llenergymeasure.config.identity import config_hash, identity

    plain = ExperimentConfig(model="m", backend="vllm")
    explicit = ExperimentConfig(model="m", backend="vllm", scenario={"kind": "offline"})
    served = ExperimentConfig(model="m", backend="vllm", scenario={"kind": "server"})
    assert "scenario" not in identity(plain)
    assert config_hash(plain) == config_hash(explicit)
    assert config_hash(served) != config_hash(plain)


def test_thermal_settle_s_is_refused_with_its_replacement_named(tmp_path) -> None:
    from llenergymeasure.config.loader import load_experiment
    from llenergymeasure.errors import ConfigError

    path = tmp_path / "e.yaml"
    path.write_text("model: m\nbackend: pytorch\nwarmup: {n_runs: 0, thermal_settle_s: 5}\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(err.value) == (
        f"{path}:3: warmup: thermal_settle_s was removed (an idle pause cools the GPU it meant to settle); "
        "use warmup.until_settled: true"
    )
    # Its old default, a no-op, is what every unit config an older llem wrote spells out: it still loads.
    path.write_text("model: m\nbackend: pytorch\nwarmup: {n_runs: 0, thermal_settle_s: 0.0}\n")
    assert load_experiment(path).warmup == ExperimentConfig(model="m", backend="pytorch", warmup={"n_runs": 0}).warmup


def test_warmup_until_settled_defaults() -> None:
    warmup = ExperimentConfig(model="m", backend="pytorch").warmup
    assert (warmup.until_settled, warmup.settle_window_s, warmup.settle_max_drift_c) == (False, 30.0, 1.0)
    assert (warmup.settle_max_power_change, warmup.settle_max_s) == (0.05, 600.0)


def test_concurrency_unset_is_one_client_closed_loop_and_no_cap_open_loop() -> None:
    from llenergymeasure.config.experiment import ServerScenario

    closed = ServerScenario()
    assert (closed.concurrency, closed.open_loop, closed.max_in_flight) == (None, False, 1)
    opened = ServerScenario(request_rate=8.0)
    assert (opened.concurrency, opened.open_loop, opened.max_in_flight) == (None, True, None)
    capped = ServerScenario(request_rate=8.0, concurrency=4)
    assert (capped.open_loop, capped.max_in_flight) == (True, 4)
    assert ServerScenario(concurrency=4).max_in_flight == 4
    assert (opened.burstiness, opened.arrival_schedule) == (1.0, "per_cycle")


def test_burstiness_without_a_rate_is_refused_naming_the_fix() -> None:
    from pydantic import ValidationError

    from llenergymeasure.config.errors import format_validation_error
    from llenergymeasure.config.experiment import ExperimentConfig

    with pytest.raises(ValidationError) as err:
        ExperimentConfig.model_validate(
            {"model": "m", "backend": "vllm", "scenario": {"kind": "server", "burstiness": 0.5}}
        )
    assert format_validation_error(err.value, ExperimentConfig, None).endswith(
        "burstiness: 0.5 needs scenario.request_rate (a closed loop has no gaps between arrivals to shape); "
        "set request_rate or remove burstiness"
    )
    ok = ExperimentConfig.model_validate(
        {"model": "m", "backend": "vllm", "scenario": {"kind": "server", "burstiness": 0.5, "request_rate": 2.0}}
    )
    assert ok.scenario.burstiness == 0.5  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="arrival_schedule"):
        ExperimentConfig.model_validate(
            {"model": "m", "backend": "vllm", "scenario": {"kind": "server", "arrival_schedule": "once"}}
        )


def test_server_warmup_reaches_the_measured_shape() -> None:
    def warm(scenario: dict[str, object], **over: object) -> int:
        data: dict[str, object] = {"model": "m", "backend": "vllm", "n_prompts": 40, "scenario": scenario, **over}
        return ExperimentConfig.model_validate(data).server_warmup_requests()

    assert warm({"kind": "server"}) == 2  # a closed loop of 1
    assert warm({"kind": "server", "concurrency": 8}) == 16
    assert warm({"kind": "server", "request_rate": 5.0}) == 80  # uncapped: every prompt may be in flight
    assert warm({"kind": "server", "request_rate": 5.0}, vllm={"max_num_seqs": 16}) == 32
    assert warm({"kind": "server", "concurrency": 8, "warmup_requests": 3}) == 3
    assert warm({"kind": "offline"}) == 0


def test_unbounded_floats_are_refused() -> None:
    cases: list[tuple[dict[str, object], tuple[str, ...]]] = [
        ({"decoding": {"repetition_penalty": float("inf")}}, ("decoding", "repetition_penalty")),
        ({"backend": "vllm", "scenario": {"kind": "server", "slo": {"ttft_ms": float("inf")}}}, ("slo", "ttft_ms")),
        ({"backend": "vllm", "scenario": {"kind": "server", "slo": {"tpot_ms": float("nan")}}}, ("slo", "tpot_ms")),
    ]
    for over, tail in cases:
        with pytest.raises(ValidationError) as info:
            ExperimentConfig.model_validate({"model": "m", "backend": "pytorch", **over})
        assert [(e["type"], e["loc"][-2:]) for e in info.value.errors()] == [("less_than_equal", tail)]
