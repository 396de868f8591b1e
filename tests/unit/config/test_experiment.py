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
