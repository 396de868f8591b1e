"""`llem campaign plan` as a user runs it: the same file gives the same plan in every process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import llem

MULTI = """
name: engines
model: m
backend: [pytorch, vllm]
sweep:
  precision: [fp16, bf16]
  pytorch.num_threads: [1, 2]
  pytorch.batch_size: [1, 8]
  vllm.max_num_seqs: [64, 256]
  vllm.block_size: [16, 32]
experiments:
  - {backend: pytorch, precision: fp32}
  - {backend: pytorch, precision: fp16, pytorch: {num_threads: 1, batch_size: 1}}
execution: {n_cycles: 3, cycle_order: shuffled, config_gap_seconds: 5, cycle_gap_seconds: 60}
"""


def plan_json(path: Path, hash_seed: str) -> dict[str, object]:
    proc = llem("campaign", "plan", "--json", str(path), cwd=path.parent, env={"PYTHONHASHSEED": hash_seed})
    data: dict[str, object] = json.loads(proc.stdout)
    return data


def test_plan_is_identical_under_any_hash_seed(tmp_path: Path) -> None:
    path = tmp_path / "multi.yaml"
    path.write_text(MULTI)
    plans = [plan_json(path, seed) for seed in ("0", "1", "2", "12345", "random")]
    first = plans[0]
    for other in plans[1:]:
        assert other["units"] == first["units"]
        assert other["experiments"] == first["experiments"]
        assert other == first
    experiments = first["experiments"]
    assert isinstance(experiments, list)
    # File order: precision outermost, then num_threads, then batch_size; pytorch grid before vllm's.
    assert [e["summary"] for e in experiments[:4]] == [
        {"backend": "pytorch", "precision": "fp16", "pytorch.batch_size": 1, "pytorch.num_threads": 1},
        {"backend": "pytorch", "precision": "fp16", "pytorch.batch_size": 8, "pytorch.num_threads": 1},
        {"backend": "pytorch", "precision": "fp16", "pytorch.batch_size": 1, "pytorch.num_threads": 2},
        {"backend": "pytorch", "precision": "fp16", "pytorch.batch_size": 8, "pytorch.num_threads": 2},
    ]
    assert len(experiments) == 17


def test_plan_json_carries_everything_that_decides_the_run(tmp_path: Path) -> None:
    path = tmp_path / "multi.yaml"
    path.write_text(MULTI)
    plan = plan_json(path, "0")
    assert plan["n_experiments"] == 17
    assert plan["n_units"] == 51
    execution = plan["execution"]
    assert isinstance(execution, dict)
    seed = int(str(plan["design_hash"])[:8], 16)
    assert execution == {
        "n_cycles": 3,
        "cycle_order": "shuffled",
        "shuffle_seed": seed,
        "shuffle_seed_source": "design_hash",
        "config_gap_seconds": 5.0,
        "cycle_gap_seconds": 60.0,
        "max_retries": 2,
        "unit_timeout_s": 21600.0,
        "idle_timeout_s": 1800.0,
        "warm_start": True,
        "cooldown": {
            "enabled": False,
            "temperature_band_c": 2.0,
            "power_band_w": 10.0,
            "max_wait_s": 600.0,
            "poll_s": 2.0,
        },
    }
    assert plan["duplicates"] == {
        "count": 1,
        "merged": [
            {
                "source": "experiments[1]",
                "same_as": "exp001",
                "same_as_source": 'sweep {"backend": "pytorch", "precision": "fp16", "pytorch.num_threads": 1, '
                '"pytorch.batch_size": 1}',
            }
        ],
    }
    assert plan["skipped"] == []
    assert plan["notes"] == []
    assert plan["warnings"] == ["1 duplicate config will run once"]


def test_plan_json_lists_skipped_configs_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("model: m\nbackend: vllm\nsweep:\n  precision: [fp32, fp16]\n  vllm.quantization: [awq]\n")
    plan = plan_json(path, "0")
    assert plan["skipped"] == [
        {
            "overrides": {"precision": "fp32", "vllm.quantization": "awq"},
            "reason": "vllm.quantization needs precision fp16 or bf16, not fp32",
        }
    ]


LATIN_NOTE = (
    "latin_square: the Williams design for 3 configs has 6 rows; n_cycles=4 runs only its "
    "first 4 rows, so carryover is not balanced; use a multiple of 6 cycles for full balance"
)
REVERSE_NOTE = (
    "reverse: at 2 cycle boundaries a config runs straight after itself (exp003 c1->c2, exp001 c3->c4), starting"
    " from its own heat rather than another config's; each backward cycle starts with the config its forward"
    " cycle ended with, which cancelling a linear drift within the pair requires; cycle_gap_seconds pauses there"
)


@pytest.mark.parametrize(
    ("order", "notes", "follows"),
    [
        ("latin_square", [LATIN_NOTE], []),
        (
            "reverse",
            [REVERSE_NOTE],
            [{"unit": "exp003_c2", "after": "exp003_c1"}, {"unit": "exp001_c4", "after": "exp001_c3"}],
        ),
    ],
)
def test_plan_notes_an_unbalanced_latin_square_and_where_a_config_follows_itself(
    tmp_path: Path, order: str, notes: list[str], follows: list[dict[str, str]]
) -> None:
    path = tmp_path / "l.yaml"
    path.write_text(
        f"model: m\nbackend: pytorch\nsweep: {{seed: [1, 2, 3]}}\nexecution: {{n_cycles: 4, cycle_order: {order}}}\n"
    )
    plan = plan_json(path, "0")
    assert plan["notes"] == notes
    assert plan["self_follows"] == follows
    proc = llem("campaign", "plan", str(path), cwd=tmp_path, env={"COLUMNS": "400"})
    assert [line for line in proc.stdout.splitlines() if line.startswith("warning:")] == [
        f"warning: {n}" for n in notes
    ]


def test_plan_with_several_errors_prints_one_error_line_each(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model: m\nbackend: pytorch\nsweep:\n  seed: 3\nexecution: {cycle_order: random}\n")
    proc = llem("campaign", "plan", str(path), cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert proc.stderr.splitlines() == [
        f"error: {path}:4: sweep.seed: must be a list of values, e.g. seed: [a, b]",
        f"error: {path}:5: execution.cycle_order: Input should be 'sequential', 'interleaved', 'shuffled', "
        "'reverse' or 'latin_square' (got 'random')",
    ]


def test_plan_warns_about_a_temperature_sweep_without_sampling(tmp_path: Path) -> None:
    # Greedy decoding ignores temperature: the two points are one experiment, said with the fix.
    path = tmp_path / "t.yaml"
    path.write_text("model: m\nbackend: pytorch\nsweep:\n  decoding.temperature: [0.0, 0.7]\n")
    proc = llem("campaign", "plan", str(path), cwd=tmp_path, env={"COLUMNS": "400"})
    assert [line for line in proc.stdout.splitlines() if line.startswith("warning:")] == [
        f"warning: {path}:4: sweep decoding.temperature has no effect: decoding.do_sample is false in every "
        "config; set decoding.do_sample: true or drop the axis",
        "warning: 1 duplicate config will run once",
    ]
    plan = plan_json(path, "0")
    assert plan["n_experiments"] == 1
