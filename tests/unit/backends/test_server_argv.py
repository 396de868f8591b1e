"""The server commands and request bodies each backend's server mode builds (pure)."""

from __future__ import annotations

import sys

import pytest

from llenergymeasure.backends.registry import load_server_module
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.errors import BackendError


def server_config(backend: str, **over: object) -> ExperimentConfig:
    data: dict[str, object] = {"model": "llem/tiny-llama", "backend": backend, "scenario": {"kind": "server"}}
    data.update(over)
    return ExperimentConfig.model_validate(data)


def test_vllm_server_gets_the_offline_engine_settings_as_flags() -> None:
    from llenergymeasure.backends.vllm.server import server_argv

    c = server_config("vllm", precision="fp32", vllm={"enforce_eager": True, "max_num_seqs": 8})
    argv = server_argv(c, "/m", "127.0.0.1", 8123)
    assert argv[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    flags = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert flags["--served-model-name"] == "llem/tiny-llama"
    assert (flags["--model"], flags["--dtype"], flags["--port"], flags["--max-num-seqs"]) == (
        "/m",
        "float32",
        "8123",
        "8",
    )
    assert flags["--kv-cache-memory-bytes"] == str(64 * 2**20)  # the tiny model's bound, as offline
    assert "--enforce-eager" in argv
    assert "--no-enable-prefix-caching" in argv
    assert argv[-2:] == ["--enable-per-request-metrics", "--disable-uvicorn-access-log"]
    assert "--disable-log-stats" not in argv


def test_vllm_body_is_greedy_with_ignore_eos_and_the_seed() -> None:
    from llenergymeasure.backends.vllm.server import request_extras

    body = request_extras(server_config("vllm", max_output_tokens=16, seed=7))
    assert body == {
        "max_tokens": 16,
        "ignore_eos": True,
        "seed": 7,
        "repetition_penalty": 1.0,
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": 0,
    }


def test_trtllm_serve_command_and_body() -> None:
    from llenergymeasure.backends.trtllm.server import request_extras, server_argv

    c = server_config("trtllm", trtllm={"max_batch_size": 16, "max_num_tokens": 2048})
    assert server_argv(c, "/m", "127.0.0.1", 9000) == [
        "trtllm-serve", "serve", "/m", "--host", "127.0.0.1", "--port", "9000",
        "--tp_size", "1", "--max_batch_size", "16", "--max_seq_len", "576",
        "--kv_cache_free_gpu_memory_fraction", "0.9", "--max_num_tokens", "2048",
    ]  # fmt: skip
    assert request_extras(c) == {"max_tokens": 64, "ignore_eos": True, "seed": 42, "temperature": 0.0, "top_k": 1}


def test_a_backend_without_a_server_is_named_with_those_that_have_one() -> None:
    with pytest.raises(BackendError, match="backend 'pytorch' has no server mode; server backends: vllm, trtllm"):
        load_server_module("pytorch")
