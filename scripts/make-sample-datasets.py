"""Write the small sample datasets in examples/datasets/ (deterministic: the same bytes on every run).

- sharegpt-sample.json: 40 conversations in the ShareGPT layout, replies of varied lengths (and two
  records without a reply, which llem skips and counts);
- prompts-sample.csv and prompts-sample.parquet: 40 prompts with an integer output_tokens column.

Nothing is downloaded. Run: .venv/bin/python scripts/make-sample-datasets.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parents[1] / "examples" / "datasets"
WORDS = [
    "energy",
    "power",
    "token",
    "model",
    "batch",
    "cache",
    "prefix",
    "decode",
    "prefill",
    "latency",
    "throughput",
    "joule",
    "watt",
    "clock",
    "memory",
    "kernel",
    "tensor",
    "layer",
    "attention",
    "sequence",
    "request",
    "server",
    "client",
    "window",
    "sample",
    "measure",
    "campaign",
    "cycle",
]
TOPICS = ("GPU power", "batching", "KV caches", "quantisation", "tokenizers", "prompt length", "energy meters")


def sentence(rng: random.Random, n_words: int) -> str:
    """``n_words`` words from a fixed vocabulary, capitalised and full-stopped."""
    words = [rng.choice(WORDS) for _ in range(n_words)]
    return " ".join(words).capitalize() + "."


def text(rng: random.Random, n_words: int) -> str:
    """Sentences of 4 to 12 words adding up to ``n_words`` words."""
    parts = []
    while n_words > 0:
        k = min(n_words, rng.randint(4, 12))
        parts.append(sentence(rng, k))
        n_words -= k
    return " ".join(parts)


def sharegpt(rng: random.Random) -> list[dict[str, object]]:
    """40 usable conversations (replies from 3 to 120 words) and 2 that llem skips."""
    records: list[dict[str, object]] = []
    for i in range(40):
        topic = TOPICS[i % len(TOPICS)]
        question = f"Question {i + 1} about {topic}: {text(rng, rng.randint(6, 40))}"
        reply_role = ("gpt", "assistant", "gpt", "chatgpt")[i % 4]
        turns = [
            {"from": "human", "value": question},
            {"from": reply_role, "value": text(rng, rng.choice((3, 8, 20, 45, 80, 120)))},
        ]
        if i % 5 == 0:
            turns += [{"from": "human", "value": "And then?"}, {"from": "gpt", "value": text(rng, 10)}]
        if i % 7 == 3:
            turns.insert(0, {"from": "system", "value": "You are a helpful assistant."})
        records.append({"id": f"sample-{i + 1:02d}", "conversations": turns})
    records.insert(10, {"id": "no-reply", "conversations": [{"from": "human", "value": "Unanswered question?"}]})
    records.insert(25, {"id": "no-user", "conversations": [{"from": "gpt", "value": "A reply to nothing."}]})
    return records


def table(rng: random.Random) -> pa.Table:
    """40 prompts with the output length each should run to."""
    prompts = [f"Explain {TOPICS[i % len(TOPICS)]} briefly: {text(rng, rng.randint(5, 30))}" for i in range(40)]
    outputs = [rng.choice((4, 8, 16, 32, 64)) for _ in range(40)]
    return pa.table({"prompt": pa.array(prompts, pa.string()), "output_tokens": pa.array(outputs, pa.int64())})


def main() -> None:
    """Write the three files into examples/datasets/."""
    OUT.mkdir(parents=True, exist_ok=True)
    records = sharegpt(random.Random(25))
    (OUT / "sharegpt-sample.json").write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", "utf-8")
    rows = table(random.Random(26))
    pacsv.write_csv(rows, OUT / "prompts-sample.csv")
    pq.write_table(rows, OUT / "prompts-sample.parquet", compression="zstd")
    print(f"wrote {OUT}/sharegpt-sample.json, prompts-sample.csv, prompts-sample.parquet")


if __name__ == "__main__":
    main()
