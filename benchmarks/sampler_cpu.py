"""CPU cost of the energy sampler per second of measurement (against a fake NVML).

Real NVML reads cost more than the fake's arithmetic (tens of microseconds each), so this is the
sampler's own overhead; multiply the reads per tick by the driver's per-call cost for the total.
"""

from __future__ import annotations

import resource
import time

from tests.fakes.nvml import FakeNvml

from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.energy.sampler import PowerSampler

SECONDS = 3.0


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    for interval_ms in (100, 10):
        for n_gpus in (1, 8):
            devices = NvmlDevices(FakeNvml(n_gpus=n_gpus, base_w=(150.0,) * n_gpus))
            sampler = PowerSampler(devices, interval_ms / 1000)
            c0, t0 = cpu_s(), time.monotonic()
            sampler.start()
            time.sleep(SECONDS)
            samples = sampler.stop()
            cpu, wall = cpu_s() - c0, time.monotonic() - t0
            print(
                f"interval {interval_ms:>3} ms, {n_gpus} GPU(s): {cpu / wall * 100:6.2f}% of one core "
                f"({cpu / wall * 1000:6.2f} ms CPU per s), {len(samples) / n_gpus / wall:6.1f} ticks/s"
            )


if __name__ == "__main__":
    main()
