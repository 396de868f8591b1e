"""TensorRT-LLM's OpenAI-compatible server (``trtllm-serve``) for scenario.kind: server.

Flags as TensorRT-LLM 1.2's ``trtllm-serve`` spells them (``tensorrt_llm/commands/serve.py``);
not run here (no GPU), so a GPU run must confirm them.
"""

from __future__ import annotations

from typing import Any

from llenergymeasure.backends.trtllm.config import TrtllmConfig
from llenergymeasure.config.experiment import ExperimentConfig


def server_argv(config: ExperimentConfig, model_path: str, host: str, port: int) -> list[str]:
    """The ``trtllm-serve`` command serving ``model_path`` on ``host:port`` with the trtllm section's settings."""
    settings = config.backend_section()
    assert isinstance(settings, TrtllmConfig)
    argv = ["trtllm-serve", "serve", model_path, "--host", host, "--port", str(port)]
    argv += ["--tp_size", str(settings.tensor_parallel_size), "--max_batch_size", str(settings.max_batch_size)]
    argv += ["--max_seq_len", str(config.max_input_tokens + config.max_output_tokens)]
    argv += ["--kv_cache_free_gpu_memory_fraction", str(settings.kv_cache_free_gpu_memory_fraction)]
    if settings.max_num_tokens is not None:
        argv += ["--max_num_tokens", str(settings.max_num_tokens)]
    return argv


def request_extras(config: ExperimentConfig) -> dict[str, Any]:
    """Completion body fields; ``ignore_eos`` and ``top_k`` are TensorRT-LLM extensions of the OpenAI body."""
    d = config.decoding
    body: dict[str, Any] = {
        "max_tokens": config.max_output_tokens,
        "ignore_eos": config.ignores_eos(),
        "seed": config.seed,
    }
    if d.do_sample:
        body.update(temperature=d.temperature, top_p=d.top_p)
        if d.top_k:
            body["top_k"] = d.top_k
    else:
        body.update(temperature=0.0, top_k=1)
    return body
