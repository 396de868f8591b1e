"""The machine an experiment ran on, recorded with its result so numbers can be compared honestly."""

from __future__ import annotations

import os
import platform
import socket
import sys
from dataclasses import asdict
from typing import Any

from llenergymeasure import __version__
from llenergymeasure.energy.nvml import NvmlDevices


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def collect_environment(devices: NvmlDevices | None, versions: dict[str, str]) -> dict[str, Any]:
    """Host, software and GPU facts; the container image comes from env set by the image itself."""
    env: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "llem_version": __version__,
        "packages": versions,
        "container_image": os.environ.get("LLEM_IMAGE"),
        "container_image_id": os.environ.get("LLEM_IMAGE_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda_device_order": os.environ.get("CUDA_DEVICE_ORDER"),
        "slot": os.environ.get("LLEM_SLOT"),  # the GPU slot the host gave this unit (llem campaign up --gpus)
        "launch": os.environ.get("LLEM_LAUNCH", "fresh"),  # "warm-start": forked by experiment.forkserver
        "gpus": [],
    }
    if devices is not None:
        env["gpus"] = [asdict(g) for g in devices.info()]
        env.update(devices.driver())
    return env


def settings_notes(requested_limit_w: float | None, gpus: list[dict[str, Any]]) -> list[str]:
    """Where the unit runs, the check that the power limit its campaign asked for is the one its GPUs hold.

    The host sets ``gpu.power_limit_w`` before starting the unit; a GPU that holds another limit (a
    setting lost, another tool, another node) is named in the result rather than trusted silently.
    """
    if requested_limit_w is None:
        return []
    notes = []
    for gpu in gpus:
        held = gpu.get("enforced_power_limit_w")
        if held is None or abs(float(held) - requested_limit_w) > 1.0:
            shown = "an unreadable limit" if held is None else f"{float(held):g} W"
            notes.append(
                f"gpu.power_limit_w {requested_limit_w:g} W was asked, but GPU {gpu.get('index')} ({gpu.get('uuid')})"
                f" held {shown} when the unit started: its figures are not at the asked limit"
            )
    return notes
