"""GPU slots: placement, exclusivity and per-GPU rests, with plain values and times."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.schedule import run_pending
from llenergymeasure.campaign.slots import Slot, SlotBoard, cut_slots, gpus_per_unit
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.dispatch.base import Executor, JobOutcome, UnitJob
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


def test_slot_env_names_gpus_by_uuid_in_pci_order_and_how_many_units_may_run_at_once() -> None:
    assert cut_slots(GPUS, 2)[1].env(2) == {
        "CUDA_VISIBLE_DEVICES": "GPU-2,GPU-3",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "LLEM_SLOT": "gpu2+3",
        "LLEM_CONCURRENT_UNITS": "2",
    }
    assert Slot("host", ()).env() == {"LLEM_CONCURRENT_UNITS": "1"}
    assert Slot("lane0", ()).env(3) == {"LLEM_CONCURRENT_UNITS": "3"}


def test_concurrency_is_the_slot_count_of_the_smallest_unit() -> None:
    board = SlotBoard(GPUS, gap)
    assert board.concurrency([1]) == 4
    assert board.concurrency([2, 2]) == 2
    assert board.concurrency([2, 1]) == 4  # an upper bound: four 1-GPU units can overlap
    assert board.concurrency([8]) == 1  # never placed; the count stays at least 1
    assert board.concurrency([]) == 1
    assert SlotBoard(GPUS[:1], gap).concurrency([1]) == 1


def test_concurrency_without_gpus_is_the_lanes() -> None:
    assert SlotBoard((), gap).concurrency([1, 4]) == 1  # the serial loop
    assert SlotBoard((), gap, lanes=3).concurrency([1]) == 3  # Slurm jobs in flight


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


class RecordingExecutor(Executor):
    """Records the environment each unit would get and ends it at once (failed: no result file)."""

    name = "local"

    def __init__(self, max_in_flight: int = 1) -> None:
        self.max_in_flight = max_in_flight
        self.envs: dict[str, dict[str, str]] = {}
        self.lock = threading.Lock()

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        with self.lock:
            self.envs[job.key] = job.env
        return JobOutcome(exit_code=1)

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str], run_id: str) -> list[str]:
        return []

    def close(self) -> None:
        pass


def run_units(tmp_path: Path, n_gpus: list[int], gpus: tuple[Gpu, ...], max_in_flight: int = 1) -> dict[str, str]:
    entries = [
        unit(f"e{i}").model_copy(update={"n_gpus": n, "result_file": f"e{i}_c1.json"}) for i, n in enumerate(n_gpus)
    ]
    layout = CampaignLayout(tmp_path)
    store = ManifestStore(
        layout.manifest, CampaignManifest(campaign="c", design_hash="d" * 16, llem_version="0", entries=entries)
    )
    executor = RecordingExecutor(max_in_flight)
    run_pending(
        layout,
        store,
        executor,
        ExecutionConfig(config_gap_seconds=0, cycle_gap_seconds=0),
        "run1",
        gpus=gpus,
        sleep=lambda _: None,
    )
    return {key: env["LLEM_CONCURRENT_UNITS"] for key, env in sorted(executor.envs.items())}


def test_every_unit_is_told_how_many_units_may_run_at_once(tmp_path: Path) -> None:
    assert run_units(tmp_path / "a", [2, 2, 2], GPUS) == {"e0_c1": "2", "e1_c1": "2", "e2_c1": "2"}
    assert run_units(tmp_path / "b", [2, 1], GPUS) == {"e0_c1": "4", "e1_c1": "4"}
    assert run_units(tmp_path / "c", [1, 1], ()) == {"e0_c1": "1", "e1_c1": "1"}  # one at a time
    assert run_units(tmp_path / "d", [1], (), max_in_flight=5) == {"e0_c1": "5"}  # Slurm lanes


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


def test_every_unit_is_told_the_cooldown_when_it_is_on(tmp_path: Path) -> None:
    from llenergymeasure.campaign.schedule import job_for
    from llenergymeasure.config.campaign import CooldownConfig

    entry = unit("e0").model_copy(update={"result_file": "e0_c1.json"})
    layout = CampaignLayout(tmp_path)
    on = ExecutionConfig(cooldown=CooldownConfig(enabled=True, max_wait_s=90.0))
    slot = Slot("gpu1", (GPUS[1],))
    env = job_for(entry, layout, on, slot=slot).env
    assert env["LLEM_COOLDOWN"] == (
        '{"enabled":true,"temperature_band_c":2.0,"power_band_w":10.0,"max_wait_s":90.0,"poll_s":2.0}'
    )
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-1"
    assert job_for(entry, layout, on, slot=Slot("host", ())).env["LLEM_COOLDOWN"] == env["LLEM_COOLDOWN"]
    assert "LLEM_COOLDOWN" not in job_for(entry, layout, ExecutionConfig(), slot=slot).env
