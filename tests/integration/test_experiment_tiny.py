"""The real PyTorch path on a real tiny model on the CPU; NVML faked only at the pynvml boundary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.experiment.runner import run_experiment
from llenergymeasure.results.reader import read_result
from tests.fakes.nvml import FakeNvml
from tests.integration.conftest import FAST


def cfg(**over: object) -> ExperimentConfig:
    data = yaml.safe_load(FAST)
    data.update(over)
    return ExperimentConfig.model_validate(data)


def no_nvml() -> object:
    from llenergymeasure.errors import EnergyUnavailableError

    raise EnergyUnavailableError("NVML could not start (test)")


def test_cpu_run_without_nvml_says_energy_unavailable(tmp_path: Path) -> None:
    c = cfg(n_prompts=5, pytorch={"batch_size": 2}, max_output_tokens=6)
    out = run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=no_nvml)  # type: ignore[arg-type]
    r = read_result(out.result_path, config_hash(c), 1)
    m = r.metrics
    assert (m.n_requests, m.output_tokens) == (5, 30)  # ignore_eos: exactly max_output_tokens each
    assert m.output_tokens_per_s > 0
    assert m.latency_s.max >= m.latency_s.min > 0
    assert m.ttft_s is not None
    assert m.itl_s is not None
    assert 0 < m.ttft_s.mean <= m.latency_s.mean
    # First token, then 5 more steps: each request's latency is TTFT + 5 inter-token gaps.
    assert m.ttft_s.mean + 5 * m.itl_s.mean == pytest.approx(m.latency_s.mean, rel=1e-6)
    assert [(s.input_tokens > 0, s.output_tokens) for s in m.requests] == [(True, 6)] * 5
    assert sum(s.input_tokens for s in m.requests) == m.input_tokens
    assert max(s.latency_s for s in m.requests) == m.latency_s.max
    assert min(s.ttft_s for s in m.requests if s.ttft_s is not None) == m.ttft_s.min
    assert m.memory_device == "cpu"
    assert m.peak_memory_bytes
    assert m.peak_memory_bytes > 0
    assert m.n_parameters
    assert m.flops_estimate == 2.0 * m.n_parameters * (m.input_tokens + m.output_tokens)
    assert r.energy.available is False
    assert r.energy.reason == "NVML could not start (test)"
    assert r.energy.total_energy_j is None
    assert not (tmp_path / "r.parquet").exists()
    assert r.environment["packages"]["torch"]


def test_run_with_fake_nvml_reports_energy_and_timeseries(tmp_path: Path) -> None:
    fake = FakeNvml(counter_supported=True)
    c = cfg(n_prompts=8, energy={"sample_interval_ms": 5}, baseline={"enabled": True, "duration_s": 0.2})
    out = run_experiment(c, tmp_path, "r", config_hash(c), 2, nvml_loader=lambda: fake)  # type: ignore[arg-type,return-value]
    e = out.result.energy
    assert e.available
    assert e.method == "counter"
    assert e.total_energy_j
    assert e.duration_s
    # Mean power must be within the fake's curve (150 W ± 60 W).
    assert 90 <= e.total_energy_j / e.duration_s <= 210
    assert e.energy_per_output_token_j == pytest.approx(e.total_energy_j / out.result.metrics.output_tokens)
    assert e.baseline_power_w
    assert 90 <= e.baseline_power_w <= 210
    assert e.baseline_state == "loaded"
    assert e.adjusted_energy_j == pytest.approx(e.total_energy_j - e.baseline_power_w * e.duration_s)
    table = pq.read_table(tmp_path / "r.parquet")
    t_s = table.column("t_s").to_pylist()
    # Every tick of the window, then the tail read past its end (none here: the counter moves at once).
    assert len([t for t in t_s if t <= e.duration_s]) == e.sample_count
    assert 0.0 <= t_s[0] < 0.01
    assert set(table.column_names) >= {"power_w", "energy_mj", "temperature_c", "throttle_reasons"}
    assert out.result.environment["gpus"][0]["name"] == "Fake H100"
    assert (e.temperature_start_c, e.temperature_end_c, e.throttled) == (55, 55, False)
    assert set(table.column_names) >= {"sm_clock_mhz", "mem_clock_mhz"}


def test_llem_exp_cli_writes_result_or_error_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(FAST)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llenergymeasure.experiment.entrypoint",
            str(good),
            "--out",
            str(tmp_path / "out"),
            "--cycle",
            "3",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (result,) = (tmp_path / "out").glob("*.json")
    assert result.name.startswith("llem--tiny-llama_pytorch_fp32_")
    assert result.name.endswith("_c3.json")

    bad = tmp_path / "bad.yaml"
    bad.write_text(FAST.replace("n_prompts: 2", "n_prompts: 0"))
    proc = subprocess.run(
        [sys.executable, "-m", "llenergymeasure.experiment.entrypoint", str(bad), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {bad}:5: n_prompts: Input should be greater than or equal to 1 (got 0)"
    )
    assert (tmp_path / "out" / "bad.error.json").exists()


def test_missing_model_fails_with_error_file(tmp_path: Path) -> None:
    good = tmp_path / "m.yaml"
    good.write_text(FAST.replace("llem/tiny-llama", str(tmp_path / "no-such-model")))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llenergymeasure.experiment.entrypoint",
            str(good),
            "--out",
            str(tmp_path),
            "--stem",
            "s",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "error_type" in (tmp_path / "s.error.json").read_text()


def test_min_window_repeats_whole_passes_and_reports_uncertainty(tmp_path: Path) -> None:
    fake = FakeNvml(n_gpus=2, base_w=(120.0, 250.0), counter_update_s=0.1, power_avg_s=1.0)
    energy = {"sample_interval_ms": 20, "min_window_s": 2.0, "gpu_indices": [0, 1], "prefill_split": False}
    c = cfg(n_prompts=2, max_output_tokens=2, energy=energy)
    out = run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=lambda: fake)  # type: ignore[arg-type,return-value]
    m, e = out.result.metrics, out.result.energy
    # One pass of 2 two-token prompts takes ~0.05 s here (0.5 s on a machine loaded 10x): many passes.
    assert m.n_passes >= 2
    assert (m.n_requests, m.output_tokens, len(m.requests)) == (2 * m.n_passes, 4 * m.n_passes, 2 * m.n_passes)
    assert m.wall_time_s >= 2.0
    assert e.duration_s is not None
    assert e.duration_s >= m.wall_time_s
    assert e.energy_per_request_j == pytest.approx((e.total_energy_j or 0.0) / m.n_requests)
    assert e.counter_update_period_s == pytest.approx(0.1, abs=0.02)
    assert e.total_energy_uncertainty_j == pytest.approx(sum(e.per_gpu_energy_uncertainty_j.values()))
    assert set(e.per_gpu_energy_uncertainty_j) == {"0", "1"}
    assert e.energy_per_output_token_uncertainty_j == pytest.approx(
        (e.total_energy_uncertainty_j or 0.0) / m.output_tokens
    )


def test_energy_covers_only_the_units_gpu_found_by_uuid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Four GPUs at constant, different powers: the unit was given GPU 2 by UUID, so its energy is
    # GPU 2's alone (300 W over the window), never the node's 1000 W.
    # Real-hardware resolution: the counter updates every 100 ms, power readings are 1 s averages.
    fake = FakeNvml(
        n_gpus=4, base_w=(100.0, 200.0, 300.0, 400.0), amps_w=(0.0,) * 4, counter_update_s=0.1, power_avg_s=1.0
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-fake-2")
    energy = {"min_window_s": 1.0, "prefill_split": False}  # not the default's 10 s: scope is the point here
    c = cfg(n_prompts=2, max_output_tokens=3, baseline={"enabled": False}, energy=energy)
    out = run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=lambda: fake)  # type: ignore[arg-type,return-value]
    e, env = out.result.energy, out.result.environment
    assert list(e.per_gpu_energy_j) == ["0"]
    assert e.total_energy_j is not None
    assert e.duration_s is not None
    assert e.total_energy_uncertainty_j is not None
    assert abs(e.total_energy_j - 300.0 * e.duration_s) <= e.total_energy_uncertainty_j
    assert e.sampled_energy_j == pytest.approx(300.0 * e.duration_s, rel=0.01)
    assert [(g["index"], g["uuid"], g["pci_bus_id"], g["enforced_power_limit_w"]) for g in env["gpus"]] == [
        (0, "GPU-fake-2", "00000000:1A:00.0", 650.0)
    ]
    assert env["cuda_visible_devices"] == "GPU-fake-2"


def test_gpu_indices_beyond_the_visible_gpus_fail_the_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llenergymeasure.errors import ConfigError

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    c = cfg(n_prompts=2, max_output_tokens=3, energy={"gpu_indices": [1]})
    with pytest.raises(
        ConfigError, match=r"^energy.gpu_indices \[1\]: the experiment sees 1 GPU\(s\) \(ordinals 0..0\)"
    ):
        run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=lambda: FakeNvml(n_gpus=2, base_w=(1.0, 2.0)))  # type: ignore[arg-type,return-value]
    assert list(tmp_path.iterdir()) == []


def test_cpu_energy_unavailable_here_says_why(tmp_path: Path) -> None:
    # This machine (like most VMs) has no /sys/class/powercap: the real default root is read.
    c = cfg(n_prompts=2, max_output_tokens=3)
    out = run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=no_nvml)  # type: ignore[arg-type]
    cpu = read_result(out.result_path, config_hash(c), 1).cpu_energy
    if Path("/sys/class/powercap").is_dir():
        pytest.skip("this machine exposes powercap; the fake-tree test covers the available path")
    assert cpu.available is False
    assert cpu.reason == (
        "no powercap interface at /sys/class/powercap (no RAPL on this CPU, or not exposed to this VM/container)"
    )
    assert (cpu.total_energy_j, cpu.node_energy_j, cpu.package_energy_j) == (None, None, {})


def test_cpu_energy_from_a_fake_powercap_tree_and_node_total(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    d = root / "intel-rapl:0"
    d.mkdir(parents=True)
    (d / "name").write_text("package-0\n")
    (d / "energy_uj").write_text("0\n")
    (d / "max_energy_range_uj").write_text("262143328850\n")
    fake = FakeNvml()
    c = cfg(n_prompts=2, max_output_tokens=3)
    out = run_experiment(
        c,
        tmp_path,
        "r",
        config_hash(c),
        1,
        nvml_loader=lambda: fake,
        powercap_root=root,  # type: ignore[arg-type,return-value]
    )
    cpu, gpu = out.result.cpu_energy, out.result.energy
    # The counter did not move (nothing writes the fake file): 0 J, reported as measured, not invented.
    assert (cpu.available, cpu.package_energy_j, cpu.dram_energy_j, cpu.total_energy_j) == (True, {"0": 0.0}, {}, 0.0)
    assert cpu.node_energy_j == gpu.total_energy_j
    assert cpu.duration_s == pytest.approx(gpu.duration_s, abs=0.05)
    assert cpu.source == str(root)


def test_bf16_on_cpu_runs_as_configured_and_warns(tmp_path: Path) -> None:
    cfg = tmp_path / "bf16.yaml"
    cfg.write_text(FAST.replace("precision: fp32", "precision: bf16") + "pytorch: {device: cpu}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "llenergymeasure.experiment.entrypoint", str(cfg), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "precision bf16 on the CPU (precision defaults to bf16 on every device)" in proc.stderr
    (result,) = (tmp_path / "out").glob("*.json")
    data = json.loads(result.read_text())
    assert (data["config"]["precision"], data["environment"]["device"]) == ("bf16", "cpu")


def test_prefill_and_decode_split_the_window_against_the_fakes_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Constant 250 W: any window's true energy is 250 W x its length, so prefill and decode
    # must each match their share of the time, and add up to the total exactly.
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = FakeNvml(base_w=(250.0,), amps_w=(0.0,), counter_update_s=0.1)
    c = cfg(n_prompts=4, max_output_tokens=6, baseline={"enabled": False}, energy={"min_window_s": 1.0})
    out = run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=lambda: fake)  # type: ignore[arg-type,return-value]
    m, e = out.result.metrics, out.result.energy
    assert e.prefill_energy_j is not None
    assert e.decode_energy_j is not None
    assert e.total_energy_j is not None
    assert e.prefill_energy_j + e.decode_energy_j == pytest.approx(e.total_energy_j)
    assert m.prefill_time_s is not None
    assert m.decode_time_s is not None
    assert m.prefill_time_s + m.decode_time_s == pytest.approx(m.wall_time_s)
    # Each share is 250 W x its energy window (the meter's begin() to end()), within its resolution bound.
    assert e.prefill_energy_uncertainty_j is not None
    assert e.decode_energy_uncertainty_j is not None
    assert e.prefill_window_s is not None
    assert e.prefill_passes is not None
    assert e.duration_s is not None
    prefill_s = e.prefill_window_s * m.n_passes / e.prefill_passes
    assert abs(e.prefill_energy_j - 250.0 * prefill_s) <= e.prefill_energy_uncertainty_j
    assert abs(e.decode_energy_j - 250.0 * (e.duration_s - prefill_s)) <= e.decode_energy_uncertainty_j
    assert m.decode_tokens == m.output_tokens - m.n_requests == (6 - 1) * 4 * m.n_passes
    assert e.energy_per_decode_token_j == pytest.approx(e.decode_energy_j / m.decode_tokens)
    # Times split as energies do, from the two windows' wall times: on a loaded machine the short window's
    # passes can run slow enough that the decode share comes out at or below zero; no rate is given then.
    if m.decode_time_s > 0:
        assert m.decode_tokens_per_s == pytest.approx(m.decode_tokens / m.decode_time_s)
    else:
        assert m.decode_tokens_per_s is None
    assert e.prefill_passes >= 1
    assert e.prefill_window_s >= 1.0
    assert (m.peak_memory_kind, m.memory_device) == ("process_rss", "cpu")
    assert (e.uncertainty_method, e.co2e_g_per_1k_tokens) == ("counter_brackets", None)


def test_carbon_per_1k_tokens_from_the_grid_intensity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = FakeNvml(base_w=(250.0,), amps_w=(0.0,))
    energy = {"grid_intensity_g_per_kwh": 400.0, "prefill_split": False}
    c = cfg(n_prompts=2, max_output_tokens=3, baseline={"enabled": False}, energy=energy)
    out = run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=lambda: fake)  # type: ignore[arg-type,return-value]
    e, m = out.result.energy, out.result.metrics
    assert e.total_energy_j is not None
    assert e.grid_intensity_g_per_kwh == 400.0
    assert e.co2e_g_per_1k_tokens == pytest.approx(e.total_energy_j / 3.6e6 * 400.0 / m.output_tokens * 1000)
    assert (e.prefill_energy_j, m.decode_tokens_per_s) == (None, None)


def test_sampled_power_carries_its_own_resolution_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = FakeNvml(counter_supported=False)
    energy = {"sample_interval_ms": 20, "min_window_s": 0.5}
    c = cfg(n_prompts=2, max_output_tokens=3, baseline={"enabled": False}, energy=energy)
    out = run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=lambda: fake)  # type: ignore[arg-type,return-value]
    e = out.result.energy
    assert (e.method, e.uncertainty_method) == ("sampling", "sampling")
    assert e.total_energy_uncertainty_j is not None
    assert e.total_energy_uncertainty_j > 0.0


class _NoTokenizer:
    """Stands in for the tokenizer while the window runs: any use of it is an error."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"tokenizer.{name} used inside the measured window")


def test_the_window_holds_only_the_engines_work() -> None:
    from llenergymeasure.backends.pytorch.runner import PyTorchRunner
    from llenergymeasure.experiment.prompts import select_prompts
    from llenergymeasure.experiment.runner import resolve_model

    c = cfg(n_prompts=5, pytorch={"batch_size": 2}, max_output_tokens=6)
    runner = PyTorchRunner(c)
    runner.load(resolve_model(c.model))
    prompts = select_prompts(c, runner.vocab_size)
    prepared = runner.prepare(prompts)  # tokenised, padded, on the device: before the window
    tokenizer, runner.tokenizer = runner.tokenizer, _NoTokenizer()
    raw = runner.execute(prepared)  # the window: generate and timestamps only
    runner.tokenizer = tokenizer
    submitted, timed = raw
    assert [t.output.shape[0] for t in timed] == [2, 2, 1]
    assert all(submitted <= t.start_s < t.first_token_s < t.end_s for t in timed)  # type: ignore[operator]
    # The first-token clock is a forward hook that removed itself after the prefill: the decode steps
    # ran with nothing of llem's called per step, and nothing is left on the model.
    assert dict(runner.model._forward_hooks) == {}
    assert [b.criteria for b in prepared.batches] == [None, None, None]
    records = runner.records(prepared, raw)  # after the window
    assert [r.output_tokens for r in records] == [6] * 5
    # Every request was submitted when the pass began: latency runs from there, its own batch's
    # generate time is the service time.
    assert [r.latency_s for r in records] == [timed[i // 2].end_s - submitted for i in range(5)]
    assert [r.service_s for r in records] == [timed[i // 2].end_s - timed[i // 2].start_s for i in range(5)]
    # A second pass on the same prepared inputs times afresh: the first-token clock was reset.
    _, again = runner.execute(prepared)
    assert [t.first_token_s > timed[-1].end_s for t in again] == [True, True, True]


def test_the_last_batchs_ttft_includes_the_earlier_batches() -> None:
    from llenergymeasure.backends.pytorch.runner import PyTorchRunner
    from llenergymeasure.experiment.prompts import select_prompts
    from llenergymeasure.experiment.runner import resolve_model

    c = cfg(n_prompts=5, pytorch={"batch_size": 2}, max_output_tokens=4)
    runner = PyTorchRunner(c)
    runner.load(resolve_model(c.model))
    prepared = runner.prepare(select_prompts(c, runner.vocab_size))
    raw = runner.execute(prepared)
    submitted, timed = raw
    records = runner.records(prepared, raw)
    last = records[-1]
    assert last.ttft_s == timed[2].first_token_s - submitted  # type: ignore[operator]
    # It waited for batches 1 and 2 to finish before its own prefill began.
    assert last.ttft_s > timed[1].end_s - submitted  # type: ignore[operator]
    assert [r.ttft_s for r in records[:2]] == [timed[0].first_token_s - submitted] * 2  # type: ignore[operator]
    assert last.service_s == timed[2].end_s - timed[2].start_s


@pytest.mark.parametrize("ignore_eos", [True, False])
def test_each_request_of_a_static_batch_stops_at_its_own_length(ignore_eos: bool) -> None:
    from llenergymeasure.backends.pytorch.runner import PyTorchRunner
    from llenergymeasure.experiment.prompts import select_prompts
    from llenergymeasure.experiment.runner import resolve_model

    c = cfg(
        n_prompts=5,
        pytorch={"batch_size": 3},
        max_output_tokens=8,
        decoding={"ignore_eos": ignore_eos},
    )
    runner = PyTorchRunner(c)
    runner.load(resolve_model(c.model))
    prompts = select_prompts(c, runner.vocab_size)
    prepared = runner.prepare(prompts, output_tokens=[3, 9, 5, 2, 2])
    assert [b.gen["max_new_tokens"] for b in prepared.batches] == [9, 2]
    records = runner.records(prepared, runner.execute(prepared))
    outputs = [r.output_tokens for r in records]
    if ignore_eos:
        assert outputs == [3, 9, 5, 2, 2]
    else:  # EOS may end a request early, never late
        assert [n <= cap for n, cap in zip(outputs, [3, 9, 5, 2, 2], strict=True)] == [True] * 5
    # The split's shorter window caps every request alike; shorter ones keep their own length.
    capped = runner.prepare(prompts, max_new_tokens=4, output_tokens=[3, 9, 5, 2, 2])
    if ignore_eos:
        assert [r.output_tokens for r in runner.records(capped, runner.execute(capped))] == [3, 4, 4, 2, 2]
