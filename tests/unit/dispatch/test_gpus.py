"""Host GPU discovery and the docker device requests, by UUID, against the fake NVML."""

from __future__ import annotations

import pytest

from llenergymeasure.dispatch.docker import gpu_requests
from llenergymeasure.dispatch.gpus import Gpu, host_gpus
from llenergymeasure.errors import EnergyUnavailableError, ExecutorError
from tests.fakes.nvml import FakeNvml


def test_host_gpus_in_the_order_given_by_index_or_uuid() -> None:
    fake = FakeNvml(n_gpus=4, base_w=(1.0,) * 4)
    assert host_gpus("all", lambda: fake) == tuple(Gpu(i, f"GPU-fake-{i}") for i in range(4))  # type: ignore[arg-type,return-value]
    assert host_gpus("3,GPU-fake-1", lambda: fake) == (Gpu(3, "GPU-fake-3"), Gpu(1, "GPU-fake-1"))  # type: ignore[arg-type,return-value]


def test_host_without_nvml_cannot_run_on_gpus() -> None:
    def no_nvml() -> None:
        raise EnergyUnavailableError("NVML could not start")

    with pytest.raises(ExecutorError, match=r"^--gpus all: cannot list this host's GPUs \(NVML could not start\)$"):
        host_gpus("all", no_nvml)  # type: ignore[arg-type]


def test_a_slot_gets_exactly_its_gpus_by_uuid() -> None:
    (req,) = gpu_requests(None, None, ("GPU-a", "GPU-b"))
    assert (req["Driver"], req["DeviceIDs"], req["Capabilities"]) == ("nvidia", ["GPU-a", "GPU-b"], [["gpu"]])
    assert gpu_requests(None, "none") == []
