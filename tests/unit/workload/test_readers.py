"""ShareGPT parsing, table columns and the canonical snapshot (real small files)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llenergymeasure.errors import ConfigError
from llenergymeasure.workload.readers import read_sharegpt, read_snapshot, read_table, sharegpt_rows
from llenergymeasure.workload.rows import DatasetRow, canonical_jsonl


def turn(who: str, text: str) -> dict[str, str]:
    return {"from": who, "value": text}


def test_first_user_turn_and_the_reply_after_it() -> None:
    records = [
        {"conversations": [turn("system", "be brief"), turn("human", "q1"), turn("gpt", "a1"), turn("human", "q2")]},
        {"conversations": [turn("user", "q"), turn("assistant", "a")]},
        {"conversations": [turn("human", "q"), turn("bard", "a")]},
        {"conversations": [turn("human", "q"), turn("model", "a")]},
        {"conversations": [turn("human", "q"), turn("chatgpt", "a")]},
    ]
    rows, skipped = sharegpt_rows(records)
    assert rows == [DatasetRow("q1", "a1")] + [DatasetRow("q", "a")] * 4
    assert skipped == 0


def test_records_without_a_user_turn_followed_by_a_reply_are_skipped_and_counted() -> None:
    records = [
        {"conversations": [turn("human", "no reply")]},
        {"conversations": [turn("gpt", "reply to nothing")]},
        {"conversations": [turn("human", "q"), turn("human", "q again"), turn("gpt", "a")]},
        {"conversations": []},
        {"id": "no conversations"},
        "not a record",
        {"conversations": [turn("human", "ok"), turn("gpt", "fine")]},
    ]
    assert sharegpt_rows(records) == ([DatasetRow("ok", "fine")], 6)


def test_sharegpt_json_list_and_jsonl(tmp_path: Path) -> None:
    records = [{"conversations": [turn("human", f"q{i}"), turn("gpt", f"a{i}")]} for i in range(3)]
    (tmp_path / "c.json").write_text(json.dumps(records))
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert read_sharegpt(tmp_path / "c.json") == read_sharegpt(tmp_path / "c.jsonl")
    assert read_sharegpt(tmp_path / "c.json")[0][2] == DatasetRow("q2", "a2")


def test_sharegpt_without_any_usable_record_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps([{"conversations": [turn("gpt", "x")]}]))
    with pytest.raises(ConfigError) as err:
        read_sharegpt(path)
    assert str(err.value) == (
        f"{path}: no conversation with a user turn followed by a reply (1 records skipped); "
        "each record needs conversations: [{from: human, value: ...}, {from: gpt, value: ...}]"
    )


def test_csv_and_parquet_give_the_same_rows(tmp_path: Path) -> None:
    table = pa.table({"prompt": ["a", "b"], "n": [3, 5], "ref": ["x y", "z"]})
    pq.write_table(table, tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text('prompt,n,ref\na,3,"x y"\nb,5,z\n')
    for name in ("t.parquet", "t.csv"):
        assert read_table(tmp_path / name, "prompt", "n") == [DatasetRow("a", 3), DatasetRow("b", 5)]
        assert read_table(tmp_path / name, "prompt", "ref") == [DatasetRow("a", "x y"), DatasetRow("b", "z")]
        assert read_table(tmp_path / name, "prompt", None) == [DatasetRow("a"), DatasetRow("b")]


def test_a_missing_column_names_the_columns_and_the_setting(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "t.parquet")
    with pytest.raises(ConfigError) as err:
        read_table(tmp_path / "t.parquet", "prompt", None)
    assert str(err.value) == f"{tmp_path / 't.parquet'}: no column 'prompt' (columns: text); fix dataset.field"


def test_canonical_snapshot_round_trips(tmp_path: Path) -> None:
    rows = [DatasetRow("héllo", 3), DatasetRow("b", "ref text"), DatasetRow("c")]
    data = canonical_jsonl(rows)
    assert data.splitlines()[0] == '{"output":3,"prompt":"héllo"}'.encode()
    (tmp_path / "s.jsonl").write_bytes(data)
    assert read_snapshot(tmp_path / "s.jsonl") == rows
