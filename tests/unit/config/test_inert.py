from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.inert import RULES, default_of, inert_fields


def test_default_config_has_the_inert_fields_of_its_defaults() -> None:
    config = ExperimentConfig(model="m", backend="pytorch")
    assert list(inert_fields(config)) == [
        "decoding.temperature",
        "decoding.top_p",
        "decoding.top_k",
        "warmup.max_runs",
        "warmup.cv_threshold",
        "warmup.window",
        "warmup.settle_window_s",
        "warmup.settle_max_drift_c",
        "warmup.settle_max_power_change",
        "warmup.settle_max_s",
    ]


def test_each_rule_names_the_field_that_makes_it_inert() -> None:
    config = ExperimentConfig.model_validate(
        {
            "model": "m",
            "backend": "vllm",
            "decoding": {"do_sample": True},
            "energy": {"prefill_split": False},
            "baseline": {"enabled": False},
            "warmup": {"mode": "cv", "until_settled": True},
            "scenario": {"kind": "server"},
            "vllm": {"kv_cache_memory_bytes": 2**20},
        }
    )
    found = {path: rule.reason for path, rule in inert_fields(config).items()}
    assert found == {
        "energy.split_output_tokens": "energy.prefill_split is false",
        "baseline.duration_s": "baseline.enabled is false",
        "baseline.sub_windows": "baseline.enabled is false",
        "scenario.arrival_schedule": "no arrivals are drawn (scenario.request_rate unset, or a trace replayed)",
        "vllm.gpu_memory_utilization": "vllm.kv_cache_memory_bytes is set",
    }


def test_every_rule_field_exists_and_has_a_default() -> None:
    config = ExperimentConfig.model_validate(
        {"model": "m", "backend": "vllm", "scenario": {"kind": "server"}, "vllm": {}}
    )
    paths = [p for rule in RULES for p in rule.fields]
    assert len(paths) == len(set(paths))
    for path in paths:
        default_of(config, path)  # raises KeyError/AttributeError for a misspelt path
    assert default_of(config, "vllm.gpu_memory_utilization") == 0.9
