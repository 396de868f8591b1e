"""Randomly initialised models with the shape of real ones, for measuring on machines with no network.

Energy and throughput depend on a model's shape (layers, widths, heads, vocabulary), not on its
trained weights, as long as every run generates the same number of tokens (``ignore_eos``, the
default). So a GPU can be validated offline with a model of Llama-3.2-1B's exact shape built here,
seeded, in seconds. Its tokenizer is the tiny models' small BPE: prompt ids stay below its size,
and generated ids are counted, never decoded, so the full 128k-entry embedding and output layer
(a large share of a 1B model's work) are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llenergymeasure.models.tiny import special_token_ids, train_tokenizer

# Llama-3.2-1B's published config.json, less the long-context rope scaling (positions here stay
# far below 8192, where the scaling changes nothing of the work done).
LLAMA_1B_SHAPE: dict[str, Any] = {
    "vocab_size": 128256,
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "rope_theta": 500000.0,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
    "max_position_embeddings": 8192,
}


# The same family cut down to two narrow layers (vocabulary kept): a smoke run of the GPU kit on a
# machine without a GPU, and in its test, in seconds.
SMOKE_SHAPE: dict[str, Any] = {
    **LLAMA_1B_SHAPE,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 32,
}
SHAPES: dict[str, dict[str, Any]] = {"llama-1b": LLAMA_1B_SHAPE, "smoke": SMOKE_SHAPE}


def build_random_llama(out: Path, shape: dict[str, Any] | None = None, device: str = "cpu") -> int:
    """Save a seeded random Llama of ``shape`` (default: 1B) in bf16 into ``out``; return its parameter count.

    ``device`` is where the weights are initialised: on a GPU a 1B model is initialised in well
    under a second instead of tens of seconds on a CPU.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer()
    config = LlamaConfig(**(shape or LLAMA_1B_SHAPE), **special_token_ids(tokenizer))
    torch.manual_seed(0)
    with torch.device(device):
        net = LlamaForCausalLM(config).to(torch.bfloat16)
    n_params = int(sum(p.numel() for p in net.parameters()))
    net.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del net
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return n_params
