"""Bad input: every malformed file or CLI use gives one clear error line and harms no existing data."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import FAST, fill, llem, small_tmpfs

GOOD = "name: good\n" + FAST
# One worker under pytest-xdist: most tests copy `world`, a campaign costly to make once per worker.
pytestmark = pytest.mark.xdist_group("bad-input")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder that already holds a completed campaign, which no bad input may touch."""
    root = tmp_path_factory.mktemp("world")
    (root / "good.yaml").write_text(GOOD)
    llem("campaign", "up", "good.yaml", "--executor", "local", "--results-dir", "res", cwd=root)
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "res").rglob("*"))
        if p.is_file()
    }


def existing_campaign(root: Path) -> str:
    (d,) = [p for p in (root / "res").iterdir() if p.is_dir()]
    return str(d.relative_to(root))


# (campaign file text or None, extra files, CLI args with {c} for the campaign file, expected text)
CASES: list[tuple[str, str | None, dict[str, str], list[str], str]] = [
    ("yaml-syntax", "model: [unclosed\nbackend: pytorch\n", {}, ["plan", "{c}"], "c.yaml:2: invalid YAML"),
    ("yaml-tab", "model: m\n\tbackend: pytorch\n", {}, ["plan", "{c}"], "invalid YAML"),
    ("empty-file", "", {}, ["plan", "{c}"], "c.yaml: file is empty"),
    ("top-level-list", "- a\n- b\n", {}, ["plan", "{c}"], "top level must be a mapping"),
    ("unknown-key", "model: m\nbackend: pytorch\nmodle: x\n", {}, ["plan", "{c}"], "c.yaml:3: modle: unknown field"),
    (
        "wrong-type",
        "model: m\nbackend: pytorch\nn_prompts: ten\n",
        {},
        ["plan", "{c}"],
        "c.yaml:3: n_prompts: Input should be a valid integer",
    ),
    (
        "bad-backend",
        "model: m\nbackend: tgi\n",
        {},
        ["plan", "{c}"],
        "backend: Input should be 'pytorch', 'vllm' or 'trtllm'",
    ),
    (
        "bad-precision",
        "model: m\nbackend: pytorch\nprecision: int3\n",
        {},
        ["plan", "{c}"],
        "precision: Input should be 'fp32', 'fp16' or 'bf16'",
    ),
    ("missing-model", "backend: pytorch\n", {}, ["plan", "{c}"], "model: Field required"),
    (
        "empty-sweep",
        "model: m\nbackend: pytorch\nsweep: {}\n",
        {},
        ["plan", "{c}"],
        "sweep: must be a non-empty mapping",
    ),
    (
        "empty-axis",
        "model: m\nbackend: pytorch\nsweep:\n  precision: []\n",
        {},
        ["plan", "{c}"],
        "c.yaml:4: sweep.precision: empty list",
    ),
    (
        "axis-not-list",
        "model: m\nbackend: pytorch\nsweep:\n  precision: fp16\n",
        {},
        ["plan", "{c}"],
        "must be a list of values",
    ),
    (
        "bad-dotted-key",
        "model: m\nbackend: pytorch\nsweep:\n  pytorch.batchsize: [1]\n",
        {},
        ["plan", "{c}"],
        "unknown field 'pytorch.batchsize'",
    ),
    (
        "dotted-into-scalar",
        "model: m\nbackend: pytorch\nsweep:\n  seed.x: [1]\n",
        {},
        ["plan", "{c}"],
        "'seed' has no sub-fields",
    ),
    (
        "scoped-axis-unrun-backend",
        "model: m\nbackend: pytorch\nsweep:\n  trtllm.max_batch_size: [8]\n",
        {},
        ["plan", "{c}"],
        "scoped to backend 'trtllm'",
    ),
    (
        "section-mismatch",
        "model: m\nbackend: pytorch\nvllm: {max_num_seqs: 8}\n",
        {},
        ["plan", "{c}"],
        "section 'vllm' is set but backend is 'pytorch'",
    ),
    (
        "unsupported-backend-field",
        "model: m\nbackend: vllm\nvllm: {batch_size: 8}\n",
        {},
        ["plan", "{c}"],
        "vllm.batch_size: unknown field",
    ),
    (
        "all-invalid",  # each value fine alone, none beside a split at 8 output tokens
        "model: m\nbackend: pytorch\nenergy: {prefill_split: true, split_output_tokens: 8}\nsweep:\n"
        "  max_output_tokens: [4, 8]\n",
        {},
        ["plan", "{c}"],
        "all 2 configs are invalid",
    ),
    (
        "huge-grid",
        "model: m\nbackend: pytorch\nsweep:\n  seed: ["
        + ",".join(map(str, range(200)))
        + "]\n  n_prompts: ["
        + ",".join(map(str, range(1, 101)))
        + "]\n",
        {},
        ["plan", "{c}"],
        "more than the limit of 10000",
    ),
    ("missing-base", "base: nowhere.yaml\nmodel: m\nbackend: pytorch\n", {}, ["plan", "{c}"], "base: file not found"),
    ("base-not-path", "base: [1, 2]\nmodel: m\nbackend: pytorch\n", {}, ["plan", "{c}"], "base: must be a file path"),
    (
        "bad-base-content",
        "base: b.yaml\nmodel: m\nbackend: pytorch\n",
        {"b.yaml": "model: [\n"},
        ["plan", "{c}"],
        "b.yaml:2: invalid YAML",
    ),
    (
        "name-traversal",
        "name: ../../etc\nmodel: m\nbackend: pytorch\n",
        {},
        ["up", "{c}", "--executor", "local", "--results-dir", "res"],
        "name: String should match pattern",
    ),
    (
        "zero-cycles",
        "model: m\nbackend: pytorch\nexecution: {n_cycles: 0}\n",
        {},
        ["plan", "{c}"],
        "execution.n_cycles: Input should be greater than or equal to 1",
    ),
    (
        "bad-order",
        "model: m\nbackend: pytorch\nexecution: {cycle_order: random}\n",
        {},
        ["plan", "{c}"],
        "cycle_order: Input should be 'sequential', 'interleaved', 'shuffled', 'reverse' or 'latin_square'",
    ),
    (
        "negative-gap",
        "model: m\nbackend: pytorch\nexecution: {config_gap_seconds: -1}\n",
        {},
        ["plan", "{c}"],
        "config_gap_seconds: Input should be greater than or equal to 0",
    ),
    (
        "experiments-not-list",
        "model: m\nbackend: pytorch\nexperiments: {a: 1}\n",
        {},
        ["plan", "{c}"],
        "experiments: must be a non-empty list",
    ),
    (
        "experiment-not-mapping",
        "model: m\nbackend: pytorch\nexperiments: [fp16]\n",
        {},
        ["plan", "{c}"],
        "experiments[0]: must be a mapping",
    ),
    (
        "missing-dataset",
        "model: m\nbackend: pytorch\ndataset: prompts.jsonl\n",
        {},
        ["plan", "{c}"],
        "dataset.path: file not found",
    ),
    ("missing-campaign-file", None, {}, ["plan", "nope.yaml"], "nope.yaml: file not found"),
    ("campaign-is-dir", None, {"d/x": ""}, ["plan", "d"], "d: cannot read"),
    (
        "unwritable-results-dir",
        GOOD,
        {"blocker": "a file, not a folder"},
        ["up", "{c}", "--executor", "local", "--results-dir", "blocker/res"],
        "cannot create campaign directory",
    ),
    (
        "engine-down",
        GOOD.replace("n_prompts: 2", "n_prompts: 3"),  # not the design `world` completed
        {},
        ["up", "{c}", "--executor", "docker", "--results-dir", "res"],
        "Docker engine not reachable",
    ),
    ("bad-executor", GOOD, {}, ["up", "{c}", "--executor", "kubernetes"], "Invalid value for '--executor'"),
    ("resume-not-a-campaign", None, {"empty/.keep": ""}, ["resume", "empty"], "no manifest here"),
    (
        "resume-corrupt-manifest",
        None,
        {"torn/manifest.json": '{"campaign": "x", "entr'},
        ["resume", "torn"],
        "manifest unreadable",
    ),
    ("status-missing", None, {}, ["status", "missing-dir"], "no manifest here"),
    ("unknown-command", None, {}, ["launch", "{c}"], "No such command 'launch'"),
]


@pytest.mark.parametrize(("text", "files", "args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_touches_nothing(
    world: Path, tmp_path: Path, text: str | None, files: dict[str, str], args: list[str], expected: str
) -> None:
    case = tmp_path / "case"
    case.mkdir()
    shutil.copytree(world / "res", case / "res")
    before = snapshot(case)
    if text is not None:
        (case / "c.yaml").write_text(text)
    for name, content in files.items():
        (case / name).parent.mkdir(parents=True, exist_ok=True)
        (case / name).write_text(content)
    group = [] if args[0] in ("launch",) else ["campaign"]
    argv = [*group, *(a.replace("{c}", "c.yaml") for a in args)]
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"} if "docker" in args else None
    proc = llem(*argv, cwd=case, check=False, env=env)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert snapshot(case) == before
    assert sorted(p.name for p in (case / "res").iterdir()) == sorted(p.name for p in (world / "res").iterdir())


def test_up_on_a_completed_design_says_where_and_again_runs_it_anew(world: Path, tmp_path: Path) -> None:
    shutil.copytree(world / "res", tmp_path / "res")
    done = Path(existing_campaign(world))
    before = snapshot(tmp_path)
    # Same design, written differently: the design hash, not the text, decides.
    (tmp_path / "same.yaml").write_text(GOOD.replace("n_prompts: 2\n", "") + "n_prompts: 2\n")
    args = ("campaign", "up", "same.yaml", "--executor", "local", "--results-dir", "res")
    proc = llem(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 1
    design = json.loads((tmp_path / done / "manifest.json").read_text())["design_hash"]
    assert proc.stderr.splitlines() == [
        f"error: same.yaml: this design (hash {design}) already completed in {done}; `llem results {done}` reads "
        "it, or pass --again to measure it anew in a new campaign folder"
    ]
    assert snapshot(tmp_path) == before
    again = llem(*args, "--again", cwd=tmp_path)
    assert again.stderr.splitlines()[0] == f"note: this design already completed in {done}; measuring it anew (--again)"
    assert len([p for p in (tmp_path / "res").iterdir() if p.is_dir()]) == 2


def test_results_on_a_folder_of_campaigns_says_which_it_read(world: Path) -> None:
    proc = llem("results", "res", cwd=world)
    done = Path(existing_campaign(world))
    assert proc.stderr.splitlines() == [
        f"reading {done} (the most recent of 1 campaign(s) in res; pass its DIR for another)"
    ]
    assert proc.stdout.splitlines()[-1] == f"1 results, 1 configs -> {done / 'results.parquet'}"


def test_llem_exp_bad_config_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "e.yaml"
    cfg.write_text("model: m\nbackend: pytorch\nwarmup: {mode: forever}\n")
    proc = subprocess.run(
        ["llem-exp", str(cfg), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {cfg}:3: warmup.mode: Input should be 'fixed' or 'cv' (got 'forever')"


def test_full_disk_leaves_existing_campaign_intact(world: Path, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "256k") as disk:
        shutil.copytree(world / "res", disk / "res")
        before = snapshot(disk)
        fill(disk / "filler")
        (tmp_path / "c.yaml").write_text(GOOD.replace("n_prompts: 2", "n_prompts: 3"))  # a design not yet run
        proc = llem(
            "campaign",
            "up",
            str(tmp_path / "c.yaml"),
            "--executor",
            "local",
            "--results-dir",
            str(disk / "res"),
            cwd=tmp_path,
            check=False,
        )
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode != 0
        assert len(lines) == 1, proc.stderr
        # The folder it began is named (and was removed again): the exact line, not just "cannot".
        where = re.escape(str(disk / "res"))
        assert re.fullmatch(
            rf"error: {where}/good_\d{{8}}T\d{{6}}Z: cannot write campaign files \(No space left on device\); "
            r"nothing was started",
            lines[0],
        ), lines[0]
        assert snapshot(disk) == before
        resumed = llem(
            "campaign", "resume", str(disk / existing_campaign(disk)), "--executor", "local", cwd=tmp_path, check=False
        )
        assert resumed.returncode == 0, resumed.stderr  # nothing left to do, nothing written
        assert snapshot(disk) == before


def alias_bomb(width: int, levels: int) -> str:
    """``levels`` lists of ``width`` aliases of the list before: 9 x 8 is 43 million values from ten lines."""
    lines = ["model: m", "backend: pytorch", f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


DEEP = "nested more than 64 levels deep (a config needs fewer than ten); flatten it"
DUP = "keep one (YAML would silently use the last)"
FIX = "fix it or remove it from the sweep"
PLAN = ["plan", "c.yaml"]
UP = ["up", "c.yaml", "--executor", "local", "--results-dir", "res"]

# (campaign file text, CLI args, every stderr line): hostile or mistaken YAML, one exact line per problem
HOSTILE: list[tuple[str, str, list[str], list[str]]] = [
    (
        "alias-bomb",
        alias_bomb(9, 8),
        PLAN,
        [
            "c.yaml:8: a5: aliases expand it to more than 250000 values (aliases of aliases multiply); "
            "use fewer nested aliases"
        ],
    ),
    (
        "alias-bomb-up",
        alias_bomb(9, 8),
        UP,
        [
            "c.yaml:8: a5: aliases expand it to more than 250000 values "
            "(aliases of aliases multiply); use fewer nested aliases"
        ],
    ),
    ("deep-lists", "model: m\nbackend: pytorch\nx: " + "[" * 5000 + "]" * 5000 + "\n", PLAN, [f"c.yaml:3: x: {DEEP}"]),
    (
        "deep-maps",
        "model: m\nbackend: pytorch\nx: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        UP,
        [f"c.yaml:3: x: {DEEP}"],
    ),
    (
        "duplicate-keys",
        "model: m\nbackend: pytorch\nexecution: {n_cycles: 2}\nbackend: vllm\nsweep:\n  seed: [1]\n  seed: [2]\n"
        "execution: {n_cycles: 3}\n",
        PLAN,
        [
            f"c.yaml:4: backend: duplicate key, also at line 2; {DUP}",
            f"c.yaml:7: sweep.seed: duplicate key, also at line 6; {DUP}",
            f"c.yaml:8: execution: duplicate key, also at line 3; {DUP}",
        ],
    ),
    (
        "sweep-bad-values",
        'model: m\nbackend: pytorch\nsweep:\n  pytorch.batch_size: [1, "big", 0]\n',
        UP,
        [
            "c.yaml:4: sweep.pytorch.batch_size[1]: Input should be a valid integer, unable to parse string as an "
            f"integer (got 'big'); {FIX}",
            f"c.yaml:4: sweep.pytorch.batch_size[2]: Input should be greater than or equal to 1 (got 0); {FIX}",
        ],
    ),
    (
        "every-error-at-once",
        "model: m\nbackend: pytorch\nn_prompts: 0\nsweep:\n  seed: 3\nexecution: {n_cycles: 0}\n",
        PLAN,
        [
            "c.yaml:5: sweep.seed: must be a list of values, e.g. seed: [a, b]",
            "c.yaml:3: n_prompts: Input should be greater than or equal to 1 (got 0)",
            "c.yaml:6: execution.n_cycles: Input should be greater than or equal to 1 (got 0)",
        ],
    ),
    (
        "timeouts-not-finite",
        "model: m\nbackend: pytorch\nexecution: {unit_timeout_s: .inf, idle_timeout_s: .nan}\n",
        UP,
        [
            "c.yaml:3: execution.unit_timeout_s: Input should be a finite number (got inf)",
            "c.yaml:3: execution.idle_timeout_s: Input should be a finite number (got nan)",
        ],
    ),
    (
        "too-many-units",
        "model: m\nbackend: pytorch\nexecution: {n_cycles: 1000}\nsweep:\n  seed: ["
        + ", ".join(map(str, range(51)))
        + "]\n",
        PLAN,
        [
            "c.yaml:3: execution.n_cycles: 51 configs x 1000 cycles = 51000 units, more than the limit of 50000; "
            "lower n_cycles or split the campaign"
        ],
    ),
]


@pytest.mark.parametrize(("text", "args", "expected"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_yaml_gives_exact_lines_and_touches_nothing(
    world: Path, tmp_path: Path, text: str, args: list[str], expected: list[str]
) -> None:
    shutil.copytree(world / "res", tmp_path / "res")
    before = snapshot(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    proc = llem("campaign", *args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {line}" for line in expected]
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == sorted(p.name for p in (world / "res").iterdir())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model: m\nbackend: pytorch\nx: " + "[" * 5000 + "]" * 5000 + "\n", f"3: x: {DEEP}"),
        (
            alias_bomb(9, 8),
            "8: a5: aliases expand it to more than 250000 values (aliases of aliases multiply); "
            "use fewer nested aliases",
        ),
        ("model: m\nbackend: pytorch\nbackend: vllm\n", f"3: backend: duplicate key, also at line 2; {DUP}"),
    ],
    ids=["deep", "alias-bomb", "duplicate"],
)
def test_llem_exp_hostile_yaml_is_one_line_and_writes_nothing(tmp_path: Path, text: str, expected: str) -> None:
    cfg = tmp_path / "e.yaml"
    cfg.write_text(text)
    proc = subprocess.run(
        ["llem-exp", str(cfg), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {cfg}:{expected}"]
    assert not (tmp_path / "out").exists()


# Started before llem: flock on a campaign lock fails as on NFS without lockd; every other flock is real.
NO_LOCKS = """
import errno, fcntl, os
_flock = fcntl.flock
def flock(fd, operation):
    if os.readlink(f"/proc/self/fd/{fd}").endswith("/campaign.lock"):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    return _flock(fd, operation)
fcntl.flock = flock
"""


def test_a_filesystem_without_locks_is_one_line_naming_the_lock_file(world: Path, tmp_path: Path) -> None:
    shutil.copytree(world / "res", tmp_path / "res")
    before = snapshot(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_LOCKS)
    (tmp_path / "c.yaml").write_text(GOOD.replace("n_prompts: 2", "n_prompts: 3"))  # a design not yet run
    path = os.pathsep.join(p for p in (str(tmp_path / "site"), os.environ.get("PYTHONPATH")) if p)
    proc = llem("campaign", *UP, cwd=tmp_path, check=False, env={"PYTHONPATH": path})
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.fullmatch(
        r"error: res/good_\d{8}T\d{6}Z/campaign\.lock: cannot lock the campaign: this filesystem does not support "
        r"file locks \(No locks available\); keep campaigns on one that does \(a local disk, or NFS with locking; "
        r"see --results-dir\); nothing was started",
        lines[0],
    ), lines[0]
    assert snapshot(tmp_path) == before  # the folder it began is removed again
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == sorted(p.name for p in (world / "res").iterdir())


def test_report_draws_swept_strings_with_maths_syntax_as_written(tmp_path: Path) -> None:
    # matplotlib read '$\frac{$' (a prompt field's name here, swept) as mathtext and lost the whole report
    lines = [json.dumps({"prompt": f"Say hello {i}", "$\\frac{$": f"Say goodbye {i}"}) for i in range(4)]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.yaml").write_text(
        "name: maths\n"
        + FAST
        + "dataset: {kind: jsonl, path: p.jsonl}\nsweep:\n  dataset.field: [prompt, '$\\frac{$']\n"
    )
    llem("campaign", *UP, cwd=tmp_path)
    (done,) = (tmp_path / "res").iterdir()
    proc = llem("report", str(done.relative_to(tmp_path)), cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(done.relative_to(tmp_path) / "report.html")]
    text = (done / "report.html").read_text()
    assert "<td class='t'>$\\frac{$</td>" in text  # the swept value, as written
    assert "<img class='plot' alt='Output throughput by dataset.field'" in text
    assert (done / "figures" / "output-throughput-by-dataset-field.svg").read_text().count("frac{") >= 1
