"""Built-in tiny models (``llem/tiny-llama``, ``llem/tiny-gpt2``), built locally, never downloaded.

A randomly initialised model of real architecture plus a BPE tokenizer trained on the built-in
prompts: enough to exercise the whole measurement path on a CPU in well under a second, offline.
The build is seeded, so every machine gets the same weights; it is cached and published by
renaming a finished temp directory, so concurrent builders never see half a model.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

TINY_MODELS = ("llem/tiny-llama", "llem/tiny-gpt2")
_BUILD_VERSION = "v2"  # v2: head size 32 (2 heads), one vLLM's CPU attention kernels accept
_VOCAB = 512


def is_tiny(model: str) -> bool:
    """Whether ``model`` names a built-in tiny model."""
    return model in TINY_MODELS


def unknown_builtin(model: str) -> str | None:
    """The hint for a name in the built-ins' ``llem/`` namespace that is none of them, else None. Pure."""
    if is_tiny(model) or not model.lower().startswith("llem/"):
        return None
    close = difflib.get_close_matches(model.lower(), TINY_MODELS, n=1, cutoff=0.6)
    if close:
        return f"unknown built-in model {model}; did you mean {close[0]}?"
    return f"unknown built-in model {model}; the built-ins are {', '.join(TINY_MODELS)}"


def cache_root() -> Path:
    """``$LLEM_CACHE_DIR`` or ``~/.cache/llenergymeasure``."""
    env = os.environ.get("LLEM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "llenergymeasure"


def ensure_tiny_model(model: str, root: Path | None = None) -> Path:
    """Path of the built tiny model, building it first if it is not cached yet."""
    if not is_tiny(model):
        raise ValueError(
            unknown_builtin(model) or f"{model!r} is not a built-in tiny model; known: {', '.join(TINY_MODELS)}"
        )
    root = root or cache_root()
    target = root / "models" / f"{model.split('/')[-1]}-{_BUILD_VERSION}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build_tiny_model(model, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # lost a race to a half-built dir: impossible
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_tiny_model(model: str, out: Path) -> None:
    """Train the tokenizer and save a seeded random model of the named architecture into ``out``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    fast = train_tokenizer()
    vocab = len(fast)
    ids = special_token_ids(fast)
    torch.manual_seed(0)
    net: Any
    if model.endswith("llama"):
        llama = LlamaConfig(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,  # head size 32: vLLM's CPU kernels take 32, 64, 80, ... only
            num_key_value_heads=2,
            max_position_embeddings=2048,
            **ids,
        )
        net = LlamaForCausalLM(llama)
    else:
        net = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=64, n_layer=2, n_head=2, n_positions=2048, **ids))
    net.save_pretrained(out)
    fast.save_pretrained(out)


def train_tokenizer() -> Any:
    """A byte-level BPE tokenizer trained on the built-in prompts (deterministic, offline, < 1 s)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from llenergymeasure.experiment.prompts import builtin_prompts

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(builtin_prompts() * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    fast.padding_side = "left"
    return fast


def special_token_ids(tokenizer: Any) -> dict[str, int]:
    """The bos/eos/pad ids a model config needs to agree with its tokenizer."""
    return {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
