from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from llenergymeasure.campaign.manifest import CampaignManifest
from llenergymeasure.campaign.store import joined_document

ROOT = Path(__file__).resolve().parents[2]

SHIM = ROOT / "tests" / "fakes" / "pynvml_shim"


def use_fake_nvml(monkeypatch: pytest.MonkeyPatch, base_w: Sequence[float]) -> None:
    """Every process the test starts (host, units, Slurm jobs) imports the fake ``pynvml`` (steady at ``base_w``)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SHIM), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("LLEM_FAKE_NVML", json.dumps({"n_gpus": len(base_w), "base_w": list(base_w), "amp_w": 0.0}))


FAST = """
model: llem/tiny-llama
backend: pytorch
precision: fp32
n_prompts: 2
max_input_tokens: 32
max_output_tokens: 4
warmup: {n_runs: 0}
baseline: {enabled: false}
"""


def llem(
    *args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would, its output piped (tables at their natural width).

    A ``COLUMNS`` the test runner's environment carries (pytest-xdist workers have one) would make
    tables wrap cells as on a narrow terminal; a pipe has none.
    """
    merged = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.run(
        [sys.executable, "-m", "llenergymeasure.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=merged,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"llem {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def start_host(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """The real `llem` orchestrator in the background, to be killed (or interrupted) by the test.

    SIGINT is reset to its default in the child: a test run started in the background by a
    non-interactive shell (``cmd &``, as CI scripts do) inherits SIGINT ignored, and Python then
    never raises KeyboardInterrupt, so a Ctrl-C test would test nothing.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "llenergymeasure.cli.main", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def kill_when_unit_runs(host: subprocess.Popen[bytes], results: Path, index: int, timeout_s: float = 300) -> Path:
    """SIGKILL ``host`` once the manifest shows unit ``index`` running with a recorded handle."""
    deadline = time.monotonic() + timeout_s
    found: Path | None = None
    while time.monotonic() < deadline:
        dirs = list(results.glob("*/manifest.json")) if results.exists() else []
        if dirs:
            found = dirs[0].parent
            try:
                entries = manifest(found)["entries"]
            except ValueError:  # never expected: the manifest is replaced atomically
                raise AssertionError(f"torn manifest in {found}") from None
            if len(entries) > index and entries[index]["status"] == "running" and entries[index].get("handle"):
                break
        time.sleep(0.05)
    host.send_signal(signal.SIGKILL)
    host.wait()
    assert found is not None, "the campaign never started"
    return found


def wait_running(results: Path, n: int, field: str = "handle", timeout_s: float = 300) -> Path:
    """The campaign dir under ``results`` once ``n`` of its units run at the same time, each with ``field`` recorded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = list(results.glob("*/manifest.json")) if results.exists() else []
        if found:
            running = [e for e in manifest(found[0].parent)["entries"] if e["status"] == "running" and e.get(field)]
            if len(running) >= n:
                return found[0].parent
        time.sleep(0.05)
    raise AssertionError(f"never saw {n} units running at once with a {field}")


def kill_when_running(host: subprocess.Popen[bytes], results: Path, n: int, field: str = "handle") -> Path:
    """SIGKILL ``host`` once ``n`` units run at the same time (``wait_running``); on a timeout it is killed too."""
    try:
        d = wait_running(results, n, field)
    except AssertionError:
        host.kill()
        raise
    host.send_signal(signal.SIGKILL)
    host.wait()
    return d


def manifest(campaign_dir: Path) -> dict:
    """The manifest with every entry whole (on disk, per-experiment fields are stored once); ValueError if torn."""
    raw = json.loads((campaign_dir / "manifest.json").read_text())
    whole = CampaignManifest.model_validate(joined_document(raw)).model_dump(mode="json")
    return {**whole, "counters": raw["counters"]}


def only_campaign_dir(results: Path) -> Path:
    (d,) = [p for p in results.iterdir() if p.is_dir()]
    return d


def attempts_that_measured(campaign_dir: Path, stem: str) -> int:
    log = campaign_dir / "logs" / f"{stem}.log"
    return log.read_text().count("warmup done") if log.exists() else 0


@pytest.fixture(scope="session", autouse=True)
def _tiny_model_built(tiny_llama: Path) -> Path:
    """Built once, before any test's subprocesses would each build it (concurrently, under xdist)."""
    return tiny_llama


@pytest.fixture
def fast_campaign(tmp_path: Path) -> Path:
    p = tmp_path / "camp.yaml"
    p.write_text("name: fast\n" + FAST + "sweep:\n  pytorch.batch_size: [1, 2]\nexecution: {n_cycles: 2}\n")
    return p


@contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` to simulate a full disk: needs root; fatal under CI=true."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot mount a tmpfs to simulate a full disk: {mounted.stderr!r}")
        pytest.skip("needs root to mount a small tmpfs that simulates a full disk")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until its filesystem refuses: the disk is then full to the last block."""
    with open(path, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 1024)
        except OSError:
            pass


def chromium() -> str:
    """Headless Chromium's path; a skip elsewhere and a failure under CI=true when it is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium missing under CI; scripts/ensure-chromium.sh installs it")
        pytest.skip("chromium not installed: cannot render the report headless")
    return browser


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium run headless, offline, with a profile of its own (tests run in parallel)."""
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
