"""Loguru setup; called only by the two entrypoints (``llem`` and ``llem-exp``)."""

from __future__ import annotations

import sys

from loguru import logger

FORMAT = "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> <cyan>{extra[unit]}</cyan>{message}"


def configure(level: str = "INFO", unit: str = "") -> None:
    """Log to stderr (looked up at write time, so progress bars can redirect it) with a unit prefix."""
    logger.remove()
    logger.configure(extra={"unit": f"[{unit}] " if unit else ""})
    logger.add(_to_stderr, level=level, format=FORMAT, colorize=sys.stderr.isatty())


def _to_stderr(message: str) -> None:
    sys.stderr.write(message)
