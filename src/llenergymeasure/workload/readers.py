"""Read dataset files into rows: JSON lines, ShareGPT conversations, CSV/Parquet tables, Hugging Face datasets.

Every reader raises ``ConfigError`` with the file (and line or column) at fault and the fix.
``datasets`` is imported only by the Hugging Face reader, and only offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llenergymeasure.config.datasets import HfDataset, JsonlDataset, ShareGptDataset, TableDataset
from llenergymeasure.errors import ConfigError
from llenergymeasure.workload.rows import DatasetRow

USER_ROLES = frozenset({"human", "user"})
REPLY_ROLES = frozenset({"gpt", "assistant", "chatgpt", "bard", "model"})


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: dataset unreadable ({exc.strerror or exc}); fix dataset.path") from None


def read_jsonl(path: Path, field: str) -> list[DatasetRow]:
    """One row per line of a JSON-lines file, its prompt from ``field``."""
    rows: list[DatasetRow] = []
    for n, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path}:{n}: not valid JSON; each line must be an object") from None
        if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
            raise ConfigError(f"{path}:{n}: no string field {field!r}; set dataset.field to the prompt key")
        rows.append(DatasetRow(obj[field]))
    if not rows:
        raise ConfigError(f"{path}: dataset has no prompts")
    return rows


def sharegpt_row(record: Any) -> DatasetRow | None:
    """The first user turn and the reply after it, or None when the record has no such pair."""
    turns = record.get("conversations") if isinstance(record, dict) else None
    if not isinstance(turns, list):
        return None
    for k, turn in enumerate(turns):
        if isinstance(turn, dict) and turn.get("from") in USER_ROLES and isinstance(turn.get("value"), str):
            reply = turns[k + 1] if k + 1 < len(turns) else None
            if isinstance(reply, dict) and reply.get("from") in REPLY_ROLES and isinstance(reply.get("value"), str):
                return DatasetRow(turn["value"], reply["value"])
            return None
    return None


def sharegpt_rows(records: Iterable[Any]) -> tuple[list[DatasetRow], int]:
    """Rows of ShareGPT-layout records, and how many records were skipped (no user turn followed by a reply)."""
    rows, skipped = [], 0
    for record in records:
        row = sharegpt_row(record)
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    return rows, skipped


def read_sharegpt(path: Path) -> tuple[list[DatasetRow], int]:
    """Rows of a ShareGPT file: a JSON list of records (.json) or one record a line (.jsonl)."""
    text = _read_text(path)
    records: list[Any]
    if Path(path).suffix.lower() == ".jsonl":
        records = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise ConfigError(f"{path}:{n}: not valid JSON; each line must be a record") from None
    else:
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc}); a ShareGPT .json file is a list of records") from None
        if not isinstance(loaded, list):
            raise ConfigError(f"{path}: a ShareGPT .json file must be a list of records, not {type(loaded).__name__}")
        records = loaded
    rows, skipped = sharegpt_rows(records)
    if not rows:
        raise ConfigError(
            f"{path}: no conversation with a user turn followed by a reply ({skipped} records skipped); "
            "each record needs conversations: [{from: human, value: ...}, {from: gpt, value: ...}]"
        )
    return rows, skipped


def _output_value(value: Any, where: str) -> int | str | None:
    """An output-length cell: an integer length, a reference text, or None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ConfigError(f"{where}: output length {value!r} is not a whole number of tokens or a text")
    return int(value)


def column_rows(columns: dict[str, list[Any]], field: str, output_field: str | None, where: str) -> list[DatasetRow]:
    """Rows from named columns: prompts from ``field``, output lengths from ``output_field``."""
    for name, setting in ((field, "dataset.field"), (output_field, "dataset.output_field")):
        if name is not None and name not in columns:
            raise ConfigError(f"{where}: no column {name!r} (columns: {', '.join(columns)}); fix {setting}")
    prompts = columns[field]
    outputs = columns[output_field] if output_field is not None else [None] * len(prompts)
    rows = []
    for i, (prompt, output) in enumerate(zip(prompts, outputs, strict=True)):
        if not isinstance(prompt, str):
            raise ConfigError(f"{where}: row {i}: column {field!r} holds {prompt!r}, not text; fix dataset.field")
        rows.append(DatasetRow(prompt, _output_value(output, f"{where}: row {i}: column {output_field!r}")))
    if not rows:
        raise ConfigError(f"{where}: dataset has no prompts")
    return rows


def read_table(path: Path, field: str, output_field: str | None) -> list[DatasetRow]:
    """Rows of a .csv or .parquet file, read with pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".csv":
            table = pacsv.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        else:
            raise ConfigError(f"{path}: a table dataset is a .csv or .parquet file; fix dataset.path")
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{path}: dataset unreadable ({exc}); fix dataset.path") from None
    return column_rows(table.to_pydict(), field, output_field, str(path))


def read_snapshot(path: Path) -> list[DatasetRow]:
    """Rows of a canonical JSONL snapshot (``rows.canonical_jsonl``)."""
    rows = []
    for n, line in enumerate(_read_text(path).splitlines(), start=1):
        try:
            obj = json.loads(line)
            rows.append(DatasetRow(obj["prompt"], obj["output"]))
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{path}:{n}: not a dataset snapshot line; let llem write dataset.snapshot") from None
    return rows


def hf_fetch_command(dataset: HfDataset) -> str:
    """The command that puts a Hub dataset into the local cache, run on a machine with network."""
    return f"python -c \"import datasets; datasets.load_dataset('{dataset.name}', split='{dataset.split}')\""


@contextmanager
def _offline() -> Iterator[Any]:
    """``datasets`` imported and switched offline for the block, its previous setting restored after.

    The process environment is left alone: units started from this process may still download models.
    """
    try:
        import datasets  # type: ignore[import-untyped]
        import huggingface_hub.constants as hub
    except ImportError:
        raise ConfigError(
            "dataset kind hf needs the datasets library: pip install 'llenergymeasure[workloads]'"
        ) from None
    saved = datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    try:
        yield datasets
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE = saved


_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".json": "json", ".jsonl": "json", ".csv": "csv"}


def _load_hf(datasets: Any, dataset: HfDataset) -> Any:
    """The selected split, from disk or the local cache; raises what ``datasets`` raises."""
    if dataset.path is None:
        return datasets.load_dataset(dataset.name, split=dataset.split)
    path = Path(dataset.path)
    if path.is_dir() and any((path / f).is_file() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if dataset.split not in loaded:
                raise ConfigError(
                    f"{path}: no split {dataset.split!r} (splits: {', '.join(loaded)}); fix dataset.split"
                )
            return loaded[dataset.split]
        return loaded
    if path.is_file():
        builder = _BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise ConfigError(f"{path}: not an arrow, parquet, json or csv file; fix dataset.path")
        return datasets.load_dataset(builder, data_files={dataset.split: str(path)}, split=dataset.split)
    if path.is_dir():
        return datasets.load_dataset(str(path), split=dataset.split)
    raise ConfigError(f"{path}: dataset.path: no such file or folder; fix the path")


def read_hf(dataset: HfDataset) -> list[DatasetRow]:
    """Rows of a Hugging Face dataset, read offline; a dataset missing locally names the command to fetch it."""
    where = dataset.path or f"hf dataset {dataset.name}"
    with _offline() as datasets:
        try:
            split = _load_hf(datasets, dataset)
        except ConfigError:
            raise
        except Exception as exc:  # datasets raises many kinds (FileNotFoundError, DatasetNotFoundError, ...)
            if dataset.name is not None:
                raise ConfigError(
                    f"hf dataset {dataset.name} (split {dataset.split}) is not in the local cache "
                    f"({type(exc).__name__}); "
                    f"fetch it on a machine with network: {hf_fetch_command(dataset)} "
                    f"(or huggingface-cli download --repo-type dataset {dataset.name}), then copy the cache here"
                ) from None
            reason = f"{type(exc).__name__}: {exc}"
            raise ConfigError(f"{where}: cannot read the dataset ({reason}); fix dataset.path") from None
        columns = [c for c in (dataset.field, dataset.output_field) if c is not None]
        missing = [c for c in columns if c not in split.column_names]
        if missing:
            raise ConfigError(
                f"{where}: no column {missing[0]!r} (columns: {', '.join(split.column_names)}); "
                f"fix dataset.{'field' if missing[0] == dataset.field else 'output_field'}"
            )
        data = {c: list(split[c]) for c in dict.fromkeys(columns)}
    return column_rows(data, dataset.field, dataset.output_field, where)


def hf_snapshot_bytes(dataset: HfDataset) -> bytes:
    """The canonical JSONL of an hf dataset's selected columns: its identity, and what units read."""
    from llenergymeasure.workload.rows import canonical_jsonl

    return canonical_jsonl(read_hf(dataset))


def read_rows(dataset: JsonlDataset | ShareGptDataset | TableDataset | HfDataset) -> tuple[list[DatasetRow], int]:
    """Rows of any file-backed dataset, and the records skipped (ShareGPT only; else 0).

    An hf dataset with a ``snapshot`` reads that file and never imports ``datasets``.
    """
    if isinstance(dataset, JsonlDataset):
        return read_jsonl(Path(dataset.path), dataset.field), 0
    if isinstance(dataset, ShareGptDataset):
        return read_sharegpt(Path(dataset.path))
    if isinstance(dataset, TableDataset):
        return read_table(Path(dataset.path), dataset.field, dataset.output_field), 0
    if dataset.snapshot is not None:
        return read_snapshot(Path(dataset.snapshot)), 0
    return read_hf(dataset), 0
