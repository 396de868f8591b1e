"""Where a model comes from, checked before anything is measured.

A campaign names each model once, but every unit would otherwise find out on its own that a Hub id
is misspelled: after transformers' retries (tens of seconds) and with a traceback. ``model_problem``
answers in seconds, once per model: a built-in tiny model is always there, a local folder must
exist, and a Hub id must be in the local Hugging Face cache or, where the network is allowed, be
known to the Hub (one metadata request with a short timeout and no retries).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from llenergymeasure.models.tiny import TINY_MODELS, is_tiny, unknown_builtin

ModelKind = Literal["builtin", "path", "hub", "invalid"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_TRUE = ("1", "true", "yes", "on")
HUB_TIMEOUT_S = 5.0


def classify(model: str, exists: bool) -> ModelKind:
    """What ``model`` names; ``exists``: whether it is an existing path on this machine. Pure."""
    if is_tiny(model):
        return "builtin"
    if exists or model.startswith(("/", "./", "../", "~")):
        return "path"
    if _HUB_ID.match(model) and ".." not in model and not model.endswith((".", "-")):
        return "hub"
    return "invalid"


def hub_offline(environ: Mapping[str, str]) -> bool:
    """Whether the Hugging Face libraries are told not to use the network."""
    return any(environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def model_problem(
    model: str, environ: Mapping[str, str] | None = None, cache_dir: str | None = None, timeout_s: float = HUB_TIMEOUT_S
) -> str | None:
    """One line saying why ``model`` cannot be loaded here, with the fix; None when it can."""
    env = os.environ if environ is None else environ
    kind = classify(model, Path(model).expanduser().exists())
    if kind == "builtin":
        return None
    if kind != "path" and (hint := unknown_builtin(model)):
        return hint
    if kind == "path":
        path = Path(model).expanduser()
        if not path.is_dir():
            known = ", ".join(TINY_MODELS)
            return f"model {model}: no such folder; give an existing model folder, a Hub id or one of {known}"
        return None
    if kind == "invalid":
        return (
            f"model {model}: neither an existing folder nor a Hugging Face Hub id (org/name); "
            f"check the spelling, or use one of {', '.join(TINY_MODELS)}"
        )
    if _cached(model, cache_dir):
        return None
    fetch = f"download it where the network is reachable (`hf download {model}`)"
    if hub_offline(env):
        return (
            f"model {model}: not in the Hugging Face cache and HF_HUB_OFFLINE is set; {fetch}, or unset HF_HUB_OFFLINE"
        )
    return _hub_problem(model, env, timeout_s, fetch)


def _cached(model: str, cache_dir: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "config.json", cache_dir=cache_dir)
    return isinstance(found, str)


def _hub_problem(model: str, env: Mapping[str, str], timeout_s: float, fetch: str) -> str | None:
    """One metadata request (and a file request for a gated model), no retries: a bad model named at once.

    A gated model's metadata is public, so only asking for a file tells whether this token may
    download it.
    """
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    endpoint = env.get("HF_ENDPOINT") or None
    token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
    gated = (
        f"model {model}: gated on the Hub; accept its licence at {endpoint or 'https://huggingface.co'}/{model} "
        "and set HF_TOKEN to a token of the account that accepted it"
    )
    try:
        info = HfApi(endpoint=endpoint, token=token).model_info(model, timeout=timeout_s)
        if info.gated:  # the metadata of a gated model is public; its files are not: ask for one
            url = hf_hub_url(model, "config.json", endpoint=endpoint)
            get_hf_file_metadata(url, token=token, timeout=timeout_s, endpoint=endpoint)
    except GatedRepoError:
        return gated
    except RepositoryNotFoundError:
        return f"model {model}: not found on the Hugging Face Hub (or private: set HF_TOKEN); check the spelling"
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        return f"model {model}: the Hub answered HTTP {status}; {fetch}, or retry later"
    except Exception as exc:  # network: DNS, refused, timeout (httpx/requests errors differ by version)
        where = endpoint or "huggingface.co"
        why = type(exc).__name__
        return f"model {model}: not in the Hugging Face cache and {where} cannot be reached ({why}); {fetch}"
    return None
