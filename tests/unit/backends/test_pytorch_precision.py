import pytest

from llenergymeasure.backends.pytorch.config import cpu_precision_warning


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_on_cpu_is_said(precision: str) -> None:
    assert cpu_precision_warning("cpu", precision) == (
        f"precision {precision} on the CPU (precision defaults to bf16 on every device): many CPUs emulate "
        f"{precision} and run slower than fp32; set precision: fp32 for CPU runs"
    )


@pytest.mark.parametrize(("device", "precision"), [("cpu", "fp32"), ("cuda", "bf16"), ("cuda", "fp16")])
def test_no_warning_where_the_precision_suits_the_device(device: str, precision: str) -> None:
    assert cpu_precision_warning(device, precision) is None
