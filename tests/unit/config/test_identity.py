from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash, design_hash, identity, stable_hash


def test_stable_hash_ignores_key_order_and_is_16_hex() -> None:
    a = stable_hash({"a": 1, "b": [1, 2]})
    assert a == stable_hash({"b": [1, 2], "a": 1})
    assert len(a) == 16
    assert int(a, 16) >= 0


def test_config_hash_changes_with_any_field() -> None:
    base = ExperimentConfig(model="m", backend="pytorch")
    assert config_hash(base) == config_hash(ExperimentConfig(model="m", backend="pytorch"))
    assert config_hash(base) != config_hash(ExperimentConfig(model="m", backend="pytorch", seed=1))


def test_config_hash_is_pinned() -> None:
    # A changed value here means every existing campaign's identity changed: bump deliberately.
    assert config_hash(ExperimentConfig(model="m", backend="pytorch")) == PINNED


def test_design_hash_is_order_and_duplicate_independent() -> None:
    assert design_hash(["b", "a"]) == design_hash(["a", "b", "a"])
    assert design_hash(["a"]) != design_hash(["a", "b"])


# Bumped for issue 21: the differential split (energy.split_output_tokens), the default window
# (energy.min_window_s None), warmup until settled (thermal_settle_s out), open-loop scenarios and
# trtllm.enable_block_reuse. Earlier: the baseline moved to the loaded state.
PINNED = "3fa834112025384e"


def test_every_field_is_part_of_the_hash_at_any_value() -> None:
    # No field is left out at its default: a new field is a new design, as is a changed default.
    default = ExperimentConfig(model="m", backend="pytorch", energy={"min_window_s": None})  # type: ignore[arg-type]
    zero = ExperimentConfig(model="m", backend="pytorch", energy={"min_window_s": 0})  # type: ignore[arg-type]
    on = ExperimentConfig(model="m", backend="pytorch", energy={"min_window_s": 5})  # type: ignore[arg-type]
    assert config_hash(default) == PINNED
    assert identity(default)["energy"]["min_window_s"] is None
    assert identity(zero)["energy"]["min_window_s"] == 0.0
    assert [config_hash(zero) != PINNED, config_hash(on) != PINNED] == [True, True]


def test_inert_fields_hash_as_their_defaults() -> None:
    # Greedy decoding ignores temperature: both configs measure the same thing, so they are one experiment.
    greedy = ExperimentConfig(model="m", backend="pytorch", decoding={"temperature": 0.7})  # type: ignore[arg-type]
    assert config_hash(greedy) == PINNED
    assert identity(greedy)["decoding"]["temperature"] == 1.0
    sampled = ExperimentConfig(model="m", backend="pytorch", decoding={"do_sample": True, "temperature": 0.7})  # type: ignore[arg-type]
    sampled_default = ExperimentConfig(model="m", backend="pytorch", decoding={"do_sample": True})  # type: ignore[arg-type]
    assert config_hash(sampled) != config_hash(sampled_default)
    assert identity(sampled)["decoding"]["temperature"] == 0.7
