"""Which GPUs a unit's gpu.* settings touch: one rule on the host and on a Slurm node, the GPUs it measures."""

from __future__ import annotations

import pytest

from llenergymeasure.errors import GpuSettingsError
from llenergymeasure.gpu.guard import unit_gpu_indices
from tests.fakes.nvml import FakeNvml


@pytest.mark.parametrize(
    ("uuids", "visible", "gpu_count", "gpu_indices", "want"),
    [
        ((), None, 1, None, [0]),  # one GPU of four: that one, never all four
        ((), None, 2, None, [0, 1]),  # tensor parallel 2
        ((), ("2", "3"), 1, None, [2]),  # CUDA_VISIBLE_DEVICES=2,3: ordinal 0 is GPU 2
        ((), ("GPU-fake-3", "GPU-fake-1"), 2, None, [3, 1]),  # by UUID, in the order given
        ((), ("2", "3"), 1, (1,), [3]),  # energy.gpu_indices: ordinals among the visible
        (("GPU-fake-2",), None, 1, None, [2]),  # a --gpus slot names its GPUs
    ],
)
def test_a_unit_sets_exactly_the_gpus_it_runs_on(
    uuids: tuple[str, ...],
    visible: tuple[str, ...] | None,
    gpu_count: int,
    gpu_indices: tuple[int, ...] | None,
    want: list[int],
) -> None:
    assert unit_gpu_indices(FakeNvml(n_gpus=4), uuids, visible, gpu_count, gpu_indices) == want


def test_a_unit_on_no_gpu_or_on_gpus_it_cannot_see_is_refused_with_one_line() -> None:
    fake = FakeNvml(n_gpus=2)
    with pytest.raises(GpuSettingsError) as err:
        unit_gpu_indices(fake, (), None, 0, None)
    assert str(err.value) == (
        "gpu.* is set but the unit runs on no GPU here (the experiment runs on no GPU (pytorch.device: cpu)); "
        "remove gpu.*"
    )
    with pytest.raises(GpuSettingsError) as err:
        unit_gpu_indices(fake, (), None, 4, None)
    assert str(err.value) == (
        "gpu.*: the engine needs 4 GPUs but 2 are visible; lower tensor_parallel_size or make more GPUs visible"
    )
    with pytest.raises(GpuSettingsError) as err:
        unit_gpu_indices(fake, ("GPU-fake-7",), None, 1, None)
    assert str(err.value) == "gpu.*: the unit's GPUs GPU-fake-7 are not visible to NVML here"
