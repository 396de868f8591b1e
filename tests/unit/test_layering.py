"""Each pair of layers depends in one direction only (read from the source, not from sys.modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "src" / "llenergymeasure"

# Layer -> layers it must never import. Container-side code (experiment, backends, energy) runs
# inside the per-backend image and must not depend on the host's campaign or dispatch code;
# config is below campaign; backends sit below the experiment harness that drives them.
FORBIDDEN = {
    "experiment": ("campaign", "dispatch", "cli"),
    "backends": ("campaign", "dispatch", "cli", "experiment"),
    # the executors run units for campaign; the CLI and the results views are above them
    "dispatch": ("campaign", "cli", "results"),
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


# dispatch runs a unit's process and never the experiment inside it: of the container-side layers
# it imports only the backend registry (services, engine packages) and the experiment modules whose
# command lines it builds (forkserver, gpunode) or whose folder name it mounts (cooldown). Never a
# runner, a server module or the measuring harness, which would pull an engine onto the host.
DISPATCH_MAY_IMPORT = {"backends": {"registry"}, "experiment": {"forkserver", "gpunode", "cooldown"}}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every llenergymeasure import in ``path``; ``from pkg import mod`` gives ``pkg.mod``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.count(".") == 1:  # from llenergymeasure.layer import module
                out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in out if name.startswith("llenergymeasure.")]


def test_dispatch_imports_only_the_launch_side_of_container_layers() -> None:
    found = []
    for path in sorted((PKG / "dispatch").rglob("*.py")):
        for line, name in imported_modules(path):
            parts = name.split(".")
            if parts[1] in DISPATCH_MAY_IMPORT and (len(parts) < 3 or parts[2] not in DISPATCH_MAY_IMPORT[parts[1]]):
                found.append(f"{path.relative_to(PKG)}:{line} imports {name}")
    assert found == []


def test_dispatch_rule_sees_runner_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from llenergymeasure.experiment import forkserver, runner\n"
        "def f():\n    from llenergymeasure.backends.vllm.runner import VllmRunner\n"
    )
    assert imported_modules(module) == [
        (1, "llenergymeasure.experiment.forkserver"),
        (1, "llenergymeasure.experiment.runner"),
        (3, "llenergymeasure.backends.vllm.runner"),
    ]


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
