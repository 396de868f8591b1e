"""Which physical GPUs an experiment's energy is measured on: pure, so every case is unit-tested.

An experiment addresses GPUs by CUDA ordinal (``cuda:0``, ``cuda:1``, ...) among those visible to
it; NVML addresses them by its own index or by UUID. The two agree only through
``CUDA_VISIBLE_DEVICES``: each ordinal's entry there is a UUID (``GPU-...``, what the host gives a
unit) or an index that, with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (set by ``llem-exp``), is NVML's
index too, since NVML enumerates in PCI bus order. Energy is measured on the GPUs the engine uses
(``ExperimentConfig.gpu_count``), or the ordinals ``energy.gpu_indices`` names, never on every
visible GPU: an 8-GPU node with one busy GPU would otherwise report eight GPUs' idle power as
the experiment's energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from llenergymeasure.errors import ConfigError, EnergyUnavailableError


@dataclass(frozen=True)
class GpuTarget:
    """One GPU to measure: the experiment's ordinal and how NVML finds it."""

    ordinal: int
    uuid: str | None  # set when CUDA_VISIBLE_DEVICES named it by UUID
    nvml_index: int | None  # set otherwise


def parse_visible(value: str | None) -> tuple[str, ...] | None:
    """``CUDA_VISIBLE_DEVICES`` as entries; None when unset (every GPU visible), () when it hides all."""
    if value is None:
        return None
    entries = tuple(p.strip() for p in value.split(","))
    if entries == ("",):
        return ()
    # CUDA stops at the first invalid entry; so does this (e.g. "0,1,-1" exposes 0 and 1).
    out = []
    for e in entries:
        if not (e.isdigit() or e.startswith("GPU-") or e.startswith("MIG-")):
            break
        out.append(e)
    return tuple(out)


def gpu_targets(
    visible: tuple[str, ...] | None, n_nvml: int, gpu_count: int, gpu_indices: tuple[int, ...] | None
) -> list[GpuTarget]:
    """The GPUs to measure, or an error saying why none can be (bad config: ConfigError).

    ``gpu_indices`` are ordinals among the visible GPUs, as the engine numbers them; without it the
    first ``gpu_count`` ordinals (the ones the engine uses) are measured.
    """
    n_visible = n_nvml if visible is None else len(visible)
    if gpu_indices is not None:
        bad = [i for i in gpu_indices if i < 0 or i >= n_visible]
        if bad:
            raise ConfigError(
                f"energy.gpu_indices {list(bad)}: the experiment sees {n_visible} GPU(s)"
                f" (ordinals 0..{n_visible - 1}); list ordinals of visible GPUs, or leave gpu_indices unset"
                " to measure the GPUs the engine uses"
            )
        ordinals = list(gpu_indices)
    else:
        if gpu_count == 0:
            raise EnergyUnavailableError("the experiment runs on no GPU (pytorch.device: cpu)")
        if n_visible == 0:
            raise EnergyUnavailableError("no GPU is visible to the experiment (CUDA_VISIBLE_DEVICES hides them all)")
        if gpu_count > n_visible:
            raise ConfigError(
                f"the engine needs {gpu_count} GPUs but {n_visible} are visible; lower tensor_parallel_size "
                "or make more GPUs visible"
            )
        ordinals = list(range(gpu_count))
    targets = []
    for o in ordinals:
        entry = visible[o] if visible is not None else str(o)
        if entry.startswith("MIG-"):
            raise EnergyUnavailableError(
                f"GPU ordinal {o} is a MIG instance ({entry}); NVML reports energy per physical GPU only"
            )
        if entry.startswith("GPU-"):
            targets.append(GpuTarget(o, entry, None))
        else:
            index = int(entry)
            if index >= n_nvml:
                raise EnergyUnavailableError(f"CUDA_VISIBLE_DEVICES names GPU {index}; NVML sees {n_nvml} GPU(s)")
            targets.append(GpuTarget(o, None, index))
    return targets


def host_gpu_index_errors(gpu_indices_by_source: list[tuple[str, tuple[int, ...] | None]], n_gpus: int) -> list[str]:
    """Plan-time check of ``energy.gpu_indices`` against the host's GPU count, one line per experiment."""
    out = []
    for source, indices in gpu_indices_by_source:
        bad = [i for i in indices or () if i < 0 or i >= n_gpus]
        if bad:
            out.append(
                f"{source}: energy.gpu_indices {bad}: this machine has {n_gpus} GPU(s) (ordinals 0..{n_gpus - 1}); "
                "fix energy.gpu_indices or leave it unset to measure the GPUs the engine uses"
            )
    return out
