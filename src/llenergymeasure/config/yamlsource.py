"""YAML reading that remembers where each key was, so errors can name a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llenergymeasure.errors import ConfigError

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML mapping plus the 1-based line of every key path in it."""

    path: Path
    data: dict[str, Any]
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """Line of the deepest known prefix of ``loc`` (pydantic locations may go deeper than YAML)."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def where(self, loc: Loc = ()) -> str:
        """``file:line`` for messages."""
        line = self.line_of(loc)
        return f"{self.path}:{line}" if line else str(self.path)


def read_yaml(path: Path) -> YamlDoc:
    """Parse ``path`` as a YAML mapping; every failure becomes a one-line ConfigError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        raise ConfigError(f"{path}: file is empty; expected a mapping of fields")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of fields, got {type(data).__name__}")
    lines: dict[Loc, int] = {}
    if node is not None:
        _index(node, (), lines)
    return YamlDoc(path=Path(path), data=data, lines=lines)


def _index(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*loc, key)] = key_node.start_mark.line + 1
            # Dotted keys (pytorch.batch_size) also answer for their nested path.
            if isinstance(key, str) and "." in key:
                out.setdefault((*loc, *key.split(".")), key_node.start_mark.line + 1)
            _index(value_node, (*loc, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*loc, i)] = item.start_mark.line + 1
            _index(item, (*loc, i), out)
