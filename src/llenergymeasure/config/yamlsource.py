"""YAML reading that remembers where each key was, so errors can name a line.

Every config file llem reads (a campaign, its ``base:``, the unit config ``llem-exp`` runs) goes
through :func:`read_yaml`, which is also the guard against YAML that PyYAML accepts but that would
mislead, stall or crash llem later:

- a duplicate key, of which PyYAML silently keeps the last (two ``execution:`` blocks);
- deep nesting: PyYAML's composer recurses about two frames per level, so a few thousand ``[``
  end in a RecursionError traceback, and so would pydantic and ``copy.deepcopy`` after it;
- an alias bomb: nine aliases per list, eight lists deep, is 43 million values once anything
  walks the data (validation, merging, error messages), from a ten-line file;
- an alias inside the value it names (``&a [*a]``), which a walk over the data never leaves.

So the text is composed once into nodes with the nesting capped while composing, then one walk
over the nodes (memoised per node, so an aliased node costs once however often it is used)
measures what the data expands to, collects every duplicate key and records each key's line.
Only a document within the limits is constructed into Python data.

The limits sit far above any real config and below trouble. A campaign nests about five levels
(``sweep`` > axis > list > mapping > field), and 64 keeps every recursion over the data (PyYAML's,
pydantic's, ``copy.deepcopy``) far from Python's limit. ``MAX_VALUES`` (scalars, lists, mappings
and keys, counted as aliases expand them) holds the largest campaign llem runs, 10,000 configs,
written out as explicit experiments of ten fields each; PyYAML's pure-Python parser takes some
seconds for that many, and so does validating them. ``MAX_BYTES`` (several times that file) only
keeps an unrelated huge file from being read into memory whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llenergymeasure.errors import ConfigError

Loc = tuple[str | int, ...]

MAX_BYTES = 8 * 2**20
MAX_DEPTH = 64
MAX_VALUES = 250_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


def field_path(loc: Loc) -> str:
    """``('pytorch', 'batch_size')`` → ``pytorch.batch_size``; list indexes as ``[i]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def read_yaml(path: Path) -> YamlDoc:
    """Parse ``path`` as a YAML mapping; every failure becomes ConfigError lines naming the file.

    Duplicate keys are all reported at once (one line each); a limit crossed stops at the first.
    """
    text = _read_text(Path(path))
    loader = _BoundedLoader(text, Path(path))
    try:
        node = loader.get_single_node()
        walk = _Walk(loader, Path(path))
        if node is not None:
            walk.visit(node, (), 1)
            walk.check_total(node)
        if walk.duplicates:
            raise ConfigError("\n".join(text for _, text in sorted(walk.duplicates)))
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:  # the limits above should make this unreachable; never a traceback all the same
        raise ConfigError(f"{path}: nested too deeply to read; flatten it") from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigError(f"{path}: file is empty; expected a mapping of fields")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of fields, got {type(data).__name__}")
    return YamlDoc(path=Path(path), data=data, lines=walk.lines)


def _read_text(path: Path) -> str:
    """The file's text, refusing one too large to be a config before reading all of it."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_BYTES // 2**20} MiB, too large for a config file; "
            "is this the right file? (a large campaign is a sweep, not a written-out list)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def _too_deep(path: Path, line: int, loc: Loc) -> ConfigError:
    return ConfigError(
        f"{path}:{line}: {field_path(loc[:1])}: nested more than {MAX_DEPTH} levels deep "
        "(a config needs fewer than ten); flatten it"
    )


def _too_many(path: Path, line: int, loc: Loc) -> ConfigError:
    return ConfigError(
        f"{path}:{line}: {field_path(loc)}: more than {MAX_VALUES} values, too many for a config file; "
        "is this the right file? (a large campaign is a sweep, not a written-out list)"
    )


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer stops early rather than failing late.

    It stops at ``MAX_DEPTH`` levels, before its own recursion can overflow, and at ``MAX_VALUES``
    nodes, before composing takes minutes (PyYAML's pure-Python scanner is slow).
    """

    def __init__(self, text: str, path: Path) -> None:
        super().__init__(text)
        self._path = path
        self._trail: list[str | int] = []  # key (or list index) of each level being composed
        self._composed = 0  # nodes and aliases so far: composing costs about 50 us each
        # Where each alias in a list is written, by (id(list node), index): the node an alias
        # returns is its anchor's, whose line is elsewhere.
        self.alias_lines: dict[tuple[int, int], int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, counting the levels above it."""
        if isinstance(index, yaml.ScalarNode):
            self._trail.append(str(index.value))
        else:
            self._trail.append(index if isinstance(index, int) else "?")
        self._composed += 1
        try:
            if len(self._trail) > MAX_DEPTH:
                raise _too_deep(self._path, self._next_line(), tuple(self._trail[1:]))
            if self._composed > MAX_VALUES:
                raise _too_many(self._path, self._next_line(), tuple(self._trail[1:2]))
            if isinstance(index, int) and self.check_event(yaml.AliasEvent):
                self.alias_lines[(id(parent), index)] = self._next_line()
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._trail.pop()

    def _next_line(self) -> int:
        """1-based line of the event about to be composed."""
        line: int = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
        return line


class _Walk:
    """One pass over composed nodes: expanded size and height of each, duplicate keys, key lines.

    Sizes and heights are memoised by node identity, which is what an alias shares, so the walk
    is linear in the file while measuring the data the aliases expand to. A node met a second
    time is an alias: its subtree is not indexed again (a line inside it is the alias's own).
    """

    def __init__(self, loader: _BoundedLoader, path: Path) -> None:
        self.loader = loader
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[int, str]] = []  # (line, error), reported in the file's order
        self._size: dict[int, int] = {}
        self._height: dict[int, int] = {}
        self._open: set[int] = set()

    def visit(self, node: yaml.Node, loc: Loc, level: int) -> int:
        """Walk ``node`` (at nesting ``level``, the root being 1); its size once aliases expand."""
        ident = id(node)
        line = self.lines.get(loc, node.start_mark.line + 1)  # an alias's own line, recorded by its parent
        if ident in self._open:
            raise ConfigError(
                f"{self.path}:{line}: {field_path(loc)}: an alias is used inside the value it names, which never "
                "ends; point it at a value defined before it"
            )
        if ident in self._size:
            if level + self._height[ident] - 1 > MAX_DEPTH:
                raise _too_deep(self.path, line, loc)
            return self._size[ident]
        self._open.add(ident)
        size, height = 1, 0
        if isinstance(node, yaml.MappingNode):
            size, height = self._mapping(node, loc, level)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[(*loc, i)] = self.loader.alias_lines.get((id(node), i), item.start_mark.line + 1)
                size += self.visit(item, (*loc, i), level + 1)
                height = max(height, self._height[id(item)])
        self._open.discard(ident)
        self._size[ident] = min(size, MAX_VALUES + 1)  # saturated: 9**60 would be a 190-bit sum per node
        self._height[ident] = height + 1
        return size

    def _mapping(self, node: yaml.MappingNode, loc: Loc, level: int) -> tuple[int, int]:
        """Size and child height of a mapping; records its key lines and its duplicate keys."""
        size, height = 1, 0
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"{self.path}:{line}: {field_path(loc)}: a key must be a plain name, not a list or "
                    "mapping; write it as text"
                )
            name = str(key_node.value)
            if key_node.tag != _MERGE_TAG:  # `<<: *defaults` is overridden by the keys beside it, by design
                key = self.loader.construct_object(key_node)  # as the dict sees it: 1 and 1.0 are one key
                if key in first:
                    self.duplicates.append(
                        (
                            line,
                            f"{self.path}:{line}: {field_path((*loc, name))}: duplicate key, also at line "
                            f"{first[key]}; keep one (YAML would silently use the last)",
                        )
                    )
                else:
                    first[key] = line
            self.lines[(*loc, name)] = line
            if "." in name:  # dotted keys (pytorch.batch_size) also answer for their nested path
                self.lines.setdefault((*loc, *name.split(".")), line)
            size += 1 + self.visit(value_node, (*loc, name), level + 1)
            height = max(height, self._height[id(value_node)])
        return size, height

    def check_total(self, root: yaml.Node) -> None:
        """Refuse a document whose aliases expand it past ``MAX_VALUES``, naming its largest top-level field.

        Sizes saturate at the limit, so that is the first field past it: where the bomb goes off.
        (The text alone is under the limit: the composer counted it.)
        """
        total = self._size[id(root)]
        if total <= MAX_VALUES:
            return
        loc: Loc = ()
        line = root.start_mark.line + 1
        if isinstance(root, yaml.MappingNode) and root.value:
            key_node, _ = max(root.value, key=lambda kv: self._size[id(kv[1])])
            loc, line = (str(key_node.value),), key_node.start_mark.line + 1
        raise ConfigError(
            f"{self.path}:{line}: {field_path(loc)}: aliases expand it to more than {MAX_VALUES} values "
            "(aliases of aliases multiply); use fewer nested aliases"
        )
