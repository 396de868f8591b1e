"""Dotted-path views of nested data (``pytorch.batch_size``), shared by planning and results."""

from __future__ import annotations

from typing import Any


def flatten(data: dict[str, Any], prefix: str = "", join_lists: bool = False) -> dict[str, Any]:
    """Nested dicts to dotted keys; with ``join_lists`` lists become comma-joined text (scalar cells)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + ".", join_lists))
        elif join_lists and isinstance(value, (list, tuple)):
            out[name] = ",".join(map(str, value))
        else:
            out[name] = value
    return out


def varying_keys(flats: list[dict[str, Any]], prefix: str = "") -> list[str]:
    """Keys (starting with ``prefix``) whose values differ where present: the swept dimensions.

    A key present only in some dicts (one backend's section) varies only if its present values differ.
    """
    keys: list[str] = []
    for flat in flats:
        keys.extend(k for k in flat if k.startswith(prefix) and k not in keys)
    return [k for k in keys if len({repr(f[k]) for f in flats if k in f}) > 1]
