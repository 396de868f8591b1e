"""``execution.cooldown`` on the unit's side: before the model loads, wait until the unit's GPUs are back to idle.

The host asks for it through the unit's environment (``LLEM_COOLDOWN``: the setting as JSON, set
only when enabled, by ``campaign.schedule.job_for``), because the unit is what owns the GPUs:
a container, a process on a Slurm node or a local process; the host may have no GPU at all.

**Idle reference.** A GPU's reference is its first reading in the campaign: the first unit on it
reads it before loading anything and stores it, keyed by the GPU's UUID, in the campaign folder
(``thermal/idle-<uuid>.json``, on the volume every executor shares with its units); later units on
that GPU wait until they are back within the band of it. Why this one: it is the state the campaign
itself started from, the same for every unit on that GPU, measured on that board in that room, with
no guess at what "idle" is for a given GPU. A campaign started on a GPU still hot from other work
takes that warmer state as its idle (delete ``thermal/`` to record it anew). UUIDs, not indices,
because indices differ between processes, containers and Slurm nodes. Slots hold their GPUs
exclusively, so no two units write one GPU's file at once; the write is atomic all the same.

The verdict is ``energy.thermal.cooldown_verdict``; clock and sleep are passed in. Without NVML (a
CPU run) the record says 'unavailable' and nothing waits.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from loguru import logger
from pydantic import ValidationError

from llenergymeasure.atomic import write_json_atomic
from llenergymeasure.clock import utcnow
from llenergymeasure.config.campaign import CooldownConfig
from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.energy.thermal import IdleBand, ThermalReading, cooldown_verdict, describe, probe_of
from llenergymeasure.errors import ConfigError
from llenergymeasure.results.schema import Cooldown, GpuCooldown

COOLDOWN_ENV = "LLEM_COOLDOWN"  # set by the host on each unit when execution.cooldown is enabled
REFERENCE_DIR = "thermal"  # in the campaign folder: one idle reference per GPU UUID
# A unit that prints nothing for execution.idle_timeout_s is taken for hung: say something this often.
LOG_EVERY_S = 60.0


def cooldown_env(cfg: CooldownConfig) -> dict[str, str]:
    """The unit's environment entry that asks it to cool down first; empty when cooldown is off."""
    return {COOLDOWN_ENV: cfg.model_dump_json()} if cfg.enabled else {}


def cooldown_from_env(environ: Mapping[str, str]) -> CooldownConfig | None:
    """The cooldown the host asked for (``LLEM_COOLDOWN``), or None: unset (off, or a single ``llem-exp``)."""
    text = environ.get(COOLDOWN_ENV)
    if not text:
        return None
    try:
        cfg = CooldownConfig.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(f"{COOLDOWN_ENV}: not a cooldown setting ({exc.errors()[0]['msg']}): {text!r}") from None
    return cfg if cfg.enabled else None


def reference_file(folder: Path, uuid: str) -> Path:
    """Where the idle reference of GPU ``uuid`` lives under the campaign folder ``folder``."""
    return folder / REFERENCE_DIR / f"idle-{re.sub(r'[^A-Za-z0-9._-]', '_', uuid)}.json"


def idle_reference(folder: Path, uuid: str | None, now: ThermalReading) -> tuple[ThermalReading, bool]:
    """GPU ``uuid``'s idle reference, recording ``now`` as it when none is stored yet; and whether it was.

    A GPU without a readable UUID cannot be matched across units: ``now`` stands in, unstored. A
    stored file that cannot be read is replaced (with a warning); one that cannot be written
    leaves ``now`` as this unit's reference only, and the next unit tries again.
    """
    if uuid is None:
        return now, True
    path = reference_file(folder, uuid)
    try:
        doc = json.loads(path.read_text())
        return ThermalReading(now.t_s, doc["temperature_c"], doc["power_w"]), False
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("idle reference {} unreadable ({}); recording it anew", path, exc)
    record = {"uuid": uuid, "temperature_c": now.temperature_c, "power_w": now.power_w, "recorded_at": utcnow()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, record)
    except OSError as exc:
        logger.warning("cannot store the idle reference {} ({}); it holds for this unit only", path, exc)
    return now, True


def cool_down(
    cfg: CooldownConfig,
    devices: NvmlDevices | None,
    no_devices_reason: str | None,
    folder: Path,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Cooldown:
    """Wait until every GPU of ``devices`` is back within ``cfg``'s band of its idle reference, or ``cfg.max_wait_s``.

    ``folder`` is the campaign folder (the unit's ``--out``), where the references live.
    """
    band = IdleBand(cfg.temperature_band_c, cfg.power_band_w)
    settings = {
        "temperature_band_c": cfg.temperature_band_c,
        "power_band_w": cfg.power_band_w,
        "max_wait_s": cfg.max_wait_s,
    }
    probe = probe_of(devices, clock)
    if devices is None or probe is None:
        reason = no_devices_reason or "NVML unavailable"
        logger.warning("cooldown unavailable: {}; not waiting", reason)
        return Cooldown(outcome="unavailable", reason=reason, **settings)
    first = probe.read()
    if not any(r.temperature_c is not None or r.power_w is not None for r in first):
        reason = "the GPUs report neither temperature nor power"
        logger.warning("cooldown unavailable: {}; not waiting", reason)
        return Cooldown(outcome="unavailable", reason=reason, **settings)
    uuids = [None if g.uuid == "unknown" else g.uuid for g in devices.info()]
    refs = [idle_reference(folder, u, r) for u, r in zip(uuids, first, strict=True)]
    references = [ref for ref, _ in refs]
    started_s = first[0].t_s
    latest, last_log_s = first, started_s
    while (verdict := cooldown_verdict(latest, references, band, started_s, cfg.max_wait_s)) == "waiting":
        if latest[0].t_s - last_log_s >= LOG_EVERY_S or latest is first:
            last_log_s = latest[0].t_s
            logger.info(
                "cooldown: waiting for the GPUs to get back to idle ({})", describe(probe.gpus, latest, references)
            )
        sleep(min(cfg.poll_s, max(0.0, started_s + cfg.max_wait_s - latest[0].t_s)))
        latest = probe.read()
    waited_s = latest[0].t_s - started_s
    logger.info("cooldown {} after {:.1f} s ({})", verdict, waited_s, describe(probe.gpus, latest, references))
    gpus = [
        GpuCooldown(
            gpu=gpu,
            uuid=uuid,
            start_temperature_c=start.temperature_c,
            start_power_w=start.power_w,
            end_temperature_c=end.temperature_c,
            end_power_w=end.power_w,
            idle_temperature_c=ref.temperature_c,
            idle_power_w=ref.power_w,
            idle_recorded_here=recorded,
        )
        for gpu, uuid, start, end, (ref, recorded) in zip(probe.gpus, uuids, first, latest, refs, strict=True)
    ]
    return Cooldown(outcome=verdict, waited_s=waited_s, gpus=gpus, **settings)


def cool_down_from_env(
    environ: Mapping[str, str],
    devices: NvmlDevices | None,
    no_devices_reason: str | None,
    folder: Path,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Cooldown | None:
    """``cool_down`` as the host asked through ``environ``; None (no wait, nothing recorded) when it did not."""
    cfg = cooldown_from_env(environ)
    return cool_down(cfg, devices, no_devices_reason, folder, clock, sleep) if cfg is not None else None
