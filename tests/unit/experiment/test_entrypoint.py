import json
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
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


def test_a_config_that_does_not_hash_to_its_given_identity_is_refused_with_an_error_file(tmp_path: Path) -> None:
    cfg = tmp_path / "exp001.yaml"
    cfg.write_text("model: org/m\nbackend: pytorch\nseed: 7\n")  # edited after planning: the plan had seed 42
    planned = config_hash(ExperimentConfig(model="org/m", backend="pytorch"))
    actual = config_hash(ExperimentConfig(model="org/m", backend="pytorch", seed=7))
    argv = [str(cfg), "--out", str(tmp_path / "out"), "--config-hash", planned, "--stem", "u_c1"]
    result = CliRunner().invoke(main, argv)
    message = (
        f"{cfg}: this llem hashes the config to {actual}, but the campaign planned it as {planned} (the image runs "
        "another llem version with other defaults, or the unit config was edited); nothing was measured"
    )
    assert (result.exit_code, result.stderr) == (1, f"error: {message}\n")
    error = json.loads((tmp_path / "out" / "u_c1.error.json").read_text())
    assert (error["error_type"], error["error_message"]) == ("ConfigHashMismatchError", message)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["u_c1.error.json"]  # nothing measured


def test_the_sigterm_handler_is_put_back_after_an_in_process_run(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    cfg = tmp_path / "exp001.yaml"
    cfg.write_text("model: org/m\nbackend: pytorch\n")
    CliRunner().invoke(main, [str(cfg), "--out", str(tmp_path / "out"), "--config-hash", "0" * 16])
    assert signal.getsignal(signal.SIGTERM) is before
