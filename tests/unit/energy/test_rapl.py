"""RAPL against a fake powercap sysfs tree in a temp dir.

Tests run as root, so chmod cannot make a file unreadable; an unreadable counter is a directory
where ``energy_uj`` should be (the read really fails), and the permission wording is checked on
the pure ``unreadable_reason``.
"""

from pathlib import Path

import pytest

from llenergymeasure.energy.rapl import RaplMeter, discover_zones, unreadable_reason
from llenergymeasure.errors import EnergyUnavailableError
from tests.fakes.clock import ManualClock

RANGE_UJ = 262_143_328_850


def zone(root: Path, name: str, label: str, energy_uj: int, range_uj: int = RANGE_UJ) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{range_uj}\n")
    return d


def set_uj(d: Path, value: int) -> None:
    (d / "energy_uj").write_text(f"{value}\n")


def two_sockets(root: Path) -> dict[str, Path]:
    return {
        "pkg0": zone(root, "intel-rapl:0", "package-0", 1_000_000),
        "core0": zone(root, "intel-rapl:0:0", "core", 500_000),
        "dram0": zone(root, "intel-rapl:0:1", "dram", 2_000_000),
        "pkg1": zone(root, "intel-rapl:1", "package-1", RANGE_UJ - 3_000_000),  # wraps during the window
        "dram1": zone(root, "intel-rapl:1:1", "dram", 0),
        "psys": zone(root, "intel-rapl:2", "psys", 0),
    }


def test_per_socket_package_and_dram_with_a_wrap(tmp_path: Path) -> None:
    z = two_sockets(tmp_path)
    clock = ManualClock()
    meter = RaplMeter(tmp_path, clock)
    meter.begin()
    clock.advance(2.0)
    set_uj(z["pkg0"], 1_000_000 + 150_000_000)  # 150 J
    set_uj(z["core0"], 99_000_000)  # inside the package: ignored
    set_uj(z["dram0"], 2_000_000 + 20_500_000)  # 20.5 J
    set_uj(z["pkg1"], 7_000_000)  # wrapped: 3 J to the top, then 7 J
    set_uj(z["dram1"], 18_000_000)
    set_uj(z["psys"], 999_000_000)  # overlaps everything: ignored
    m = meter.end()
    assert m.duration_s == 2.0
    assert m.package_energy_j == {0: 150.0, 1: 10.0}
    assert m.dram_energy_j == {0: 20.5, 1: 18.0}
    assert m.total_energy_j == 198.5
    assert m.notes == []


def test_amd_style_package_only(tmp_path: Path) -> None:
    pkg = zone(tmp_path, "intel-rapl:0", "package-0", 0, range_uj=65_532_610_987)
    meter = RaplMeter(tmp_path, ManualClock())
    meter.begin()
    set_uj(pkg, 42_000_000)
    m = meter.end()
    assert (m.package_energy_j, m.dram_energy_j, m.total_energy_j) == ({0: 42.0}, {}, 42.0)


def test_window_long_enough_for_a_second_wrap_is_noted(tmp_path: Path) -> None:
    zone(tmp_path, "intel-rapl:0", "package-0", 0, range_uj=100_000_000)  # 100 J: 0.2 s at 500 W
    clock = ManualClock()
    meter = RaplMeter(tmp_path, clock)
    meter.begin()
    clock.advance(1.0)
    m = meter.end()
    assert m.notes == [
        "window 1 s is long enough for a RAPL counter to wrap twice (>0 s at 500 W); CPU energy may be undercounted"
    ]


def test_no_powercap_root_is_unavailable_with_reason(tmp_path: Path) -> None:
    with pytest.raises(EnergyUnavailableError) as err:
        RaplMeter(tmp_path / "absent").begin()
    assert str(err.value) == (
        f"no powercap interface at {tmp_path / 'absent'} (no RAPL on this CPU, or not exposed to this VM/container)"
    )


def test_powercap_without_rapl_zones_is_unavailable(tmp_path: Path) -> None:
    zone(tmp_path, "intel-rapl:0:0", "core", 0)
    with pytest.raises(EnergyUnavailableError, match="no RAPL package zone under"):
        discover_zones(tmp_path)


def test_unreadable_counter_is_unavailable_with_reason(tmp_path: Path) -> None:
    d = zone(tmp_path, "intel-rapl:0", "package-0", 0)
    (d / "energy_uj").unlink()
    (d / "energy_uj").mkdir()  # a real read failure even as root
    with pytest.raises(EnergyUnavailableError) as err:
        RaplMeter(tmp_path).begin()
    assert str(err.value) == f"cannot read {d / 'energy_uj'}: Is a directory"


def test_counter_that_becomes_unreadable_by_the_end_is_unavailable(tmp_path: Path) -> None:
    d = zone(tmp_path, "intel-rapl:0", "package-0", 0)
    meter = RaplMeter(tmp_path, ManualClock())
    meter.begin()
    (d / "energy_uj").unlink()
    with pytest.raises(EnergyUnavailableError, match="No such file or directory"):
        meter.end()


def test_permission_denied_names_the_file_and_the_kernel_rule() -> None:
    path = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
    assert unreadable_reason(path, PermissionError(13, "Permission denied")) == (
        "permission denied reading /sys/class/powercap/intel-rapl:0/energy_uj (energy_uj is root-only since "
        "Linux 5.10); run as root or make it readable to measure CPU energy"
    )


def test_constructor_touches_nothing(tmp_path: Path) -> None:
    RaplMeter(tmp_path / "absent")  # no I/O until begin()
