"""A manifest emptied or cut in half (a power cut) is rebuilt by `resume`, which runs exactly the missing units.

Issue 22, item 11, in the crash-torture style: the real CLI, the tiny model, the local executor. The
campaign names its model by a relative folder (`model: ./m`, item 14) and is run from another
folder, so the path is resolved against the campaign file's folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from llenergymeasure.results.reader import read_result
from tests.integration.conftest import FAST, llem, manifest, only_campaign_dir


def test_resume_rebuilds_an_empty_then_a_torn_manifest_and_runs_only_the_missing_units(
    tmp_path: Path, tiny_llama: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(tiny_llama, project / "m")
    camp = project / "camp.yaml"
    camp.write_text(
        "name: torn\n" + FAST.replace("model: llem/tiny-llama", "model: ./m") + "execution: {n_cycles: 2}\n"
    )
    llem("campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", cwd=tmp_path)
    d = only_campaign_dir(tmp_path / "res")
    first = manifest(d)
    assert first["counters"]["completed"] == 2
    (unit_config,) = (d / "configs").glob("*.yaml")
    assert f"model: {project / 'm'}\n" in unit_config.read_text()  # resolved at load time
    names = [e["result_file"] for e in first["entries"]]
    results = {n: (d / n).read_bytes() for n in names}

    for cut, lost in (("empty", 0), ("half", 1)):
        data = (d / "manifest.json").read_bytes()
        (d / "manifest.json").write_bytes(b"" if cut == "empty" else data[: len(data) // 2])
        (d / names[lost]).unlink()
        problem = "empty (0 bytes)" if cut == "empty" else f"torn ({len(data) // 2} bytes, not whole JSON)"
        note = (
            f"manifest.json was {problem}; rebuilt from campaign.resolved.json and the result files: "
            "1 of 2 unit(s) completed, the rest pending (retry counts and failure reasons are lost)"
        )

        status = llem("campaign", "status", str(d), cwd=tmp_path)
        assert f"note: {note} (shown, not written: `llem campaign resume {d}` writes it)" in status.stderr.splitlines()
        assert "2 units: 1 completed, 1 pending" in status.stdout

        proc = llem("campaign", "resume", str(d), "--executor", "local", cwd=tmp_path)
        assert note in proc.stderr
        m = manifest(d)
        assert [e["status"] for e in m["entries"]] == ["completed", "completed"]
        assert [e["key"] for e in m["entries"]] == [e["key"] for e in first["entries"]]
        for e in m["entries"]:
            read_result(d / e["result_file"], e["config_hash"], e["cycle"])
        kept = names[1 - lost]
        assert (d / kept).read_bytes() == results[kept], f"{kept} was re-run"
        assert (d / names[lost]).read_bytes() != results[names[lost]]  # measured again: exactly the missing unit
        results[names[lost]] = (d / names[lost]).read_bytes()
        json.loads((d / "manifest.json").read_text())  # whole again
    assert manifest(d)["executor"] == "local"

    # A snapshot an older llem wrote does not say how the campaign ran: `resume` must be told.
    snap = json.loads((d / "campaign.resolved.json").read_text())
    assert (snap["executor"], snap["gpus"], snap["campaign_file"]) == ("local", None, str(camp))
    for key in ("executor", "gpus", "campaign_file"):
        del snap[key]
    (d / "campaign.resolved.json").write_text(json.dumps(snap))
    (d / "manifest.json").write_bytes(b"")
    proc = llem("campaign", "resume", str(d), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        f"error: {d / 'manifest.json'}: manifest empty (0 bytes) and campaign.resolved.json cannot rebuild it "
        "(it does not record the executor; resume with --executor local|docker|slurm)"
    )
    proc = llem("campaign", "resume", str(d), "--executor", "local", cwd=tmp_path)
    assert proc.stdout == "nothing to do: all 2 units completed\n"
