"""Result file names: flat, predictable, unique within a campaign, and unable to escape their directory."""

from __future__ import annotations

import re
from collections.abc import Iterable

from llenergymeasure.config.experiment import ExperimentConfig

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SHORT_HASH_LEN = 8  # hex digits of the config hash in a result name or a table label


def slug(text: str, max_len: int = 80) -> str:
    """A file-name-safe form of ``text``: no separators, no leading dots, never empty.

    ``meta-llama/Llama-3.1-8B`` → ``meta-llama--Llama-3.1-8B``; ``../../etc`` → ``etc``.
    """
    text = text.replace("\\", "/").replace("/", "--")
    text = _UNSAFE.sub("-", text)
    text = re.sub(r"\.{2,}", ".", text).strip(".-")
    return text[:max_len].rstrip(".-") or "model"


def short_hashes(config_hashes: Iterable[str], min_len: int = SHORT_HASH_LEN) -> dict[str, str]:
    """Each distinct hash's shortest prefix of at least ``min_len`` digits that no other hash starts with.

    Pure. With 8 hex digits two of 10,000 configs share a prefix about once in a hundred campaigns;
    those two (and only those) get as many digits as it takes to tell them apart, so their result
    files and their rows in every table stay apart. A hash never needs more than its full length:
    distinct hashes of equal length differ somewhere.
    """
    ordered = sorted(set(config_hashes))
    out: dict[str, str] = {}
    for i, h in enumerate(ordered):
        # In sorted order the hash sharing the longest prefix with h is one of its two neighbours.
        shared = max((_common_prefix(h, ordered[j]) for j in (i - 1, i + 1) if 0 <= j < len(ordered)), default=0)
        out[h] = h[: max(min_len, shared + 1)]
    return out


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def result_stem(config: ExperimentConfig, config_hash: str, cycle: int, hash_len: int = SHORT_HASH_LEN) -> str:
    """``{model}_{backend}_{precision}_{hash}_c{cycle}``: one flat name per experiment and cycle.

    ``hash_len`` digits of the config hash: 8, unless ``short_hashes`` needs more in this campaign.
    """
    return f"{slug(config.model)}_{config.backend}_{config.precision}_{config_hash[:hash_len]}_c{cycle}"
