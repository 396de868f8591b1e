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
        "launch": os.environ.get("LLEM_LAUNCH", "fresh"),  # "warm-start": forked by experiment.forkserver
        "gpus": [],
    }
    if devices is not None:
        env["gpus"] = [asdict(g) for g in devices.info()]
        env.update(devices.driver())
    return env
