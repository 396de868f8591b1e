"""Loguru setup; called only by the two entrypoints (``llem`` and ``llem-exp``)."""

from __future__ import annotations

import os
import re
import sys

from loguru import logger

FORMAT = "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> <cyan>{extra[unit]}</cyan>{message}"

# A unit's own line as FORMAT writes it, uncoloured: "12:00:00 WARNING [stem] message". Anything
# else a unit prints (the engine's logging, Python warnings, tracebacks) is engine output.
_UNIT_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<level>[A-Z]+) +\[[^\]]+\] (?P<message>.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The bare result path ``llem-exp`` prints last; the host says "completed -> file" itself.
_RESULT_PATH = re.compile(r"^\S+_c\d+\.json$")


def configure(level: str = "INFO", unit: str = "") -> None:
    """Log to stderr (looked up at write time, so progress bars can redirect it) with a unit prefix."""
    logger.remove()
    logger.configure(extra={"unit": f"[{unit}] " if unit else ""})
    logger.add(_to_stderr, level=level, format=FORMAT, colorize=sys.stderr.isatty())


def _to_stderr(message: str) -> None:
    sys.stderr.write(message)


def quiet_progress_bars() -> None:
    """No tqdm bars (shard writing, weight loading) in unit logs: they are noise, and not line-shaped.

    Environment defaults reach libraries imported later; a warm-start server imported
    huggingface_hub and transformers already, so they are also told directly.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils.tqdm import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


class UnitEcho:
    """What of the units' output the host shows: llem-exp's own lines, once each; the unit logs keep all.

    Engine output (vLLM's config dump and warnings, Python warnings, tracebacks) goes only to the
    unit's log file unless ``verbose`` (``llem --verbose``); a failed unit's summary comes from its
    error file. Every unit of a campaign on one machine says the same things (no NVML here, bf16
    on a CPU): the host shows such a warning once per campaign run, and leaves out the result path
    each unit prints, since the host reports each completed unit with its result file itself.
    """

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self._warned: set[str] = set()

    def filter(self, text: str) -> str:
        """``text`` (whole lines of unit output) less engine output, repeated warnings and result paths."""
        kept = []
        for line in text.splitlines(keepends=True):
            bare = _ANSI.sub("", line.rstrip("\r\n"))
            if _RESULT_PATH.match(bare):
                continue
            own = _UNIT_LINE.match(bare)
            if own is None and not self.verbose:
                continue
            if own is not None and own["level"] == "WARNING":
                if own["message"] in self._warned:
                    continue
                self._warned.add(own["message"])
            kept.append(line)
        return "".join(kept)


_ECHO = UnitEcho()  # one per host process, i.e. per campaign run


def stream_engine_output(verbose: bool) -> None:
    """``llem --verbose``: show the units' engine output on the host too, not only in their logs."""
    _ECHO.verbose = verbose


def echo_unit_output(data: bytes) -> None:
    """Show whole lines of a unit's output on the host log, less what ``UnitEcho`` leaves out."""
    text = _ECHO.filter(data.decode(errors="replace"))
    if text:
        logger.opt(raw=True).info(text)
