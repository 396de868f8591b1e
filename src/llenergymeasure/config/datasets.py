"""Dataset configs: where an experiment's prompts (and, for some kinds, output lengths) come from.

Each kind is a pydantic model chosen by ``kind``. File-backed kinds (jsonl, sharegpt, table) and
Hugging Face datasets (hf) are identified by a content digest pinned when the config is loaded
(``config.loader.resolve_dataset``), never by where the file lies. Reading happens in
``llenergymeasure.workload``; this module only describes and validates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

_SHA256 = r"^[0-9a-f]{64}$"
_DIGEST_DESCRIPTION = (
    "Content digest of the file. Filled in when a config is loaded and checked when given, so an "
    "experiment is identified by its prompts, not by a file name; changing the file is a new design."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Fields added to a kind after its release, with their defaults: left out of dumps (unit configs,
    # the identity) while at the default, so every older config keeps its hash and its dump.
    added_defaults: ClassVar[dict[str, Any]] = {}

    @model_serializer(mode="wrap")
    def _drop_added_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key, default in self.added_defaults.items():
                if key in data and data[key] == default:
                    del data[key]
        return data


class LengthFilter(_Strict):
    """Token-length bounds (by the model's tokenizer) a row must meet, applied before the seeded draw."""

    min_input_tokens: int | None = Field(None, ge=1, le=1_000_000, description="Fewest prompt tokens; None: no bound.")
    max_input_tokens: int | None = Field(None, ge=1, le=1_000_000, description="Most prompt tokens; None: no bound.")
    min_output_tokens: int | None = Field(
        None, ge=1, le=1_000_000, description="Fewest output tokens (the row's output length); None: no bound."
    )
    max_output_tokens: int | None = Field(
        None, ge=1, le=1_000_000, description="Most output tokens (the row's output length); None: no bound."
    )

    @model_validator(mode="after")
    def _ordered(self) -> LengthFilter:
        for side in ("input", "output"):
            low, high = getattr(self, f"min_{side}_tokens"), getattr(self, f"max_{side}_tokens")
            if low is not None and high is not None and low > high:
                raise ValueError(
                    f"dataset.filter.min_{side}_tokens {low} is above max_{side}_tokens {high}; swap or widen them"
                )
        return self

    def bounds_outputs(self) -> bool:
        """Whether a bound applies to output lengths (the dataset must then carry them)."""
        return self.min_output_tokens is not None or self.max_output_tokens is not None


class BuiltinDataset(_Strict):
    """A prompt set shipped inside the package, so a campaign runs with no files and no network."""

    kind: Literal["builtin"] = "builtin"
    name: Literal["default"] = Field("default", description="Name of the shipped prompt set.")


def _check_output_filter(dataset: JsonlDataset | ShareGptDataset | TableDataset | HfDataset) -> None:
    """Output-length bounds need a dataset that carries output lengths."""
    if dataset.filter is not None and dataset.filter.bounds_outputs() and not carries_output_lengths(dataset):
        fix = "set dataset.output_field or " if isinstance(dataset, TableDataset | HfDataset) else ""
        raise ValueError(
            f"dataset.filter output bounds need output lengths, and this {dataset.kind} dataset has none; "
            f"{fix}remove min_output_tokens/max_output_tokens"
        )


_FILTER_DESCRIPTION = "Token-length bounds (by the model's tokenizer) applied before the seeded draw; None: none."


class JsonlDataset(_Strict):
    """Prompts read from a JSON-lines file, one object per line."""

    added_defaults: ClassVar[dict[str, Any]] = {"filter": None}
    kind: Literal["jsonl"] = "jsonl"
    path: str = Field(description="Path of the .jsonl file; relative paths resolve from the config file.")
    field: str = Field("prompt", description="Key of each line's object that holds the prompt text.")
    sha256: str | None = Field(None, pattern=_SHA256, description=_DIGEST_DESCRIPTION)
    filter: LengthFilter | None = Field(None, description=_FILTER_DESCRIPTION)

    @model_validator(mode="after")
    def _output_filter(self) -> JsonlDataset:
        _check_output_filter(self)
        return self


class ShareGptDataset(_Strict):
    """Conversations in the ShareGPT layout: the first user turn is the prompt, the next reply its reference.

    Each record holds ``conversations: [{from, value}, ...]``; a user turn is ``from`` human or user,
    a reply gpt, assistant, chatgpt, bard or model. The reply's token count (by the model's
    tokenizer) is the request's output length under ``output_lengths: dataset``. Records without a
    user turn followed by a reply are skipped, and counted in the run's note.
    """

    kind: Literal["sharegpt"] = "sharegpt"
    path: str = Field(
        description="Path of a .json file (a list of records) or .jsonl (one record a line); relative to the config."
    )
    sha256: str | None = Field(None, pattern=_SHA256, description=_DIGEST_DESCRIPTION)
    filter: LengthFilter | None = Field(None, description=_FILTER_DESCRIPTION)


class TableDataset(_Strict):
    """Prompts from a column of a CSV or Parquet file (read with pyarrow), optionally with output lengths."""

    kind: Literal["table"] = "table"
    path: str = Field(description="Path of the .csv or .parquet file; relative paths resolve from the config file.")
    field: str = Field("prompt", description="Column holding the prompt text.")
    output_field: str | None = Field(
        None,
        description=(
            "Column of output lengths: integers, or text whose token count (by the model's tokenizer) is used. "
            "None: the dataset carries no output lengths."
        ),
    )
    sha256: str | None = Field(None, pattern=_SHA256, description=_DIGEST_DESCRIPTION)
    filter: LengthFilter | None = Field(None, description=_FILTER_DESCRIPTION)

    @model_validator(mode="after")
    def _output_filter(self) -> TableDataset:
        _check_output_filter(self)
        return self


class HfDataset(_Strict):
    """A Hugging Face dataset read with the ``datasets`` library, offline (extra ``workloads``).

    From ``path`` (a folder written by ``save_to_disk``, or a local arrow/parquet/json/csv file or
    folder) or ``name`` (a Hub id, from the local cache only). The host writes the selected columns
    as a canonical JSONL whose digest is the identity; a campaign ships that file to its units as
    ``snapshot``, so units never need ``datasets``.
    """

    kind: Literal["hf"] = "hf"
    path: str | None = Field(
        None, description="Local dataset folder or data file; relative paths resolve from the config file."
    )
    name: str | None = Field(None, description="Hub id, read from the local cache only (never downloaded).")
    split: str = Field("train", description="Split to read.")
    field: str = Field("prompt", description="Column holding the prompt text.")
    output_field: str | None = Field(
        None, description="Column of output lengths: integers, or text whose token count is used. None: none."
    )
    sha256: str | None = Field(
        None,
        pattern=_SHA256,
        description="Digest of the canonical JSONL of the selected columns; filled in at load, checked when given.",
    )
    snapshot: str | None = Field(
        None,
        description=(
            "That canonical JSONL, which a campaign writes beside the unit configs (set by llem, not by hand); "
            "read instead of the dataset when set."
        ),
    )
    filter: LengthFilter | None = Field(None, description=_FILTER_DESCRIPTION)

    @model_validator(mode="after")
    def _one_source(self) -> HfDataset:
        if (self.path is None) == (self.name is None):
            raise ValueError("dataset kind hf needs exactly one of path (a local folder or file) and name (a Hub id)")
        _check_output_filter(self)
        return self


class LengthDistribution(_Strict):
    """Seeded token lengths: fixed, uniform, normal or lognormal, rounded and clipped to [min, max] (and >= 1)."""

    distribution: Literal["fixed", "uniform", "normal", "lognormal"] = Field(
        "fixed",
        description=(
            "'fixed': mean every time; 'uniform': integers from min to max; 'normal': mean and std; 'lognormal': "
            "mean and std of the lengths themselves (not of their logarithm)."
        ),
    )
    mean: float | None = Field(None, gt=0, le=1_000_000, description="Mean length (fixed, normal, lognormal).")
    std: float | None = Field(None, ge=0, le=1_000_000, description="Standard deviation (normal, lognormal).")
    min: int = Field(1, ge=1, le=1_000_000, description="Shortest length; draws below are clipped up to it.")
    max: int | None = Field(
        None, ge=1, le=1_000_000, description="Longest length; draws above are clipped down (needed by uniform)."
    )

    @model_validator(mode="after")
    def _parameters(self) -> LengthDistribution:
        need = {"fixed": ("mean",), "uniform": ("max",), "normal": ("mean", "std"), "lognormal": ("mean", "std")}
        missing = [f for f in need[self.distribution] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"distribution {self.distribution} needs {' and '.join(missing)}; set them")
        if self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}; swap or widen them")
        return self


class SyntheticDataset(_Strict):
    """Random token prompts, of a fixed length or drawn from a distribution, for controlled length sweeps."""

    added_defaults: ClassVar[dict[str, Any]] = {"input": None, "output": None, "prefix_tokens": 0}
    kind: Literal["synthetic"] = "synthetic"
    input_tokens: int = Field(128, ge=1, le=1_000_000, description="Tokens per synthetic prompt.")
    input: LengthDistribution | None = Field(
        None,
        description="Prompt lengths drawn per prompt (seeded by seed); set, it replaces input_tokens.",
    )
    output: LengthDistribution | None = Field(
        None,
        description="Output lengths drawn per request (seeded by seed); set, the dataset carries output lengths.",
    )
    prefix_tokens: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description=(
            "A prefix of this many token ids shared by every prompt, before its own input tokens (models "
            "prefix-cache traffic); 0: none."
        ),
    )


DatasetConfig = Annotated[
    BuiltinDataset | JsonlDataset | ShareGptDataset | TableDataset | HfDataset | SyntheticDataset,
    Field(discriminator="kind"),
]
DATASET_MODELS: tuple[type[BaseModel], ...] = (
    BuiltinDataset,
    JsonlDataset,
    ShareGptDataset,
    TableDataset,
    HfDataset,
    SyntheticDataset,
)
FileDataset = JsonlDataset | ShareGptDataset | TableDataset
FILE_DATASETS = (JsonlDataset, ShareGptDataset, TableDataset)
AnyDataset = BuiltinDataset | JsonlDataset | ShareGptDataset | TableDataset | HfDataset | SyntheticDataset


def carries_output_lengths(dataset: AnyDataset) -> bool:
    """Whether the dataset gives each request an output length (what ``output_lengths: dataset`` needs)."""
    if isinstance(dataset, ShareGptDataset):
        return True
    if isinstance(dataset, TableDataset | HfDataset):
        return dataset.output_field is not None
    if isinstance(dataset, SyntheticDataset):
        return dataset.output is not None
    return False


def with_base_dir(dataset: AnyDataset, base_dir: Path) -> AnyDataset:
    """The dataset with its relative ``path`` (and hf ``snapshot``) made absolute against ``base_dir``."""
    update: dict[str, str] = {}
    for key in ("path", "snapshot"):
        value = getattr(dataset, key, None)
        if isinstance(value, str) and not Path(value).is_absolute():
            update[key] = str((base_dir / value).resolve())
    return dataset.model_copy(update=update) if update else dataset
