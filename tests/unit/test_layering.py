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
    # the GPU settings layer sits beside energy: campaign and the runner call it, never the reverse
    "gpu": ("campaign", "dispatch", "cli", "experiment", "backends", "config", "results"),
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


def module_imports(layer: str) -> dict[str, set[str]]:
    """Module -> the modules of the same layer it imports (lazy and type-only imports included)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((PKG / layer).glob("*.py")):
        mods = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"llenergymeasure.{layer}."):
                mods.add(node.module.split(".")[2])
        graph[path.stem] = mods
    return graph


def test_no_two_experiment_modules_import_each_other() -> None:
    graph = module_imports("experiment")
    mutual = sorted(f"{a} <-> {b}" for a, deps in graph.items() for b in deps if a < b and a in graph.get(b, set()))
    assert mutual == []
    # One measured window for both scenarios, and one pure assembly of the result.
    assert {"measure", "result"} <= graph["runner"]
    assert {"measure", "result"} <= graph["serving"]
    assert "runner" not in graph["serving"]
