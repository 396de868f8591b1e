"""A replayed trace (``scenario.replay``): one request per JSON line, due at its time after the first.

Reading is the only I/O; ``parse_trace`` is pure, so every rule (field names, units, scaling,
the errors' wording) is tested on plain lines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llenergymeasure.config.load import INPUT_FIELDS, OUTPUT_FIELDS, PROMPT_FIELDS, TIME_FIELDS, TraceReplay
from llenergymeasure.errors import ConfigError


@dataclass(frozen=True)
class TraceRequest:
    """One line of a trace: its due time after the trace's first arrival (scaled), its prompt and lengths.

    ``prompt`` is text, or None where the line gives only ``input_tokens`` (synthetic ids are drawn
    for it). ``output_tokens`` None: the experiment's ``max_output_tokens``.
    """

    offset_s: float
    prompt: str | None
    input_tokens: int | None
    output_tokens: int | None


def _pick(obj: dict[str, Any], named: str | None, aliases: Sequence[str]) -> tuple[str | None, Any]:
    if named is not None:
        return (named, obj[named]) if named in obj else (None, None)
    for key in aliases:
        if key in obj:
            return key, obj[key]
    return None, None


def _count(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ConfigError(f"{where}: {key} {value!r} is not a positive whole number of tokens; fix the line")
    return int(value)


def parse_trace(lines: Sequence[str], replay: TraceReplay, where: str) -> list[TraceRequest]:
    """Every non-blank line as a request, in file order; offsets from the earliest time, times ``time_scale``."""
    scale = replay.time_scale / (1000.0 if replay.time_unit == "ms" else 1.0)
    rows: list[tuple[float, str | None, int | None, int | None]] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        at = f"{where}:{n}"
        try:
            obj = json.loads(line)
        except ValueError:
            raise ConfigError(f"{at}: not valid JSON; each line of a trace is one object") from None
        if not isinstance(obj, dict):
            raise ConfigError(f"{at}: not a JSON object; each line of a trace is one object")
        time_key, t = _pick(obj, replay.time_field, TIME_FIELDS)
        if time_key is None:
            wanted = replay.time_field or " or ".join(TIME_FIELDS)
            raise ConfigError(f"{at}: no arrival time ({wanted}); set scenario.replay.time_field to its key")
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise ConfigError(f"{at}: {time_key} {t!r} is not a number; arrival times are numbers")
        prompt_key, prompt = _pick(obj, replay.prompt_field, PROMPT_FIELDS)
        input_key, n_in = _pick(obj, replay.input_field, INPUT_FIELDS)
        if prompt_key is not None and not isinstance(prompt, str):
            raise ConfigError(f"{at}: {prompt_key} is not text")
        if prompt_key is None and input_key is None:
            raise ConfigError(
                f"{at}: neither a prompt ({' or '.join(PROMPT_FIELDS)}) nor an input length "
                f"({' or '.join(INPUT_FIELDS)}); set scenario.replay.prompt_field or input_field"
            )
        output_key, n_out = _pick(obj, replay.output_field, OUTPUT_FIELDS)
        rows.append(
            (
                float(t),
                prompt if prompt_key is not None else None,
                _count(n_in, at, str(input_key)) if prompt_key is None else None,
                _count(n_out, at, str(output_key)) if output_key is not None and n_out is not None else None,
            )
        )
    if not rows:
        raise ConfigError(f"{where}: the trace has no requests")
    first = min(r[0] for r in rows)
    return [TraceRequest((t - first) * scale, p, i, o) for t, p, i, o in rows]


def read_trace(replay: TraceReplay) -> list[TraceRequest]:
    """The trace file's requests (``parse_trace``); one error line naming the file when it cannot be read."""
    path = Path(replay.path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: trace unreadable ({exc.strerror or exc}); fix scenario.replay.path") from None
    return parse_trace(text.splitlines(), replay, str(path))
