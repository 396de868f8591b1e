"""Idle power baseline, measured once and cached in the output folder for a validity window."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger

from llenergymeasure.atomic import write_json_atomic
from llenergymeasure.config.experiment import BaselineConfig
from llenergymeasure.config.identity import stable_hash
from llenergymeasure.energy.meter import EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices


def baseline_power_w(
    devices: NvmlDevices,
    cfg: BaselineConfig,
    cache_dir: Path,
    interval_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Total idle power of ``devices`` in W, from the cache when fresh, else measured now.

    ``clock`` and ``sleep`` time the idle window, so a test can measure it on a manual clock.
    """
    uuids = sorted(g.uuid for g in devices.info())
    cache = cache_dir / f"baseline_{stable_hash(uuids)[:8]}.json"
    now = time.time()
    try:
        cached = json.loads(cache.read_text())
        if cached["uuids"] == uuids and now - cached["measured_at"] <= cfg.validity_s:
            logger.info("idle baseline {:.1f} W (cached {:.0f} s ago)", cached["power_w"], now - cached["measured_at"])
            return float(cached["power_w"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    meter = EnergyMeter(devices, interval_s, clock=clock)
    meter.begin()
    sleep(cfg.duration_s)
    m = meter.end()
    logger.info("idle baseline {:.1f} W measured over {:.1f} s", m.mean_power_w, m.duration_s)
    try:
        write_json_atomic(cache, {"uuids": uuids, "measured_at": now, "power_w": m.mean_power_w})
    except OSError as exc:
        logger.warning("could not cache idle baseline: {}", exc)
    return m.mean_power_w
