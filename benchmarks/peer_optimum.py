"""llem against huggingface/optimum-benchmark on the same workload (targets: llem/peer inline <= 1.0).

The peer, optimum-benchmark 0.6.0, runs in its own venv, build/venv-optimum, which this benchmark
creates when it is missing: a venv whose site-packages holds a ``.pth`` line naming .venv's
site-packages, so the peer sees the very torch and transformers llem runs on (no second torch),
and ``pip install optimum-benchmark==0.6.0`` adds what else it needs (hydra-core, omegaconf,
datasets, accelerate, ...). llem itself is not importable there. 0.6.0 imports
``transformers.SpecialTokensMixin``, which transformers 5 removed; it uses it in a type alias only,
so that one import is patched to fall back to ``PreTrainedTokenizerBase`` (printed when applied).

The same workload on both sides: llem's built-in tiny Llama (its local build; real weights), CPU,
fp32, greedy, prompts of exactly ``input_tokens`` ids (llem: a synthetic dataset; the peer: its
random ids of the same shape; no padding on either side), exactly ``output_tokens`` new tokens per
request (llem: ``ignore_eos``; the peer: ``min_new_tokens = max_new_tokens``), the same batch size
and the same number of generate calls. Warmup: the peer's least (``warmup_runs: 1``) is two
full generates plus a 2-token one, so llem warms up with two batches. llem's prefill split and
idle baseline are off: the peer has neither.

1. The window: llem's measured window (``metrics.wall_time_s / n_passes`` of a unit forked from the
   warm-start server, as campaigns run units) against the sum of the peer's inline ``generate``
   latencies over the same calls (its per-token tracker's ``perf_counter`` around each
   ``backend.generate``): paired runs, alternating which goes first, median ratio with a bootstrap
   95 % interval.
2. The sweep: 4 configs x 2 cycles end to end, ``llem campaign up --executor local`` (warm start,
   the default) against ``optimum-benchmark --multirun`` with its inline and with its process
   launcher, each the wall clock of the command, in rotating order.
3. Item by item: what a unit and a campaign run cost beyond the generate calls on each side, from a
   trivial workload (1 prompt, 2 output tokens).

Run from the repository root (about 5 minutes on a quiet 2-core machine):
``.venv/bin/python -m benchmarks.peer_optimum [--pairs 15] [--sweep-pairs 3] [--repeats 5] [--only sweep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import yaml

from benchmarks.common import scratch
from benchmarks.harness_overhead import ci95
from llenergymeasure.backends.registry import warm_imports
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.dispatch.processes import client_command, serve_command
from llenergymeasure.experiment.forkserver import READY
from llenergymeasure.experiment.runner import resolve_model

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "build" / "venv-optimum"
PEER = "optimum-benchmark==0.6.0"
DRIVER = Path(__file__).with_name("peer_optimum_driver.py")
MARK = "PEER-RESULT "  # the driver's answer line
MODEL = "llem/tiny-llama"
LLEM = str(Path(sys.executable).with_name("llem"))
PATCHED = "optimum_benchmark/backends/transformers_utils.py"
OLD_IMPORT = "    ProcessorMixin,\n    SpecialTokensMixin,\n)\n"
NEW_IMPORT = (
    "    ProcessorMixin,\n)\n\n"
    "try:  # patched by llem's benchmarks.peer_optimum: transformers 5 has no SpecialTokensMixin\n"
    "    from transformers import SpecialTokensMixin\n"
    "except ImportError:\n"
    "    from transformers import PreTrainedTokenizerBase as SpecialTokensMixin\n"
)


@dataclass(frozen=True)
class Workload:
    """One config, the same on both sides."""

    n_prompts: int
    batch_size: int
    input_tokens: int
    output_tokens: int
    seed: int = 42  # llem's default; only the trivial campaign varies it, to have 4 distinct configs

    @property
    def calls(self) -> int:
        """Generate calls per pass (whole batches only)."""
        assert self.n_prompts % self.batch_size == 0
        return self.n_prompts // self.batch_size

    @property
    def label(self) -> str:
        return f"b{self.batch_size}" + (f"s{self.seed}" if self.seed != 42 else "")

    def llem(self) -> dict[str, Any]:
        """llem's experiment fields (validated, so a bad field fails before anything runs)."""
        data = {
            "model": MODEL,
            "backend": "pytorch",
            "precision": "fp32",
            "n_prompts": self.n_prompts,
            "seed": self.seed,
            "max_input_tokens": self.input_tokens,
            "max_output_tokens": self.output_tokens,
            "dataset": {"kind": "synthetic", "input_tokens": self.input_tokens},
            "pytorch": {"batch_size": self.batch_size, "device": "cpu"},
            "warmup": {"n_runs": 2},
            "baseline": {"enabled": False},
            "energy": {"prefill_split": False},
        }
        ExperimentConfig.model_validate(data)
        return data

    def peer(self, model_path: str, launcher: str) -> dict[str, Any]:
        """The driver's spec (peer_optimum_driver.benchmark_config turns it into the peer's config)."""
        return {
            "model": model_path,
            "launcher": launcher,
            "batch_size": self.batch_size,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "calls": self.calls,
        }


WINDOW = Workload(n_prompts=64, batch_size=8, input_tokens=64, output_tokens=32)
SWEEP = tuple(Workload(n_prompts=8, batch_size=b, input_tokens=32, output_tokens=16) for b in (1, 2, 4, 8))
TRIVIAL = Workload(n_prompts=1, batch_size=1, input_tokens=32, output_tokens=2)
CYCLES = 2


# ---------------------------------------------------------------------------------------------
# the peer's venv


def peer_python() -> Path:
    return VENV / "bin" / "python"


def peer_site() -> Path:
    return VENV / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def ensure_peer() -> str:
    """Create build/venv-optimum if needed, install and patch the peer; a line saying what runs."""
    py = peer_python()
    fresh = not py.exists()
    if fresh:
        print(f"creating {VENV.relative_to(ROOT)} (seeing .venv's site-packages) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # Before pip runs: pip then counts .venv's torch, transformers, numpy, ... as installed.
    (peer_site() / "llem-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    if subprocess.run([py, "-c", "import optimum_benchmark"], capture_output=True).returncode != 0:
        print(f"pip install {PEER} into {VENV.relative_to(ROOT)} ...", flush=True)
        subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PEER], check=True)
    target = peer_site() / PATCHED
    text = target.read_text()
    if OLD_IMPORT in text:
        target.write_text(text.replace(OLD_IMPORT, NEW_IMPORT))
        print(f"patched {PATCHED}: SpecialTokensMixin falls back to PreTrainedTokenizerBase (transformers 5)")
    probe = (
        "import importlib.metadata as m, torch, transformers, optimum_benchmark.backends.pytorch.backend;"
        "print(m.version('optimum-benchmark'), torch.__version__, transformers.__version__, torch.__file__)"
    )
    got = subprocess.run([py, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    stamp = VENV / ".cli-checked"
    if not stamp.exists():  # the CLI imports hydra and every config class: seconds, so checked once
        subprocess.run([VENV / "bin" / "optimum-benchmark", "--help"], check=True, capture_output=True)
        stamp.write_text("optimum-benchmark --help ran\n")
    shared = "shared with .venv" if got[3].startswith(sysconfig.get_path("purelib")) else f"NOT shared: {got[3]}"
    return f"optimum-benchmark {got[0]} in {VENV.relative_to(ROOT)}; torch {got[1]}, transformers {got[2]} ({shared})"


# ---------------------------------------------------------------------------------------------
# the two sides' processes


class WarmServer:
    """llem's warm-start server, as the local executor starts one per campaign run and backend.

    ``timed`` makes its children run ``timed_unit`` (llem-exp with its steps timed) instead of llem-exp.
    """

    def __init__(self, out: Path, name: str = "s", timed: bool = False) -> None:
        self.sock = str(out / name)
        argv = serve_command(sys.executable, self.sock, "pytorch")
        if timed:
            preload = [*warm_imports("pytorch"), "benchmarks.peer_optimum"]
            argv += ["--preload", ",".join(preload), "--target", "benchmarks.peer_optimum:timed_unit"]
        start = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if READY in line:
                break
        self.start_s = time.perf_counter() - start

    def unit(
        self, cfg_file: Path, out: Path, stem: str, env: dict[str, str] | None = None
    ) -> tuple[float, dict[str, Any]]:
        """One unit forked from the server: its wall time (client start to exit) and its result."""
        argv = client_command(sys.executable, self.sock, [str(cfg_file), "--out", str(out), "--stem", stem])
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **(env or {})})
        wall = time.perf_counter() - start
        return wall, json.loads((out / f"{stem}.json").read_text())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


class PeerDriver:
    """A long-lived peer process (peer_optimum_driver.py in the peer's venv) that runs one job per request."""

    def __init__(self, log: IO[str], cwd: Path) -> None:
        # cwd: its process launcher's child writes benchmark.log into the working directory
        self.proc = subprocess.Popen(
            [str(peer_python()), str(DRIVER)],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(MARK):
                answer: dict[str, Any] = json.loads(line[len(MARK) :])
                return answer
        raise RuntimeError(f"the peer driver exited ({self.proc.wait()}); see its log")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def write_config(path: Path, w: Workload) -> Path:
    path.write_text(yaml.safe_dump(w.llem()))
    return path


def fmt(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


# ---------------------------------------------------------------------------------------------
# 1. the window


def window_pairs(server: WarmServer, peer: PeerDriver, model_path: str, out: Path, pairs: int) -> None:
    w = WINDOW
    cfg_file = write_config(out / "window.yaml", w)
    spec = w.peer(model_path, "inline")
    print(
        f"\n1. window: {w.n_prompts} prompts, batch {w.batch_size} ({w.calls} generate calls), "
        f"{w.input_tokens} in / {w.output_tokens} out; {pairs} pairs, alternating which goes first"
    )
    print("   llem: metrics.wall_time_s / n_passes; peer: sum of its inline generate latencies (per call in brackets)")
    ratios, llem_calls, peer_calls, llem_windows, peer_totals = [], [], [], [], []
    for i in range(pairs):

        def llem(i: int = i) -> tuple[float, list[float]]:
            _, result = server.unit(cfg_file, out, f"w{i}")
            m = result["metrics"]
            first_pass = m["requests"][: w.n_prompts : w.batch_size]  # one record per batch
            # service_s: each batch's own generate time (latency_s runs from the pass's start).
            return m["wall_time_s"] / m["n_passes"], [r["service_s"] for r in first_pass]

        if i % 2 == 0:
            (window_s, calls), got = llem(), peer.run(spec)
        else:
            got = peer.run(spec)
            window_s, calls = llem()
        peer_s = sum(got["generate_s"])
        ratios.append(window_s / peer_s)
        llem_windows.append(window_s)
        peer_totals.append(peer_s)
        llem_calls += calls
        peer_calls += got["generate_s"]
        first = "llem" if i % 2 == 0 else "peer"
        print(
            f"   pair {i + 1} ({first} first): llem window {window_s:.3f} s [{fmt(calls)}]; "
            f"peer {peer_s:.3f} s [{fmt(got['generate_s'])}]; ratio {window_s / peer_s:.3f}"
        )
    med, lo, hi = ci95(ratios)
    print(
        f"   per generate call, median over all pairs: llem {statistics.median(llem_calls) * 1e3:.1f} ms, "
        f"peer {statistics.median(peer_calls) * 1e3:.1f} ms"
    )
    best = min(llem_windows) / min(peer_totals)  # load only ever adds time: the fastest runs are the least disturbed
    print(f"   fastest of each side: llem {min(llem_windows):.3f} s, peer {min(peer_totals):.3f} s, ratio {best:.3f}")
    verdict = "met" if med <= 1.0 else "missed"
    print(f"   llem window / peer inline generate time: median {med:.3f}, 95% CI [{lo:.3f}, {hi:.3f}]")
    print(f"   (target <= 1.0: {verdict})")


# ---------------------------------------------------------------------------------------------
# 2. the sweep


def campaign_file(out: Path, workloads: tuple[Workload, ...], name: str) -> Path:
    """llem's 4 x 2 campaign: the workloads as explicit experiments, cycles interleaved like the peer's."""
    fixed = workloads[0].llem()
    del fixed["n_prompts"], fixed["pytorch"], fixed["seed"]
    doc = {
        "name": name,
        **fixed,
        "experiments": [
            {"n_prompts": w.n_prompts, "seed": w.seed, "pytorch": {"batch_size": w.batch_size}} for w in workloads
        ],
        "execution": {"n_cycles": CYCLES, "cycle_order": "interleaved"},
    }
    for w in workloads:  # the campaign's shared fields must be each workload's
        assert (w.input_tokens, w.output_tokens) == (workloads[0].input_tokens, workloads[0].output_tokens)
    path = out / f"campaign-{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def peer_config_dir(out: Path, workloads: tuple[Workload, ...], model_path: str, name: str) -> Path:
    """The peer's hydra configs: a base config and one ``workload`` option per config."""
    root = out / name
    (root / "workload").mkdir(parents=True)
    w0 = workloads[0]
    base = {
        "defaults": [
            "benchmark",
            {"backend": "pytorch"},
            {"launcher": "inline"},
            {"scenario": "inference"},
            {"workload": w0.label},
            "_self_",
        ],
        "name": "cycle1",
        "backend": {
            "device": "cpu",
            "model": model_path,
            "task": "text-generation",
            "torch_dtype": "float32",
            "no_weights": False,
        },
        "scenario": {
            "input_shapes": {"sequence_length": w0.input_tokens},
            "generate_kwargs": {"max_new_tokens": w0.output_tokens, "min_new_tokens": w0.output_tokens},
            "duration": 0,
            "warmup_runs": 1,
            "latency": True,
            "memory": False,
            "energy": False,
        },
        "hydra": {"sweep": {"subdir": "${hydra.job.num}"}, "job": {"chdir": True}},
    }
    (root / "peer.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    for w in workloads:
        doc = {
            "backend": {"seed": w.seed},
            "scenario": {"input_shapes": {"batch_size": w.batch_size}, "iterations": w.calls},
        }
        (root / "workload" / f"{w.label}.yaml").write_text("# @package _global_\n" + yaml.safe_dump(doc))
    return root


def llem_sweep(campaign: Path, out: Path) -> tuple[float, float]:
    """Wall time of ``llem campaign up`` (local executor, warm start), and the sum of its units' windows."""
    start = time.perf_counter()
    done = subprocess.run(
        [LLEM, "campaign", "up", str(campaign), "--executor", "local", "--results-dir", str(out)],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    results = [p for p in out.glob("*/*_c*.json") if not p.name.endswith(".error.json")]
    if done.returncode != 0 or len(results) != 4 * CYCLES:
        raise RuntimeError(f"llem campaign up failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, sum(json.loads(p.read_text())["metrics"]["wall_time_s"] for p in results)


PEER_INLINE_BUG = "is not JSON serializable"
_noted: set[str] = set()


def peer_sweep(config_dir: Path, launcher: str, out: Path, workloads: tuple[Workload, ...]) -> tuple[float, float]:
    """Wall time of ``optimum-benchmark --multirun`` over the configs and cycles, and its jobs' generate time."""
    argv = [
        str(VENV / "bin" / "optimum-benchmark"),
        "--config-dir",
        str(config_dir),
        "--config-name",
        "peer",
        "--multirun",
        f"launcher={launcher}",
        f"hydra.sweep.dir={out}",
        "name=" + ",".join(f"cycle{c}" for c in range(1, CYCLES + 1)),  # outer: cycles, like llem's interleaved
        "workload=" + ",".join(w.label for w in workloads),
    ]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=out.parent)
    wall = time.perf_counter() - start
    reports = list(out.glob("*/benchmark_report.json"))
    if len(reports) != len(workloads) * CYCLES:
        raise RuntimeError(f"peer multirun ({launcher}) failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if done.returncode != 0:
        # 0.6.0's inline launcher leaves its per-token logits processor in the scenario config, so the
        # job's last step (benchmark.json = config + report) cannot serialise it: every report is written.
        if launcher != "inline" or PEER_INLINE_BUG not in done.stderr:
            raise RuntimeError(f"peer multirun ({launcher}) failed ({done.returncode}):\n{done.stderr[-3000:]}")
        if launcher not in _noted:
            _noted.add(launcher)
            print(
                "   note: the peer's inline multirun exits 1: after writing each job's reports, benchmark.json "
                "fails (its per-token logits processor is left in the config; not JSON serializable)"
            )
    return wall, sum(json.loads(p.read_text())["generate"]["latency"]["total"] for p in reports)


@dataclass
class SweepRuns:
    """Per variant: each run's wall time and the part of it spent in timed generate work."""

    walls: dict[str, list[float]]
    work: dict[str, list[float]]

    def outside(self, label: str) -> list[float]:
        return [a - b for a, b in zip(self.walls[label], self.work[label], strict=True)]


def sweep_rounds(model_path: str, out: Path, rounds: int) -> SweepRuns:
    ws = SWEEP
    print(
        f"\n2. sweep: {len(ws)} configs (batch {'/'.join(str(w.batch_size) for w in ws)}, {ws[0].n_prompts} prompts, "
        f"{ws[0].input_tokens} in / {ws[0].output_tokens} out) x {CYCLES} cycles, end to end; "
        f"{rounds} rounds in rotating order"
    )
    print("   each: the command's wall time [its timed generate work: llem's windows, the peer's generates]")
    campaign = campaign_file(out, ws, "sweep")
    config_dir = peer_config_dir(out, ws, model_path, "peer-sweep")
    labels = ("llem", "peer inline", "peer process")
    runs = SweepRuns({k: [] for k in labels}, {k: [] for k in labels})
    variants: list[tuple[str, Callable[[int], tuple[float, float]]]] = [
        ("llem", lambda i: llem_sweep(campaign, out / f"llem-{i}")),
        ("peer inline", lambda i: peer_sweep(config_dir, "inline", out / f"inline-{i}", ws)),
        ("peer process", lambda i: peer_sweep(config_dir, "process", out / f"process-{i}", ws)),
    ]
    for i in range(rounds):
        for k in range(len(variants)):
            label, run = variants[(i + k) % len(variants)]
            wall, work = run(i)
            runs.walls[label].append(wall)
            runs.work[label].append(work)
        print(
            "   round {}: {}".format(
                i + 1, ", ".join(f"{k} {runs.walls[k][-1]:.1f} s [{runs.work[k][-1]:.1f}]" for k in labels)
            )
        )
    for k in labels:
        print(
            f"   {k + ':':13} median {statistics.median(runs.walls[k]):6.1f} s; "
            f"outside the timed generates {statistics.median(runs.outside(k)):6.1f} s"
        )
    for k in ("peer inline", "peer process"):
        med, lo, hi = ci95([a / b for a, b in zip(runs.walls["llem"], runs.walls[k], strict=True)])
        omed, olo, ohi = ci95([a / b for a, b in zip(runs.outside("llem"), runs.outside(k), strict=True)])
        print(
            f"   llem / {k} --multirun: {med:.3f} [{lo:.3f}, {hi:.3f}]; "
            f"outside the timed generates {omed:.3f} [{olo:.3f}, {ohi:.3f}]"
        )
    med = statistics.median(a / b for a, b in zip(runs.walls["llem"], runs.walls["peer inline"], strict=True))
    print(f"   (target llem / peer inline <= 1.0: {'met' if med <= 1.0 else 'missed'})")
    return runs


# ---------------------------------------------------------------------------------------------
# 3. item by item


@contextmanager
def timed_pieces(spent: dict[str, float]) -> Iterator[None]:
    """Time llem's own steps by wrapping them where llem-exp looks them up; seconds into ``spent``.

    ``experiment`` is all of ``run_experiment``; the other labels are steps inside it (a step called
    inside another timed step, like ``prepare`` inside warmup, counts to the outer one).
    """
    from llenergymeasure.backends.pytorch.runner import PyTorchRunner
    from llenergymeasure.experiment import offline
    from llenergymeasure.experiment import runner as exp
    from llenergymeasure.experiment.measure import MeasuredWindow

    targets: list[tuple[Any, str, str]] = [
        (exp, "run_experiment", "experiment"),
        (exp, "open_devices", "NVML probe"),
        (PyTorchRunner, "load", "model load"),
        (exp, "run_warmup", "warmup"),
        (PyTorchRunner, "prepare", "prepare inputs"),
        (MeasuredWindow, "begin", "window open"),
        (offline, "run_passes", "window"),
        (exp, "collect_environment", "environment"),
        (exp, "write_json_atomic", "result write"),
    ]
    saved = []
    depth = [0]
    for owner, name, label in targets:
        if not hasattr(owner, name):  # the harness changed: that step is counted in "rest"
            continue
        original = getattr(owner, name)
        saved.append((owner, name, original))
        outer = label == "experiment"

        def wrapped(*args: Any, _f: Any = original, _label: str = label, _outer: bool = outer, **kwargs: Any) -> Any:
            if depth[0] and not _outer:
                return _f(*args, **kwargs)
            depth[0] += 0 if _outer else 1
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                depth[0] -= 0 if _outer else 1
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - start

        setattr(owner, name, wrapped)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


TIMES_ENV = "LLEM_BENCH_TIMES"


def timed_unit(argv: list[str]) -> int:
    """A warm-start child's target: ``llem-exp ARGV`` with its steps timed, written to $LLEM_BENCH_TIMES.

    ``child start`` and ``child end`` are wall-clock times (``time.time``), comparable with the client's.
    """
    from llenergymeasure.experiment.entrypoint import run_argv

    spent: dict[str, float] = {"child start": time.time()}
    try:
        with timed_pieces(spent):
            return run_argv(argv)
    finally:
        spent["child end"] = time.time()
        Path(os.environ[TIMES_ENV]).write_text(json.dumps(spent))


def child_gc_s(freeze: bool) -> float:
    """``gc.collect()`` in a child forked from this process (torch, transformers and llem imported, as in
    the warm-start server), optionally after ``gc.freeze()`` here; the child's own measurement."""
    import gc

    if freeze:
        gc.collect()
        gc.freeze()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: time one full collection, report it, leave without cleanup
        start = time.perf_counter()
        gc.collect()
        os.write(write, str(time.perf_counter() - start).encode())
        os._exit(0)
    os.close(write)
    took = float(os.read(read, 64))
    os.close(read)
    os.waitpid(pid, 0)
    if freeze:
        gc.unfreeze()
    return took


def preload_s(campaign_dir: Path) -> float:
    """The warm-start server's import time, from the line it writes to its log in the campaign folder."""
    for log in campaign_dir.glob("*/logs/forkserver-pytorch.log"):
        for line in log.read_text().splitlines():
            if line.startswith("preloaded ") and line.endswith(" s"):
                return float(line.split(" in ")[-1][:-2])
    return float("nan")


def items(peer: PeerDriver, model_path: str, out: Path, repeats: int) -> None:
    w = TRIVIAL
    print(
        f"\n3. item by item: a trivial workload ({w.n_prompts} prompt, {w.input_tokens} in / {w.output_tokens} out, "
        f"warmup as above); {repeats} rounds alternating with the peer, medians"
    )
    cfg_file = write_config(out / "trivial.yaml", w)
    spec = w.peer(model_path, "inline")
    timed = WarmServer(out, "timed", timed=True)  # its children time llem-exp's steps (timed_unit)
    units: list[dict[str, float]] = []
    inline: list[dict[str, Any]] = []

    def llem_one(i: int) -> None:
        times = out / f"times-{i}.json"
        start = time.time()
        timed.unit(cfg_file, out, f"t{i}", env={TIMES_ENV: str(times)})
        end = time.time()
        got = json.loads(times.read_text())
        got["to child"] = got["child start"] - start
        got["after child"] = end - got["child end"]
        got["unit"] = end - start
        units.append(got)

    def peer_one(i: int) -> None:
        inline.append(peer.run(spec))

    try:
        llem_one(-1), peer_one(-1)  # unmeasured: the first fork and the first launch
        units.clear(), inline.clear()
        for i in range(repeats):
            for f in (llem_one, peer_one) if i % 2 == 0 else (peer_one, llem_one):
                f(i)
    finally:
        timed.close()
    process = [peer.run(w.peer(model_path, "process")) for _ in range(2)]
    gc_plain = statistics.median(child_gc_s(freeze=False) for _ in range(repeats))
    gc_frozen = statistics.median(child_gc_s(freeze=True) for _ in range(repeats))

    def med(key: str, rows: list[dict[str, Any]] = units) -> float:
        return statistics.median(float(r.get(key, 0.0)) for r in rows)

    steps = ["NVML probe", "model load", "warmup", "prepare inputs", "window open", "window", "environment"]
    steps.append("result write")
    entry = [u["child end"] - u["child start"] - u.get("experiment", 0.0) for u in units]
    rest = [u.get("experiment", 0.0) - sum(u.get(k, 0.0) for k in steps) for u in units]
    peer_rest = [r["job_s"] - r["load_model_s"] - r["first_generate_s"] - sum(r["generate_s"]) for r in inline]

    def row(label: str, llem: float | None, other: float | None) -> None:
        cells = [f"{v:7.3f}" if v is not None else f"{'-':>7}" for v in (llem, other)]
        print(f"     {label:<70}{cells[0]}{cells[1]}")

    print(f"   per unit, s{' ' * 63}llem   peer")
    row("client start, connect, fork (peer inline: none)", med("to child"), 0.0)
    row("llem-exp entry and exit: CLI, logging, config load and hash", statistics.median(entry), None)
    row("NVML probe (fails fast without a driver)", med("NVML probe"), None)
    row("model load (peer: its load_model)", med("model load"), med("load_model_s", inline))
    row(
        "warmup, 2 batches (peer: its first_generate; other warmups in rest)",
        med("warmup"),
        med("first_generate_s", inline),
    )
    row("prepare inputs (token ids to tensors, before the window)", med("prepare inputs"), None)
    row("window open: gc.collect() + gc.freeze()", med("window open"), None)
    row("window (peer: its timed generates)", med("window"), statistics.median(sum(r["generate_s"]) for r in inline))
    row("environment facts", med("environment"), None)
    row("result write (JSON, atomic)", med("result write"), None)
    row(
        "rest (llem: runner set-up, result assembly; peer: init, inputs, warmups)",
        statistics.median(rest),
        statistics.median(peer_rest),
    )
    row("child exit to the client's exit", med("after child"), 0.0)
    row("unit: llem forked, client start to exit / the peer's inline launch", med("unit"), med("job_s", inline))
    print(
        f"     the peer's process launcher, per job (spawns a new interpreter that imports torch): "
        f"{med('job_s', process):.3f} s"
    )
    print(
        f"     gc.collect() in a child forked from a process with torch and transformers imported (what opening\n"
        f"     the window costs a warm-start unit): {gc_plain:.3f} s; with gc.freeze() in the parent before the "
        f"fork: {gc_frozen:.4f} s"
    )

    four = tuple(replace(w, seed=s) for s in (1, 2, 3, 4))
    n = len(four) * CYCLES
    llem_wall, _ = llem_sweep(campaign_file(out, four, "trivial"), out / "trivial-llem")
    preload = preload_s(out / "trivial-llem")
    start = time.perf_counter()
    subprocess.run([LLEM, "campaign", "plan", str(out / "campaign-trivial.yaml")], check=True, capture_output=True)
    plan_s = time.perf_counter() - start
    trivial_dir = peer_config_dir(out, four, model_path, "trivial-peer")
    peer_wall, _ = peer_sweep(trivial_dir, "inline", out / "trivial-inline", four)
    start = time.perf_counter()
    subprocess.run([VENV / "bin" / "optimum-benchmark", "--help"], check=True, capture_output=True)
    cli_start = time.perf_counter() - start
    unit, job = med("unit"), med("job_s", inline)
    print(f"   per campaign run, {n} trivial units, one run each (remainders mix moments: noisy on a loaded machine):")
    print(
        f"     llem campaign up {llem_wall:5.1f} s: warm-start server imports {preload:.1f} s (its log), "
        f"CLI start + plan {plan_s:.1f} s (llem campaign plan), {n} x unit {unit:.3f} s,\n"
        f"       remainder {llem_wall - preload - plan_s - n * unit:.1f} s (preflight, server interpreter start, "
        "manifest, progress, polling, stop)"
    )
    print(
        f"     peer multirun  {peer_wall:5.1f} s: CLI start {cli_start:.1f} s (optimum-benchmark --help), "
        f"{n} x launch {job:.3f} s, remainder {peer_wall - cli_start - n * job:.1f} s "
        "(hydra: compose each job; config, report and log files)"
    )
    print(
        "   not in these figures: the prefill split (energy.prefill_split, default on: one more pass of 1-token\n"
        "   generates) and the idle baseline (baseline.enabled, default on: 5 s, needs NVML), both off here"
    )


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15, help="paired window runs (default 15)")
    parser.add_argument("--sweep-pairs", type=int, default=3, help="sweep rounds, each runs all three (default 3)")
    parser.add_argument("--repeats", type=int, default=5, help="trivial units per item figure (default 5)")
    parser.add_argument("--only", choices=["window", "sweep", "items"], action="append", help="run only these parts")
    args = parser.parse_args()
    parts = set(args.only or ["window", "sweep", "items"])
    t0 = time.perf_counter()
    print(f"peer: {ensure_peer()}")
    out = scratch()
    model_path = resolve_model(MODEL)
    print(f"model: {MODEL} at {model_path}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with (out / "peer-driver.log").open("w") as log:
        server = WarmServer(out)
        peer = PeerDriver(log, out)
        try:
            if "window" in parts:
                window_pairs(server, peer, model_path, out, args.pairs)
            if "sweep" in parts:
                sweep_rounds(model_path, out, args.sweep_pairs)
            if "items" in parts:
                items(peer, model_path, out, args.repeats)
        finally:
            peer.close()
            server.close()
    print(
        f"\ntotal {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f} at the end; "
        f"scratch files in {out}"
    )


if __name__ == "__main__":
    main()
