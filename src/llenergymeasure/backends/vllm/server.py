"""vLLM's OpenAI-compatible server (``vllm.entrypoints.openai.api_server``) for scenario.kind: server.

The same settings as the offline engine (``engine_kwargs``), spelled as vLLM 0.3x's command-line
flags, so an offline and a server experiment of one config run the same engine.
"""

from __future__ import annotations

import sys
from typing import Any

from llenergymeasure.backends.vllm.config import VllmConfig
from llenergymeasure.backends.vllm.runner import engine_kwargs
from llenergymeasure.config.experiment import ExperimentConfig

# engine_kwargs keys that are switches on the command line (--x / --no-x).
_SWITCHES = ("enforce_eager", "enable_prefix_caching", "enable_chunked_prefill")


def server_argv(config: ExperimentConfig, model_path: str, host: str, port: int) -> list[str]:
    """The command that serves ``model_path`` as ``config.model`` on ``host:port``.

    ``--enable-per-request-metrics`` makes the final stream chunk carry the server's queue time;
    the access log is off (one line per request would be most of the log).
    """
    settings = config.backend_section()
    assert isinstance(settings, VllmConfig)
    kwargs: dict[str, Any] = engine_kwargs(config, settings, model_path)
    kwargs.pop("disable_log_stats")  # the server keeps stats unless told otherwise
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    argv += ["--served-model-name", config.model, "--host", host, "--port", str(port)]
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if key in _SWITCHES:
            argv.append(flag if value else f"--no-{flag[2:]}")
        else:
            argv += [flag, str(value)]
    argv += ["--enable-per-request-metrics", "--disable-uvicorn-access-log"]
    return argv


def request_extras(config: ExperimentConfig) -> dict[str, Any]:
    """VLLM's extensions of the completions body: ``ignore_eos`` (and top_k, repetition penalty)."""
    d = config.decoding
    body: dict[str, Any] = {
        "max_tokens": config.max_output_tokens,
        "ignore_eos": config.ignores_eos(),
        "seed": config.seed,
        "repetition_penalty": d.repetition_penalty,
    }
    if d.do_sample:
        body.update(temperature=d.temperature, top_p=d.top_p, top_k=d.top_k or 0)
    else:
        body.update(temperature=0.0, top_p=1.0, top_k=0)
    return body
