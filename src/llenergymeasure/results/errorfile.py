"""The error file a failed unit leaves instead of a result: one model, written by ``llem-exp``, read by the host."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llenergymeasure.atomic import write_json_atomic


class UnitError(BaseModel):
    """Why a unit failed: the exception's type, its one-line message, and the traceback text."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    error_type: str = Field(description="The exception's class name (ConfigError, OutOfMemoryError, ...).")
    error_message: str = Field(description="What went wrong, as the user should read it.")
    traceback: str = Field("", description="The traceback text, for --debug and bug reports.")

    @classmethod
    def from_exception(cls, exc: BaseException, message: str) -> UnitError:
        """The error file of ``exc`` being handled now (its traceback is the current one)."""
        return cls(error_type=type(exc).__name__, error_message=message, traceback=traceback.format_exc())

    def write(self, path: Path) -> None:
        """Write atomically and durably; raises OSError (a full disk) for the caller to report."""
        write_json_atomic(path, self.model_dump(mode="json"))

    @classmethod
    def read(cls, path: Path) -> UnitError | None:
        """The error file at ``path``; None when there is none or it cannot be read as one."""
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError, ValidationError):
            return None
