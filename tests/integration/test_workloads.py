"""Every dataset kind from a real YAML file and real data files; the real PyTorch path at dataset output lengths."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from llenergymeasure.campaign.api import plan_campaign
from llenergymeasure.campaign.prepare import prepare_campaign
from llenergymeasure.config.experiment import ExperimentConfig, HfDataset, JsonlDataset, ShareGptDataset, TableDataset
from llenergymeasure.config.identity import config_hash
from llenergymeasure.config.loader import load_experiment
from llenergymeasure.errors import ConfigError
from llenergymeasure.experiment.prompts import select_prompt_sets
from llenergymeasure.workload.readers import read_rows
from llenergymeasure.workload.rows import DatasetRow, canonical_jsonl

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "datasets"
ROWS = [{"prompt": f"prompt number {i}", "reply": "word " * (i + 1), "n": i + 2} for i in range(12)]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def experiment(tmp_path: Path, dataset: str, **extra: str) -> Path:
    lines = "".join(f"{k}: {v}\n" for k, v in extra.items())
    return write(tmp_path / "e.yaml", f"model: m\nbackend: pytorch\nn_prompts: 4\n{lines}dataset:\n{dataset}")


def save_hf(tmp_path: Path) -> Path:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "hf-saved"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:3])}
    ).save_to_disk(str(folder))
    return folder


def words(texts: Sequence[str]) -> list[int]:
    return [len(t.split()) for t in texts]


@pytest.mark.parametrize(
    ("name", "dataset", "n_rows"),
    [
        ("sharegpt", "  kind: sharegpt\n  path: {s}/sharegpt-sample.json\n", 40),
        ("csv", "  kind: table\n  path: {s}/prompts-sample.csv\n  output_field: output_tokens\n", 40),
        ("parquet", "  kind: table\n  path: {s}/prompts-sample.parquet\n  output_field: output_tokens\n", 40),
    ],
)
def test_sample_files_load_pin_their_digest_and_draw(tmp_path: Path, name: str, dataset: str, n_rows: int) -> None:
    cfg = load_experiment(experiment(tmp_path, dataset.format(s=SAMPLES), output_lengths="dataset"))
    assert isinstance(cfg.dataset, ShareGptDataset | TableDataset)
    assert cfg.dataset.sha256 == hashlib.sha256(Path(cfg.dataset.path).read_bytes()).hexdigest()
    rows, skipped = read_rows(cfg.dataset)
    assert (len(rows), skipped) == (n_rows, 2 if name == "sharegpt" else 0)
    drawn = select_prompt_sets(cfg, 1000, 2, words)
    assert drawn.output_tokens is not None
    assert [len(s) for s in drawn.sets] == [len(s) for s in drawn.output_tokens] == [4, 4]


def test_jsonl_and_synthetic_load(tmp_path: Path) -> None:
    write(tmp_path / "p.jsonl", "".join(json.dumps({"prompt": r["prompt"]}) + "\n" for r in ROWS))
    cfg = load_experiment(experiment(tmp_path, "  kind: jsonl\n  path: p.jsonl\n  filter: {max_input_tokens: 3}\n"))
    assert isinstance(cfg.dataset, JsonlDataset)
    assert cfg.dataset.sha256
    assert len(select_prompt_sets(cfg, 1000, 1, words).sets[0]) == 4
    synthetic = (
        "  kind: synthetic\n  prefix_tokens: 3\n  input: {distribution: normal, mean: 20, std: 5, min: 8, max: 32}\n"
        "  output: {distribution: lognormal, mean: 16, std: 8, max: 64}\n"
    )
    cfg = load_experiment(experiment(tmp_path, synthetic, output_lengths="dataset"))
    drawn = select_prompt_sets(cfg, 1000, 1)
    assert all(11 <= len(p) <= 35 for p in drawn.sets[0])
    assert drawn.output_tokens is not None
    assert all(1 <= n <= 64 for n in drawn.output_tokens[0])


def test_hf_saved_to_disk_is_identified_by_its_canonical_rows(tmp_path: Path) -> None:
    folder = save_hf(tmp_path)
    dataset = f"  kind: hf\n  path: {folder.name}\n  split: test\n  field: prompt\n  output_field: reply\n"
    cfg = load_experiment(experiment(tmp_path, dataset, output_lengths="dataset"))
    expected = canonical_jsonl(DatasetRow(str(r["prompt"]), str(r["reply"])) for r in ROWS[:3])
    assert isinstance(cfg.dataset, HfDataset)
    assert cfg.dataset.sha256 == hashlib.sha256(expected).hexdigest()
    drawn = select_prompt_sets(cfg, 1000, 1, words)
    assert drawn.output_tokens is not None
    assert sorted(set(drawn.output_tokens[0])) == [1, 2, 3]  # 3 rows (one drawn twice), replies of 1..3 words
    assert [int(str(p).split()[-1]) + 1 for p in drawn.sets[0]] == drawn.output_tokens[0]  # "prompt number i"
    # A parquet file of the same columns is the same dataset, wherever it lies.
    pytest.importorskip("datasets").Dataset.from_list(ROWS[:3]).to_parquet(str(tmp_path / "rows.parquet"))
    same = "  kind: hf\n  path: rows.parquet\n  split: test\n  output_field: reply\n"
    assert config_hash(load_experiment(experiment(tmp_path, same, output_lengths="dataset"))) == config_hash(cfg)


def test_hf_missing_from_the_cache_names_the_fetch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "empty-hf-home" / "datasets"))
    path = experiment(tmp_path, "  kind: hf\n  name: llem-test/absent\n  split: train\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    text = str(err.value)
    assert text.startswith(f"{path}:4: hf dataset llem-test/absent (split train) is not in the local cache (")
    assert text.endswith(
        "fetch it on a machine with network: python -c \"import datasets; datasets.load_dataset('llem-test/absent', "
        "split='train')\" (or huggingface-cli download --repo-type dataset llem-test/absent), then copy the cache here"
    )


def test_campaign_ships_files_and_hf_snapshots_content_addressed(tmp_path: Path) -> None:
    folder = save_hf(tmp_path)
    shutil.copy(SAMPLES / "prompts-sample.parquet", tmp_path / "t.parquet")
    campaign = write(
        tmp_path / "c.yaml",
        "model: m\nbackend: pytorch\nn_prompts: 3\nsweep:\n  dataset:\n"
        f"    - {{kind: hf, path: {folder.name}, output_field: reply}}\n"
        "    - {kind: table, path: t.parquet, output_field: output_tokens}\n",
    )
    _, plan = plan_campaign(campaign)
    layout, _, lock = prepare_campaign(plan, tmp_path / "results", campaign, "local")
    lock.release()
    shutil.rmtree(folder)  # units read the snapshot, never the dataset itself
    for exp in plan.experiments:
        unit_file = layout.configs / f"{exp.exp_id}.yaml"
        unit = yaml.safe_load(unit_file.read_text())["dataset"]
        digest = unit["sha256"]
        shipped = layout.configs / (unit["snapshot"] if unit["kind"] == "hf" else unit["path"])
        assert shipped.name == f"dataset_{digest[:16]}{'.jsonl' if unit['kind'] == 'hf' else '.parquet'}"
        assert hashlib.sha256(shipped.read_bytes()).hexdigest() == digest
        loaded = load_experiment(unit_file)
        assert config_hash(loaded) == exp.config_hash
        assert len(select_prompt_sets(loaded, 1000, 1, words).sets[0]) == 3


def test_pytorch_runs_each_request_to_its_reference_reply_length(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from llenergymeasure.experiment.runner import run_experiment
    from llenergymeasure.models.tiny import ensure_tiny_model
    from llenergymeasure.results.reader import read_result
    from tests.integration.conftest import FAST

    data = yaml.safe_load(FAST)
    data.update(
        n_prompts=6,
        output_lengths="dataset",
        pytorch={"batch_size": 3},
        energy={"min_window_s": 0, "prefill_split": False},
        dataset={
            "kind": "sharegpt",
            "path": str(SAMPLES / "sharegpt-sample.json"),
            "filter": {"max_output_tokens": 40},
        },
    )
    c = ExperimentConfig.model_validate(data)
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_model("llem/tiny-llama"))

    def count(texts: object) -> list[int]:
        return [len(tokenizer.encode(t, add_special_tokens=False)) for t in texts]  # type: ignore[attr-defined]

    expected = select_prompt_sets(c, len(tokenizer), 1, count).output_tokens
    assert expected is not None
    assert len(set(expected[0])) > 1  # varied lengths, else the check proves little

    def no_nvml() -> object:
        from llenergymeasure.errors import EnergyUnavailableError

        raise EnergyUnavailableError("NVML could not start (test)")

    out = run_experiment(c, tmp_path, "r", config_hash(c), 1, nvml_loader=no_nvml)  # type: ignore[arg-type]
    m = read_result(out.result_path, config_hash(c), 1).metrics
    assert [r.output_tokens for r in m.requests] == expected[0]
    assert m.output_tokens == sum(expected[0])


def test_natural_lengths_stop_each_request_at_the_eos_the_model_emits(tmp_path: Path) -> None:
    """The tiny model's weights are random, so its own EOS never comes: a copy of it names as EOS a token
    the model does emit greedily, and each request must stop right after its first one (or at the cap)."""
    import json
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llenergymeasure.experiment.runner import run_experiment
    from llenergymeasure.models.tiny import ensure_tiny_model
    from llenergymeasure.results.reader import read_result
    from tests.integration.conftest import FAST

    cap = 24
    model_dir = tmp_path / "eos-model"
    shutil.copytree(ensure_tiny_model("llem/tiny-llama"), model_dir)
    data = yaml.safe_load(FAST)
    data.update(
        model=str(model_dir),
        n_prompts=6,
        max_output_tokens=cap,
        output_lengths="natural",
        pytorch={"batch_size": 1},
        energy={"min_window_s": 0, "prefill_split": False},
        dataset={"kind": "sharegpt", "path": str(SAMPLES / "sharegpt-sample.json")},
    )
    c = ExperimentConfig.model_validate(data)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    prompts = select_prompt_sets(c, len(tokenizer), 1).sets[0]

    def greedy(prompt: object) -> list[int]:
        ids = torch.tensor([tokenizer.encode(prompt)[: c.max_input_tokens]])
        with torch.inference_mode():
            out = model.generate(ids, max_new_tokens=cap, min_new_tokens=cap, do_sample=False, pad_token_id=0)
        return out[0, ids.shape[1] :].tolist()  # type: ignore[no-any-return]

    # The EOS: a token request 0 emits at step 5, a real one of the vocabulary.
    eos = greedy(prompts[0])[4]
    for name in ("config.json", "generation_config.json"):
        path = model_dir / name
        if path.exists():
            doc = json.loads(path.read_text())
            doc["eos_token_id"] = eos
            path.write_text(json.dumps(doc))
    tok_cfg = model_dir / "tokenizer_config.json"
    doc = json.loads(tok_cfg.read_text())
    doc["eos_token"] = tokenizer.convert_ids_to_tokens(eos)
    tok_cfg.write_text(json.dumps(doc))
    # What transformers' own generate makes of each prompt with that EOS, one at a time: the reference.
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    expected = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer.encode(prompt)[: c.max_input_tokens]])
        with torch.inference_mode():
            out = model.generate(ids, max_new_tokens=cap, do_sample=False, pad_token_id=0)
        expected.append(out.shape[1] - ids.shape[1])
    assert min(expected) < cap  # some request stopped early, else the check proves little

    def no_nvml() -> object:
        from llenergymeasure.errors import EnergyUnavailableError

        raise EnergyUnavailableError("NVML could not start (test)")

    out = run_experiment(c, tmp_path, "n", config_hash(c), 1, nvml_loader=no_nvml)  # type: ignore[arg-type]
    result = read_result(out.result_path, config_hash(c), 1)
    assert [r.output_tokens for r in result.metrics.requests] == expected
    workload = result.workload
    assert workload is not None
    assert (workload.output_lengths, workload.n_requests, workload.output_tokens.total) == (
        "natural",
        6,
        sum(expected),
    )
    assert workload.requested_output_tokens is None
    assert workload.output_tokens.distribution is not None
    assert workload.output_tokens.distribution.max == max(expected)


@pytest.mark.parametrize(
    ("files", "section", "message"),
    [
        (
            {"t.csv": "prompt,out\nhi,3\n"},
            "dataset: {kind: table, path: t.csv, field: text}",
            "dataset: {d}/t.csv: no column 'text' (columns: prompt, out); fix dataset.field",
        ),
        (
            {"t.txt": "x"},
            "dataset: {kind: table, path: t.txt}",
            "dataset: {d}/t.txt: a table dataset is a .csv or .parquet file; fix dataset.path",
        ),
        (
            {"s.json": "not json"},
            "dataset: {kind: sharegpt, path: s.json}",
            "dataset: {d}/s.json: not valid JSON (Expecting value: line 1 column 1 (char 0)); a ShareGPT .json file "
            "is a list of records",
        ),
        (
            {"tr.jsonl": '{"prompt": "x"}\n'},
            "scenario: {kind: server, replay: {path: tr.jsonl}}",
            "scenario.replay: {d}/tr.jsonl:1: no arrival time (timestamp or arrival_time or time or t); set "
            "scenario.replay.time_field to its key",
        ),
    ],
)
def test_a_bad_dataset_or_trace_file_is_one_error_at_load(
    tmp_path: Path, files: dict[str, str], section: str, message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    path = write(tmp_path / "c.yaml", f"model: m\nbackend: vllm\n{section}\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(err.value) == f"{path}:3: " + message.format(d=tmp_path)
