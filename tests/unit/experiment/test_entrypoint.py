from pathlib import Path

import pytest
from click.testing import CliRunner

from llenergymeasure.experiment.entrypoint import main


def run(config: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(config), "--out", str(out)])
    return result.exit_code, result.stderr


def test_missing_config_leaves_no_error_file(tmp_path: Path) -> None:
    code, err = run(tmp_path / "missing.yaml", tmp_path / "out")
    assert (code, err) == (2, f"error: {tmp_path / 'missing.yaml'}: file not found\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text",
    [
        "model: m\nsweep: {precision: [fp16, bf16]}\n",
        "model: m\nexperiments: [{backend: pytorch}]\n",
        "model: m\nexecution: {n_cycles: 2}\n",
        "model: m\nbackend: [pytorch, vllm]\n",
    ],
)
def test_campaign_file_is_named_in_one_line(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "campaign.yaml"
    cfg.write_text(text)
    code, err = run(cfg, tmp_path / "out")
    assert (code, err) == (2, f"error: {cfg}: this is a campaign file: use llem campaign up {cfg}\n")
    assert not (tmp_path / "out").exists()
