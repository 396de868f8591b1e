"""The result's sections from a measured window, pure: CPU energy shared between concurrent units."""

from __future__ import annotations

from llenergymeasure.backends.base import RequestRecord
from llenergymeasure.energy.cputime import CpuTimeShare
from llenergymeasure.energy.rapl import CpuEnergyMeasurement
from llenergymeasure.experiment.measure import WindowMeasurement
from llenergymeasure.experiment.result import build_cpu_energy, build_metrics
from llenergymeasure.results.schema import Energy


def window(cpu_j: float, share: CpuTimeShare | None, units: int) -> WindowMeasurement:
    cpu = CpuEnergyMeasurement(10.0, {0: cpu_j}, {})
    return WindowMeasurement(100.0, 110.0, 1.7e9, 1.7e9 + 10, None, cpu, None, share, units)


METRICS = build_metrics([RequestRecord(10, 50, 1.0, 0.1, 0.02)] * 2, 10.0, None, "cuda", None)
GPU = Energy(available=True, total_energy_j=2000.0)


def test_a_unit_alone_owns_the_sockets_energy() -> None:
    c = build_cpu_energy(window(400.0, None, 1), "/sys/class/powercap", METRICS, GPU)
    assert (c.shared, c.attribution_method, c.apportioned_energy_j, c.node_energy_j) == (
        False,
        "whole_host",
        400.0,
        2400.0,
    )
    assert c.energy_per_output_token_j == 4.0


def test_concurrent_units_get_their_cpu_time_share_never_the_whole_sockets() -> None:
    share = CpuTimeShare(unit_cpu_s=5.0, host_busy_cpu_s=20.0, share=0.25)
    c = build_cpu_energy(window(400.0, share, 4), "/sys/class/powercap", METRICS, GPU)
    assert (c.shared, c.concurrent_units, c.attribution_method) == (True, 4, "cpu_time_share")
    assert (c.total_energy_j, c.apportioned_energy_j, c.node_energy_j) == (400.0, 100.0, 2100.0)
    assert (c.cpu_time_share, c.unit_cpu_time_s, c.host_busy_cpu_time_s) == (0.25, 5.0, 20.0)
    assert c.energy_per_output_token_j == 1.0


def test_shared_sockets_without_a_share_give_no_node_figure() -> None:
    c = build_cpu_energy(window(400.0, None, 2), "/sys/class/powercap", METRICS, GPU)
    assert (c.shared, c.attribution_method, c.apportioned_energy_j, c.node_energy_j) == (
        True,
        "shared_unapportioned",
        None,
        None,
    )
    assert c.energy_per_output_token_j is None  # never the whole sockets' energy as this unit's
