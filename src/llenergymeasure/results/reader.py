"""Reading result files back, with every kind of damage reported rather than raised blindly."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from llenergymeasure import RESULT_SCHEMA_VERSION
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash as hash_of
from llenergymeasure.results.schema import ExperimentResult


class InvalidResultError(Exception):
    """A result file is missing, unparsable, of another schema, or for another unit."""


class IdentityMismatchError(InvalidResultError):
    """A result's own config does not hash to the identity it was filed under: it measured something else."""


def read_result(path: Path, config_hash: str | None = None, cycle: int | None = None) -> ExperimentResult:
    """Parse and check a result file; with ``config_hash``/``cycle`` also check it is that unit's.

    With ``config_hash`` the identity is derived again from the config the result carries (this
    llem's defaults filled in): a result measured under other defaults (another llem version in the
    image) or from an edited unit config raises ``IdentityMismatchError``, whatever hash it claims.
    """
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
    if config_hash is not None:
        problem = identity_problem(result, config_hash)
        if problem:
            raise IdentityMismatchError(f"{path.name}: {problem}")
    return result


def identity_problem(result: ExperimentResult, config_hash: str) -> str | None:
    """Why the config a result carries is not ``config_hash`` as this llem derives it; None if it is."""
    try:
        derived = hash_of(ExperimentConfig.model_validate(result.config))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"])) or "config"
        return f"its config is not valid for this llem (config.{where}: {err['msg']}), so it cannot be {config_hash}"
    if derived != config_hash:
        return (
            f"its config hashes to {derived}, not {config_hash} "
            "(measured under another llem version's defaults or an edited unit config)"
        )
    return None
