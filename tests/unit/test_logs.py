"""What of the units' output the host shows: repeats and result paths left to the unit logs."""

from __future__ import annotations

from llenergymeasure.logs import UnitEcho

NVML_1 = "06:14:59 WARNING [m_pytorch_fp32_acfb7c99_c1] energy unavailable: NVML could not start\n"
NVML_2 = "06:15:01 WARNING [m_pytorch_fp32_acfb7c99_c2] energy unavailable: NVML could not start\n"
INFO_2 = "06:15:01 INFO    [m_pytorch_fp32_acfb7c99_c2] loading m on pytorch at fp32\n"


def test_a_warning_every_unit_repeats_is_shown_once_per_campaign_run() -> None:
    echo = UnitEcho()
    assert echo.filter(NVML_1) == NVML_1
    assert echo.filter(NVML_2 + INFO_2) == INFO_2
    other = "06:15:02 WARNING [m_c3] bf16 on a CPU is slow\n"
    assert echo.filter(other) == other


def test_the_result_path_a_unit_prints_is_left_to_the_host_line() -> None:
    echo = UnitEcho()
    assert echo.filter("res/c_2026/m_pytorch_fp32_acfb7c99_c1.json\n") == ""
    assert UnitEcho(verbose=True).filter("not a path: x_c1.json\n") == "not a path: x_c1.json\n"
