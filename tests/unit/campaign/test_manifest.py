import json
import os
from pathlib import Path

import pytest

from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.errors import ManifestError


def entry(key: str = "exp001_c1") -> ManifestEntry:
    return ManifestEntry(
        key=key,
        exp_id="exp001",
        config_hash="ab" * 8,
        backend="pytorch",
        service="pytorch",
        cycle=1,
        config_file="configs/exp001.yaml",
        result_file=f"{key}.json",
    )


def store(tmp_path: Path, n: int = 3) -> ManifestStore:
    m = CampaignManifest(
        campaign="c", design_hash="d" * 16, llem_version="0", entries=[entry(f"u{i}") for i in range(n)]
    )
    s = ManifestStore(tmp_path / "manifest.json", m)
    assert s.save()
    return s


def test_happy_path_transitions() -> None:
    e = mf.start(entry())
    assert e.status == "running"
    assert e.started_at
    e = mf.complete(e, "r.json")
    assert (e.status, e.result_file) == ("completed", "r.json")


def test_failure_retry_counts() -> None:
    e = mf.fail(mf.start(entry()), "Boom", "bad")
    assert (e.status, e.error_type, e.error_message) == ("failed", "Boom", "bad")
    e = mf.requeue(e)
    assert (e.status, e.retry_count) == ("pending", 1)
    e = mf.start(e)
    assert e.error_type is None  # a new attempt starts clean


def test_crash_requeue_does_not_count_as_retry() -> None:
    e = mf.requeue(mf.start(entry()))
    assert (e.status, e.retry_count) == ("pending", 0)


@pytest.mark.parametrize("path", [("completed", "running"), ("pending", "completed")])
def test_illegal_transitions_raise(path: tuple[str, str]) -> None:
    e = entry().model_copy(update={"status": path[0]})
    with pytest.raises(ManifestError, match="illegal transition"):
        mf.transition(e, path[1])  # type: ignore[arg-type]


def test_store_roundtrip_and_counters(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.put(mf.start(s.entry("u1")))
    s.put(mf.complete(s.entry("u1"), "u1.json"))
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["counters"] == {"total": 3, "completed": 1, "failed": 0, "pending": 2, "running": 0, "skipped": 0}
    again = ManifestStore.load(tmp_path / "manifest.json")
    assert again.entry("u1").status == "completed"
    assert again.manifest.model_dump(exclude={"updated_at"}) == s.manifest.model_dump(exclude={"updated_at"})


def test_write_is_atomic_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = store(tmp_path)
    before = (tmp_path / "manifest.json").read_bytes()

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # the process dies between writing the temp file and renaming it

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        s.put(mf.start(s.entry("u0")))
    assert (tmp_path / "manifest.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left behind


def test_failed_write_warns_and_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = store(tmp_path)

    def full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    s.put(mf.start(s.entry("u0")))  # does not raise
    assert s.entry("u0").status == "running"
    assert not s.save()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "manifest unreadable"),
        ('{"campaign": "c"}', "manifest invalid at"),
    ],
)
def test_corrupt_manifest_is_reported_and_left_alone(tmp_path: Path, content: str, message: str) -> None:
    p = tmp_path / "manifest.json"
    p.write_text(content)
    with pytest.raises(ManifestError, match=message):
        ManifestStore.load(p)
    assert p.read_text() == content


def test_experiment_fields_are_written_once_and_joined_on_load(tmp_path: Path) -> None:
    cycles = [entry(f"exp001_c{c}").model_copy(update={"cycle": c}) for c in (1, 2, 3)]
    m = CampaignManifest(campaign="c", design_hash="d" * 16, llem_version="0", entries=cycles)
    s = ManifestStore(tmp_path / "manifest.json", m)
    assert s.save()
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["schema_version"] == 2
    assert raw["experiments"] == {
        "exp001": {
            "config_hash": "ab" * 8,
            "config_summary": {},
            "backend": "pytorch",
            "service": "pytorch",
            "config_file": "configs/exp001.yaml",
            "n_gpus": 1,
        }
    }
    assert raw["entries"][1] == {
        "exp_id": "exp001",
        "cycle": 2,
        "status": "pending",
        "result_file": "exp001_c2.json",
        "retry_count": 0,
    }
    assert ManifestStore.load(tmp_path / "manifest.json").manifest.entries == cycles


def test_a_key_that_is_not_derived_is_kept(tmp_path: Path) -> None:
    s = store(tmp_path)  # keys u0.. differ from exp001_c1
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert [e["key"] for e in raw["entries"]] == ["u0", "u1", "u2"]
    assert [e.key for e in ManifestStore.load(s.path).manifest.entries] == ["u0", "u1", "u2"]


def test_schema_1_manifest_with_whole_entries_still_loads(tmp_path: Path) -> None:
    s = store(tmp_path)
    raw = json.loads(s.render())
    raw.pop("experiments")
    raw["schema_version"] = 1
    raw["entries"] = [e.model_dump(mode="json") for e in s.manifest.entries]
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    assert ManifestStore.load(tmp_path / "manifest.json").manifest.entries == s.manifest.entries


def test_entry_naming_an_unknown_experiment_is_reported(tmp_path: Path) -> None:
    s = store(tmp_path)
    raw = json.loads(s.render())
    raw["entries"][2]["exp_id"] = "exp999"
    text = json.dumps(raw)
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ManifestError, match=r"invalid at entries\.2\.exp_id: no experiment 'exp999'"):
        ManifestStore.load(tmp_path / "manifest.json")
    assert (tmp_path / "manifest.json").read_text() == text


def test_a_transition_cannot_change_experiment_fields(tmp_path: Path) -> None:
    s = store(tmp_path)
    with pytest.raises(ManifestError, match="may not change"):
        s.put(s.entry("u0").model_copy(update={"backend": "vllm"}))
