"""What a build from the repository root sends: never the test wheelhouse, always the folder its COPY needs.

Read with the Docker SDK's own .dockerignore matcher over a small tree shaped like the repository.
"""

from __future__ import annotations

from pathlib import Path

from docker.utils.build import exclude_paths

ROOT = Path(__file__).resolve().parents[2]


def test_root_context_leaves_out_the_wheelhouse_and_build_folders(tmp_path: Path) -> None:
    files = [
        "pyproject.toml",
        "README.md",
        "docker/pytorch.Dockerfile",
        "docker/wheels/.gitkeep",
        "docker/wheels/torch-2.13.0-cp311-cp311-linux_x86_64.whl",
        "docker/wheels/.complete-0123456789ab",
        "build/docker-ctx-x/docker/wheels/torch.whl",
        "src/llenergymeasure/__init__.py",
        "src/llenergymeasure/__pycache__/x.pyc",
        ".venv/bin/python",
        "tests/conftest.py",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    sent = {p for p in exclude_paths(str(tmp_path), patterns, "docker/pytorch.Dockerfile") if (tmp_path / p).is_file()}
    assert sent == {
        "pyproject.toml",
        "README.md",
        "docker/pytorch.Dockerfile",
        "docker/wheels/.gitkeep",  # the Dockerfiles COPY docker/wheels/: the folder must exist
        "src/llenergymeasure/__init__.py",
    }
