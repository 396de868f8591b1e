"""The one YAML reader: duplicate keys, nesting, alias expansion and size refused with one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from llenergymeasure.config import yamlsource
from llenergymeasure.config.yamlsource import read_yaml
from llenergymeasure.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def error_lines(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    return str(err.value).splitlines()


def alias_bomb(width: int, levels: int) -> str:
    """``levels`` lists of ``width`` aliases, each to the list before: width**levels values from a few lines."""
    lines = ["model: m", "backend: pytorch", f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_every_duplicate_key_is_named_with_both_lines(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "model: m\n"
        "backend: pytorch\n"
        "backend: vllm\n"
        "execution: {n_cycles: 2}\n"
        "sweep:\n"
        "  pytorch.batch_size: [1, 2]\n"
        "  pytorch.batch_size: [4]\n"
        "execution:\n"
        "  n_cycles: 3\n"
        "  n_cycles: 4\n",
    )
    assert error_lines(p) == [
        f"{p}:3: backend: duplicate key, also at line 2; keep one (YAML would silently use the last)",
        f"{p}:7: sweep.pytorch.batch_size: duplicate key, also at line 6; keep one (YAML would silently use the last)",
        f"{p}:8: execution: duplicate key, also at line 4; keep one (YAML would silently use the last)",
        f"{p}:10: execution.n_cycles: duplicate key, also at line 9; keep one (YAML would silently use the last)",
    ]


def test_keys_that_the_mapping_would_merge_are_duplicates_too(tmp_path: Path) -> None:
    # 1 and 1.0 are one dict key: YAML would keep only the second
    p = write(tmp_path, "model: m\nbackend: pytorch\nx: {1: a, 1.0: b}\n")
    assert error_lines(p) == [
        f"{p}:3: x.1.0: duplicate key, also at line 3; keep one (YAML would silently use the last)"
    ]


def test_a_merge_key_may_be_overridden_by_the_keys_beside_it(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "defaults: &d {precision: fp16, n_prompts: 4}\nexperiments:\n  - <<: *d\n    precision: bf16\n  - *d\n",
    )
    doc = read_yaml(p)
    assert doc.data["experiments"] == [{"precision": "bf16", "n_prompts": 4}, {"precision": "fp16", "n_prompts": 4}]
    assert doc.where(("experiments", 0, "precision")) == f"{p}:4"
    assert doc.where(("experiments", 1, "n_prompts")) == f"{p}:5"  # inside an alias: where the alias is used


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("[" * 5000 + "]" * 5000, 3),  # a RecursionError traceback before
        ("{a: " * 3000 + "1" + "}" * 3000, 3),
        ("\n" + "".join("  " * i + "- \n" for i in range(1, 100)), 67),  # block style: the 65th level's line
    ],
    ids=["flow-lists", "flow-mappings", "block-lists"],
)
def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path: Path, value: str, line: int) -> None:
    p = write(tmp_path, f"model: m\nbackend: pytorch\nx: {value}\n")
    assert error_lines(p) == [
        f"{p}:{line}: x: nested more than 64 levels deep (a config needs fewer than ten); flatten it"
    ]


def test_nesting_built_from_aliases_is_counted_too(tmp_path: Path) -> None:
    # each line only 10 deep, but each alias puts the previous ten inside ten more
    lines = ["a0: &a0 " + "[" * 10 + "1" + "]" * 10]
    lines += [f"a{i}: &a{i} " + "[" * 10 + f"*a{i - 1}" + "]" * 10 for i in range(1, 10)]
    p = write(tmp_path, "\n".join(lines) + "\n")
    assert error_lines(p) == [f"{p}:7: a6: nested more than 64 levels deep (a config needs fewer than ten); flatten it"]


def test_an_alias_bomb_is_refused_before_anything_expands_it(tmp_path: Path) -> None:
    # 9**8 = 43 million values: 12 s and 1.1 GB at seven levels before, a MemoryError at eight
    p = write(tmp_path, alias_bomb(9, 8))
    assert error_lines(p) == [
        f"{p}:8: a5: aliases expand it to more than 250000 values (aliases of aliases multiply); "
        "use fewer nested aliases"
    ]


def test_an_astronomical_alias_bomb_costs_no_more(tmp_path: Path) -> None:
    p = write(tmp_path, alias_bomb(9, 60))  # 9**60 values: the walk is linear in the file all the same
    assert error_lines(p) == [
        f"{p}:8: a5: aliases expand it to more than 250000 values (aliases of aliases multiply); "
        "use fewer nested aliases"
    ]


def test_a_moderate_use_of_aliases_is_fine(tmp_path: Path) -> None:
    p = write(tmp_path, alias_bomb(9, 5))  # 9**5 = 59,049 values
    assert len(read_yaml(p).data["a4"]) == 9


def test_an_alias_inside_the_value_it_names_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nsweep: &s\n  seed: [1, *s]\n")
    assert error_lines(p) == [
        f"{p}:3: sweep.seed[1]: an alias is used inside the value it names, which never ends; "
        "point it at a value defined before it"
    ]


def test_a_list_as_a_key_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nsweep:\n  ? [seed, n_prompts]\n  : [1]\n")
    assert error_lines(p) == [f"{p}:3: sweep: a key must be a plain name, not a list or mapping; write it as text"]


def test_too_many_values_are_refused_while_composing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 100)  # 250,000 takes seconds to compose
    p = write(tmp_path, "model: m\nexperiments:\n" + "".join(f"  - {{seed: {i}}}\n" for i in range(40)))
    assert error_lines(p) == [
        f"{p}:34: experiments: more than 100 values, too many for a config file; is this the right file? "
        "(a large campaign is a sweep, not a written-out list)"
    ]


def test_too_large_a_file_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_BYTES", 2**20)
    p = write(tmp_path, "model: m\n" + "# padding\n" * 110_000)
    assert error_lines(p) == [
        f"{p}: larger than 1 MiB, too large for a config file; is this the right file? "
        "(a large campaign is a sweep, not a written-out list)"
    ]


def test_lines_of_keys_list_items_and_dotted_keys(tmp_path: Path) -> None:
    p = write(tmp_path, "model: m\nsweep:\n  pytorch.batch_size:\n    - 1\n    - 2\n")
    doc = read_yaml(p)
    assert doc.where(("sweep", "pytorch.batch_size", 1)) == f"{p}:5"
    assert doc.where(("sweep", "pytorch", "batch_size")) == f"{p}:3"
    assert doc.where(("nowhere",)) == str(p)
