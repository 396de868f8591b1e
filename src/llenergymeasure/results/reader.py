"""Reading result files back, with every kind of damage reported rather than raised blindly."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from llenergymeasure import RESULT_SCHEMA_VERSION
from llenergymeasure.results.schema import ExperimentResult


class InvalidResultError(Exception):
    """A result file is missing, unparsable, of another schema, or for another unit."""


def read_result(path: Path, config_hash: str | None = None, cycle: int | None = None) -> ExperimentResult:
    """Parse and check a result file; with ``config_hash``/``cycle`` also check it is that unit's."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidResultError(f"{path.name}: no result file") from None
    except (OSError, ValueError) as exc:
        raise InvalidResultError(f"{path.name}: unreadable or not JSON ({exc})") from None
    if isinstance(raw, dict) and raw.get("schema_version") != RESULT_SCHEMA_VERSION:
        raise InvalidResultError(
            f"{path.name}: result schema {raw.get('schema_version')!r}, expected {RESULT_SCHEMA_VERSION!r}"
        )
    try:
        result = ExperimentResult.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidResultError(f"{path.name}: invalid at {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    if config_hash is not None and result.config_hash != config_hash:
        raise InvalidResultError(f"{path.name}: belongs to config {result.config_hash}, not {config_hash}")
    if cycle is not None and result.cycle != cycle:
        raise InvalidResultError(f"{path.name}: belongs to cycle {result.cycle}, not {cycle}")
    return result
