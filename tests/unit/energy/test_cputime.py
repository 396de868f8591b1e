"""A unit's share of the host's CPU time against a fake procfs tree, and how whole-socket energy is apportioned."""

from pathlib import Path

import pytest

from llenergymeasure.energy.cputime import (
    CpuAttribution,
    CpuTimeMeter,
    CpuTimeShare,
    apportion_cpu_energy,
    busy_ticks,
    concurrent_units_from_env,
    cpu_time_share,
    host_cpu_busy_s,
    parse_pid_stat,
    process_tree_cpu_s,
    read_processes,
)
from llenergymeasure.errors import EnergyUnavailableError

HZ = 100
ENGINE = "vllm (engine) core)"  # spaces and ')' in the command name


def proc(root: Path, pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> None:
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    (d / "stat").write_text(
        f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194304 10 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 1 0 42\n"
    )


def host_stat(root: Path, user: int, system: int) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    (root / "stat").write_text(f"cpu  {user} 20 {system} 5000 400 10 15 5 7 0\ncpu0 1 1 1 1 1 1 1 1 0 0\nintr 99\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    host_stat(tmp_path, user=1000, system=300)  # busy 1000+20+300+10+15+5 = 1350 ticks
    proc(tmp_path, 1, "init", 0, 5, 5)
    proc(tmp_path, 100, "llem-exp", 1, 150, 50, cutime=30, cstime=10)  # 240
    proc(tmp_path, 101, ENGINE, 100, 400, 100, cutime=20)  # 520
    proc(tmp_path, 102, "worker 0", 101, 75, 25)  # 100
    proc(tmp_path, 200, "unrelated", 1, 9000, 900)
    (tmp_path / "300").mkdir()  # vanished between listing and reading: no stat
    (tmp_path / "self").mkdir()
    return tmp_path


def test_host_busy_time_leaves_out_idle_iowait_and_guest(tree: Path) -> None:
    assert host_cpu_busy_s(tree, HZ) == 13.5


def test_a_kernel_without_steal_counts_what_it_has() -> None:
    assert busy_ticks("cpu 1 2 3 4\n") == 6


def test_the_command_name_is_skipped_up_to_its_last_parenthesis() -> None:
    stat = f"101 ({ENGINE}) S 100 101 101 0 -1 4194304 10 0 0 0 400 100 20 0 20 0 1 0 42\n"
    p = parse_pid_stat(101, stat)
    assert (p.ppid, p.own_ticks, p.reaped_children_ticks) == (100, 500, 20)


def test_the_tree_is_the_process_and_its_descendants_only(tree: Path) -> None:
    assert process_tree_cpu_s(100, tree, HZ) == 8.6  # 240 + 520 + 100 ticks; not init, not 200
    assert process_tree_cpu_s(101, tree, HZ) == 6.2
    assert sorted(read_processes(tree)) == [1, 100, 101, 102, 200]  # 300 vanished, self is no pid


def test_a_missing_process_or_proc_stat_says_which(tmp_path: Path, tree: Path) -> None:
    with pytest.raises(EnergyUnavailableError, match=f"process 999 not found under {tree}"):
        process_tree_cpu_s(999, tree, HZ)
    with pytest.raises(EnergyUnavailableError, match=f"cannot read {tmp_path / 'none' / 'stat'}: No such file"):
        host_cpu_busy_s(tmp_path / "none", HZ)


def test_the_window_counts_a_grandchild_reaped_inside_it_once(tree: Path) -> None:
    meter = CpuTimeMeter(100, tree, clock_ticks_per_s=HZ)
    meter.begin()
    host_stat(tree, user=2000, system=700)  # +1400 busy ticks
    proc(tree, 100, "llem-exp", 1, 250, 50, cutime=30, cstime=10)  # +100
    proc(tree, 101, ENGINE, 100, 600, 100, cutime=20 + 150)  # +200 own; reaped the worker (its 100 + 50 more)
    (tree / "102" / "stat").unlink()
    (tree / "102").rmdir()
    proc(tree, 200, "unrelated", 1, 19000, 900)  # not the unit's
    assert meter.end() == CpuTimeShare(unit_cpu_s=3.5, host_busy_cpu_s=14.0, share=0.25)


def test_the_meter_reads_nothing_before_begin(tmp_path: Path) -> None:
    meter = CpuTimeMeter(100, tmp_path / "missing")
    with pytest.raises(RuntimeError, match=r"CpuTimeMeter.end\(\) called before begin\(\)"):
        meter.end()


def test_the_share_is_clamped_and_undefined_on_an_idle_host() -> None:
    assert cpu_time_share(5.0, 4.0) == CpuTimeShare(5.0, 4.0, 1.0)
    assert cpu_time_share(-1.0, 4.0) == CpuTimeShare(-1.0, 4.0, 0.0)
    assert cpu_time_share(1.0, 0.0) == CpuTimeShare(1.0, 0.0, None)


QUARTER = CpuTimeShare(3.5, 14.0, 0.25)
SHARED_NOTE = (
    "RAPL counts whole sockets and up to 4 units ran on this host at once: CPU energy apportioned by this unit's"
    " share of the host's busy CPU time (25.0%); idle and uncore power are apportioned by the same share"
)
UNREAD_NOTE = (
    "RAPL counts whole sockets and up to 2 units ran on this host at once, but this unit's share of the host's"
    " busy CPU time could not be read: its CPU energy is not apportioned and includes the other units'"
)


@pytest.mark.parametrize(
    ("share", "units", "expected"),
    [
        (QUARTER, 1, CpuAttribution(False, 1, "whole_host", 200.0, 0.25, [])),
        (None, 1, CpuAttribution(False, 1, "whole_host", 200.0, None, [])),
        (QUARTER, 4, CpuAttribution(True, 4, "cpu_time_share", 50.0, 0.25, [SHARED_NOTE])),
        (None, 2, CpuAttribution(True, 2, "shared_unapportioned", None, None, [UNREAD_NOTE])),
        (CpuTimeShare(0.0, 0.0, None), 2, CpuAttribution(True, 2, "shared_unapportioned", None, None, [UNREAD_NOTE])),
    ],
    ids=["alone", "alone-unread", "shared", "shared-unread", "shared-idle-host"],
)
def test_apportioning(share: CpuTimeShare | None, units: int, expected: CpuAttribution) -> None:
    assert apportion_cpu_energy(200.0, share, units) == expected


@pytest.mark.parametrize(
    ("env", "units"),
    [
        ({}, 1),  # a single `llem run`, or a host older than the variable
        ({"LLEM_CONCURRENT_UNITS": "4"}, 4),
        ({"LLEM_CONCURRENT_UNITS": "0"}, 1),
        ({"LLEM_CONCURRENT_UNITS": "-2"}, 1),
        ({"LLEM_CONCURRENT_UNITS": "four"}, 1),
    ],
)
def test_concurrent_units_from_env(env: dict[str, str], units: int) -> None:
    assert concurrent_units_from_env(env) == units
