"""workload/ sits beside config/: it may read configs, never the unit runner, the host's campaign or a backend."""

from __future__ import annotations

from tests.unit.test_layering import PKG, imported_layers

FORBIDDEN = ("experiment", "campaign", "dispatch", "cli", "backends", "results", "serving")


def test_workload_imports_only_config_and_errors() -> None:
    found = [
        f"{path.relative_to(PKG)}:{line} imports llenergymeasure.{target}"
        for path in sorted((PKG / "workload").rglob("*.py"))
        for line, target in imported_layers(path)
        if target in FORBIDDEN
    ]
    assert found == []
