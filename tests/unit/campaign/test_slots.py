"""GPU slots: placement, exclusivity and per-GPU rests, with plain values and times."""

from __future__ import annotations

import pytest

from llenergymeasure.campaign.manifest import ManifestEntry
from llenergymeasure.campaign.slots import Slot, SlotBoard, cut_slots, gpus_per_unit
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.dispatch.gpus import Gpu, parse_gpus
from llenergymeasure.errors import ExecutorError

GPUS = tuple(Gpu(i, f"GPU-{i}") for i in range(4))


def unit(exp: str, cycle: int = 1) -> ManifestEntry:
    return ManifestEntry(
        key=f"{exp}_c{cycle}", exp_id=exp, config_hash="0" * 16, backend="pytorch", service="pytorch",
        cycle=cycle, config_file="c.yaml",
    )  # fmt: skip


def gap(prev: ManifestEntry, nxt: ManifestEntry) -> float:
    return 10.0 if prev.exp_id != nxt.exp_id else 0.0


def test_slots_are_fixed_consecutive_groups_named_by_host_index() -> None:
    assert [s.name for s in cut_slots(GPUS, 1)] == ["gpu0", "gpu1", "gpu2", "gpu3"]
    assert [(s.name, s.uuids) for s in cut_slots(GPUS, 2)] == [
        ("gpu0+1", ("GPU-0", "GPU-1")),
        ("gpu2+3", ("GPU-2", "GPU-3")),
    ]
    assert [s.name for s in cut_slots(GPUS[:3], 2)] == ["gpu0+1"]  # GPU 2 cannot hold a 2-GPU unit
    assert cut_slots(GPUS, 8) == []
    assert cut_slots((), 1) == [Slot("host", ())]


def test_slot_env_names_gpus_by_uuid_in_pci_order() -> None:
    assert cut_slots(GPUS, 2)[1].env() == {
        "CUDA_VISIBLE_DEVICES": "GPU-2,GPU-3",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "LLEM_SLOT": "gpu2+3",
    }
    assert Slot("host", ()).env() == {}


def test_busy_slots_are_never_given_twice_and_free_again_after_release() -> None:
    board = SlotBoard(GPUS[:2], gap)
    a, b, c = unit("a"), unit("b"), unit("c")
    first = board.place(a, 1)
    assert first == (cut_slots(GPUS, 1)[0], 0.0)
    board.occupy(first[0])
    second = board.place(b, 1)
    assert second is not None
    assert second[0].name == "gpu1"
    board.occupy(second[0])
    assert board.place(c, 1) is None
    board.release(second[0], b, now=50.0)
    assert board.place(c, 1) == (second[0], 60.0)  # gpu1 rests the config gap after b


def test_rests_are_per_gpu_and_the_rested_gpu_is_chosen() -> None:
    board = SlotBoard(GPUS[:2], gap)
    s0, s1 = cut_slots(GPUS[:2], 1)
    board.release(s0, unit("a"), now=100.0)  # gpu0 ran a until 100
    board.release(s1, unit("b"), now=95.0)  # gpu1 ran b until 95
    assert board.place(unit("b", 2), 1) == (s1, 95.0)  # same experiment on gpu1: no gap
    assert board.place(unit("c"), 1) == (s1, 105.0)  # both need a gap; gpu1 is ready first


def test_a_two_gpu_unit_waits_for_both_gpus_and_their_rests() -> None:
    board = SlotBoard(GPUS[:2], gap)
    s0, s1 = cut_slots(GPUS[:2], 1)
    board.occupy(s0)
    assert board.place(unit("x"), 2) is None
    board.release(s0, unit("a"), now=7.0)
    board.release(s1, unit("x"), now=9.0)
    pair = cut_slots(GPUS[:2], 2)[0]
    assert board.place(unit("x", 2), 2) == (pair, 17.0)  # gpu0 must rest after a; gpu1 is ready at 9


def test_without_gpus_the_board_is_the_serial_loop() -> None:
    board = SlotBoard((), gap)
    (host,) = board.slots(1)
    assert board.fits(4)  # tensor parallelism is not scheduled without --gpus
    board.occupy(host)
    assert board.place(unit("b"), 1) is None
    board.release(host, unit("a"), now=3.0)
    assert board.place(unit("b"), 1) == (host, 13.0)


def test_slot_size_is_the_engines_tensor_parallel_size() -> None:
    assert gpus_per_unit(ExperimentConfig(model="m", backend="pytorch")) == 1
    assert gpus_per_unit(ExperimentConfig(model="m", backend="vllm", vllm={"tensor_parallel_size": 4})) == 4


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [("all", None), (" 0,2 ", [0, 2]), ("GPU-ab,1", ["GPU-ab", 1])],
)
def test_gpus_option_parses(spec: str, parsed: list[int | str] | None) -> None:
    assert parse_gpus(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0,,1", "give 'all' or a comma-separated list such as 0,1,2,3"),
        ("cuda:0", "'cuda:0' is neither a GPU index nor a GPU-... UUID"),
        ("1,1", "a GPU is listed twice"),
    ],
)
def test_bad_gpus_option_says_why(spec: str, message: str) -> None:
    with pytest.raises(ExecutorError, match=message):
        parse_gpus(spec)
