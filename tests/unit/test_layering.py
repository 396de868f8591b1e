"""Each pair of layers depends in one direction only (read from the source, not from sys.modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "src" / "llenergymeasure"

# Layer -> layers it must never import. Container-side code (experiment, backends, energy) runs
# inside the per-backend image and must not depend on the host's campaign or dispatch code;
# config is below campaign.
FORBIDDEN = {
    "experiment": ("campaign", "dispatch", "cli"),
    "backends": ("campaign", "dispatch", "cli"),
    "energy": ("campaign", "dispatch", "cli", "experiment", "backends"),
    "config": ("campaign", "dispatch", "cli", "experiment", "results"),
    "models": ("campaign", "dispatch", "cli"),
    "serving": ("campaign", "dispatch", "cli", "experiment", "backends"),
}


def imported_layers(path: Path) -> list[tuple[int, str]]:
    """(line, top-level llenergymeasure subpackage) for every import in ``path``, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "llenergymeasure" and len(parts) > 1:
                out.append((node.lineno, parts[1]))
    return out


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for line, target in imported_layers(path):
            if target in FORBIDDEN[layer]:
                found.append(f"{path.relative_to(PKG)}:{line} imports llenergymeasure.{target}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    assert violations(layer) == []


def test_checker_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from llenergymeasure.campaign.plan import x\nimport llenergymeasure.energy\n")
    assert imported_layers(module) == [(3, "energy"), (2, "campaign")]
