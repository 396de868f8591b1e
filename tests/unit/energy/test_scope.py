"""Which GPUs an experiment's energy covers: ordinals, CUDA_VISIBLE_DEVICES entries, NVML handles."""

from __future__ import annotations

import pytest

from llenergymeasure.energy.nvml import NvmlDevices, visible_gpu_count
from llenergymeasure.energy.scope import GpuTarget, gpu_targets, host_gpu_index_errors, parse_visible
from llenergymeasure.errors import ConfigError, EnergyUnavailableError
from tests.fakes.nvml import FakeNvml


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", ()),
        ("2", ("2",)),
        ("3, 1", ("3", "1")),
        ("GPU-aa,GPU-bb", ("GPU-aa", "GPU-bb")),
        ("0,1,-1,2", ("0", "1")),  # CUDA stops at the first invalid entry
        ("MIG-x", ("MIG-x",)),
    ],
)
def test_parse_visible(value: str | None, expected: tuple[str, ...] | None) -> None:
    assert parse_visible(value) == expected


def test_default_is_the_gpus_the_engine_uses_not_every_visible_one() -> None:
    assert gpu_targets(None, 8, 1, None) == [GpuTarget(0, None, 0)]
    assert gpu_targets(None, 8, 2, None) == [GpuTarget(0, None, 0), GpuTarget(1, None, 1)]


def test_indices_in_cuda_visible_devices_map_ordinals_to_nvml_indices() -> None:
    assert gpu_targets(("5", "3"), 8, 2, None) == [GpuTarget(0, None, 5), GpuTarget(1, None, 3)]


def test_uuids_in_cuda_visible_devices_are_opened_by_uuid() -> None:
    assert gpu_targets(("GPU-b", "GPU-a"), 8, 1, None) == [GpuTarget(0, "GPU-b", None)]


def test_gpu_indices_are_ordinals_among_the_visible_gpus() -> None:
    assert gpu_targets(("6", "7"), 8, 1, (1,)) == [GpuTarget(1, None, 7)]
    assert gpu_targets(None, 4, 1, (2, 3)) == [GpuTarget(2, None, 2), GpuTarget(3, None, 3)]


def test_out_of_range_gpu_indices_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        gpu_targets(("6", "7"), 8, 1, (1, 2, -1))
    assert str(err.value) == (
        "energy.gpu_indices [2, -1]: the experiment sees 2 GPU(s) (ordinals 0..1); list ordinals of visible GPUs,"
        " or leave gpu_indices unset to measure the GPUs the engine uses"
    )


def test_more_gpus_needed_than_visible_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^the engine needs 4 GPUs but 2 are visible; lower tensor_parallel_size"):
        gpu_targets(("0", "1"), 8, 4, None)


@pytest.mark.parametrize(
    ("visible", "n_nvml", "gpu_count", "reason"),
    [
        (None, 2, 0, "the experiment runs on no GPU (pytorch.device: cpu)"),
        ((), 2, 1, "no GPU is visible to the experiment (CUDA_VISIBLE_DEVICES hides them all)"),
        (("MIG-1",), 1, 1, "GPU ordinal 0 is a MIG instance (MIG-1); NVML reports energy per physical GPU only"),
        (("3",), 2, 1, "CUDA_VISIBLE_DEVICES names GPU 3; NVML sees 2 GPU(s)"),
    ],
)
def test_no_energy_with_the_reason(visible: tuple[str, ...] | None, n_nvml: int, gpu_count: int, reason: str) -> None:
    with pytest.raises(EnergyUnavailableError) as err:
        gpu_targets(visible, n_nvml, gpu_count, None)
    assert str(err.value) == reason


def test_host_check_names_each_bad_experiment() -> None:
    errors = host_gpu_index_errors(
        [("c.yaml: sweep point 1", (0,)), ("c.yaml: experiments[1]", (1, 4)), ("x", None)], 2
    )
    assert errors == [
        "c.yaml: experiments[1]: energy.gpu_indices [4]: this machine has 2 GPU(s) (ordinals 0..1); "
        "fix energy.gpu_indices or leave it unset to measure the GPUs the engine uses"
    ]


def test_devices_open_targets_by_uuid_and_record_what_a_reviewer_asks() -> None:
    fake = FakeNvml(n_gpus=4, base_w=(100.0, 200.0, 300.0, 400.0))
    d = NvmlDevices(fake, targets=[GpuTarget(0, "GPU-fake-2", None)])
    assert d.indices == (0,)
    assert d.power_w() == [pytest.approx(fake.power_at(2, fake.clock()), abs=1.0)]
    (info,) = d.info()
    assert (info.index, info.uuid, info.pci_bus_id) == (0, "GPU-fake-2", "00000000:1A:00.0")
    assert (info.power_limit_w, info.enforced_power_limit_w, info.default_power_limit_w) == (700.0, 650.0, 700.0)
    assert info.memory_total_bytes == 80 * 2**30


def test_unknown_uuid_fails_with_the_uuid() -> None:
    with pytest.raises(EnergyUnavailableError, match=r"^NVML cannot open GPU GPU-nope \(fake NVML error 6\)$"):
        NvmlDevices(FakeNvml(), targets=[GpuTarget(0, "GPU-nope", None)])


def test_visible_gpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(n_gpus=4, base_w=(1.0,) * 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert visible_gpu_count(lambda: fake) == 4
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,2")
    assert visible_gpu_count(lambda: fake) == 2

    def no_nvml() -> FakeNvml:
        raise EnergyUnavailableError("no")

    assert visible_gpu_count(no_nvml) is None
