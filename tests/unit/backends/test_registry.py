"""The backend registry: one row per backend, and every former table read from it."""

from __future__ import annotations

from typing import get_args

import pytest

from llenergymeasure.backends.base import PassRunner
from llenergymeasure.backends.pytorch.config import PyTorchConfig
from llenergymeasure.backends.registry import (
    REGISTRY,
    SERVICES,
    BackendName,
    BackendRegistry,
    BackendSpec,
    backend_names,
    engine_module,
    load_server_module,
    metrics_path,
    spec,
    warm_imports,
)
from llenergymeasure.backends.trtllm.config import TrtllmConfig
from llenergymeasure.backends.vllm.config import VllmConfig
from llenergymeasure.config.experiment import BACKEND_SECTIONS, SERVER_BACKENDS, ExperimentConfig
from llenergymeasure.errors import BackendError

HARNESS = ("llenergymeasure.experiment.entrypoint", "llenergymeasure.experiment.runner", "torch", "transformers")

EXPECTED = {
    "pytorch": BackendSpec(
        name="pytorch",
        config_model=PyTorchConfig,
        runner="llenergymeasure.backends.pytorch.runner:PyTorchRunner",
        server=None,
        engine="transformers",
        service="pytorch",
        warm=(
            *HARNESS,
            "llenergymeasure.backends.pytorch.runner",
            "transformers.modeling_utils",
            "transformers.modeling_layers",
            "transformers.activations",
            "transformers.generation.utils",
            "transformers.models.auto.modeling_auto",
            "transformers.models.auto.tokenization_auto",
            "transformers.models.llama.modeling_llama",
        ),
        metrics_path=None,
    ),
    "vllm": BackendSpec(
        name="vllm",
        config_model=VllmConfig,
        runner="llenergymeasure.backends.vllm.runner:VllmRunner",
        server="llenergymeasure.backends.vllm.server",
        engine="vllm",
        service="vllm",
        warm=HARNESS,
        metrics_path="/metrics",
    ),
    "trtllm": BackendSpec(
        name="trtllm",
        config_model=TrtllmConfig,
        runner="llenergymeasure.backends.trtllm.runner:TrtllmRunner",
        server="llenergymeasure.backends.trtllm.server",
        engine="tensorrt_llm",
        service="trtllm",
        warm=HARNESS,
        metrics_path=None,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_field_of_each_row(name: str) -> None:
    assert spec(name) == EXPECTED[name]


def test_names_in_order_and_the_literal_agrees() -> None:
    assert backend_names() == ["pytorch", "vllm", "trtllm"]
    assert list(get_args(BackendName)) == backend_names()


def test_former_tables_are_read_from_the_rows() -> None:
    assert BACKEND_SECTIONS == ("pytorch", "vllm", "trtllm")
    assert SERVER_BACKENDS == ("vllm", "trtllm")
    assert SERVICES == {"pytorch": "pytorch", "vllm": "vllm", "trtllm": "trtllm"}
    assert [engine_module(n) for n in backend_names()] == ["transformers", "vllm", "tensorrt_llm"]
    assert engine_module("tgi") == "tgi"
    assert [metrics_path(n) for n in backend_names()] == [None, "/metrics", None]
    assert warm_imports("vllm") == HARNESS
    assert warm_imports("tgi") == HARNESS
    assert ExperimentConfig.model_fields.keys() >= set(backend_names())


def test_a_duplicate_name_is_refused() -> None:
    registry = BackendRegistry([EXPECTED["vllm"]])
    with pytest.raises(BackendError) as err:
        registry.register(EXPECTED["vllm"])
    assert str(err.value) == "backend 'vllm' is already registered"
    assert registry.names() == ["vllm"]


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(BackendError) as err:
        REGISTRY.get("tgi")
    assert str(err.value) == "unknown backend 'tgi'; valid: pytorch, vllm, trtllm"
    with pytest.raises(BackendError) as err:
        metrics_path("sglang")
    assert str(err.value) == "unknown backend 'sglang'; valid: pytorch, vllm, trtllm"


def test_server_modules_load_and_offline_backends_say_which_have_one() -> None:
    assert callable(load_server_module("trtllm").server_argv)
    with pytest.raises(BackendError) as err:
        load_server_module("pytorch")
    assert str(err.value) == "backend 'pytorch' has no server mode; server backends: vllm, trtllm"


class _VllmLike(PassRunner[VllmConfig]):
    name = "vllm"


def test_pass_runner_takes_the_section_once_and_checks_it() -> None:
    config = ExperimentConfig.model_validate({"model": "m", "backend": "vllm", "vllm": {"max_num_seqs": 8}})
    runner = _VllmLike(config)
    assert runner.config is config
    assert runner.settings == VllmConfig(max_num_seqs=8)
    other = ExperimentConfig.model_validate({"model": "m", "backend": "pytorch"})
    with pytest.raises(BackendError) as err:
        _VllmLike(other)
    assert str(err.value) == (
        "_VllmLike runs backend 'vllm' with VllmConfig settings; this config is for backend 'pytorch' (PyTorchConfig)"
    )
