"""Model preflight: what a model name means, and the one line that says why it cannot be loaded.

The Hub is stood in for by a real HTTP server on localhost answering as the Hub does (status and
``X-Error-Code``), so huggingface_hub's own error mapping is exercised, never mocked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from llenergymeasure.models.resolve import classify, model_problem

ONLINE: dict[str, str] = {}
OFFLINE = {"HF_HUB_OFFLINE": "1"}


@pytest.mark.parametrize(
    ("model", "exists", "kind"),
    [
        ("llem/tiny-llama", False, "builtin"),
        ("meta-llama/Llama-3.2-1B-Instruct", False, "hub"),
        ("gpt2", False, "hub"),
        ("./models/mine", False, "path"),
        ("/abs/model", False, "path"),
        ("~/model", False, "path"),
        ("some/local/folder", True, "path"),
        ("a/b/c", False, "invalid"),
        ("org/name with space", False, "invalid"),
        ("org/../x", False, "invalid"),
    ],
)
def test_classify(model: str, exists: bool, kind: str) -> None:
    assert classify(model, exists) == kind


def test_builtin_and_existing_folder_need_nothing(tmp_path: Path) -> None:
    assert model_problem("llem/tiny-llama", OFFLINE) is None
    assert model_problem(str(tmp_path), OFFLINE) is None


def test_missing_folder_names_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    assert model_problem(missing, OFFLINE) == (
        f"model {missing}: no such folder; give an existing model folder, a Hub id or one of "
        "llem/tiny-llama, llem/tiny-gpt2"
    )


def test_invalid_name() -> None:
    assert model_problem("a/b/c", OFFLINE) == (
        "model a/b/c: neither an existing folder nor a Hugging Face Hub id (org/name); check the spelling, "
        "or use one of llem/tiny-llama, llem/tiny-gpt2"
    )


def fake_cache(root: Path, repo: str) -> None:
    """The Hugging Face cache layout: refs/main names a snapshot holding config.json."""
    base = root / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text("abc123")
    (base / "snapshots" / "abc123").mkdir(parents=True)
    (base / "snapshots" / "abc123" / "config.json").write_text("{}")


def test_cached_hub_model_is_fine_offline(tmp_path: Path) -> None:
    fake_cache(tmp_path, "org/cached")
    assert model_problem("org/cached", OFFLINE, cache_dir=str(tmp_path)) is None


def test_uncached_hub_model_offline_says_how_to_get_it(tmp_path: Path) -> None:
    assert model_problem("org/absent", OFFLINE, cache_dir=str(tmp_path)) == (
        "model org/absent: not in the Hugging Face cache and HF_HUB_OFFLINE is set; download it where the "
        "network is reachable (`hf download org/absent`), or unset HF_HUB_OFFLINE"
    )


class _Hub(BaseHTTPRequestHandler):
    """Answers /api/models/<id> as the Hub does for a few known ids."""

    def do_GET(self) -> None:
        repo = self.path.split("/api/models/", 1)[-1].split("?")[0]
        if repo.startswith("org/exists"):
            body = b'{"id": "org/exists", "sha": "abc123", "siblings": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        elif repo.startswith("org/licence"):  # as the Hub does: public metadata, files behind the licence
            body = b'{"id": "org/licence", "sha": "abc123", "siblings": [], "gated": "manual"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        elif repo.startswith("org/gated"):
            body = b'{"error": "gated"}'
            self.send_response(403)
            self.send_header("X-Error-Code", "GatedRepo")
        else:
            body = b'{"error": "Repository not found"}'
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        """A file of org/licence: refused until the licence is accepted."""
        self.send_response(403 if self.path.startswith("/org/licence/") else 200)
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_hub_answers(hub: str, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub}
    cache = str(tmp_path)
    assert model_problem("org/exists", env, cache_dir=cache) is None
    assert model_problem("org/typo", env, cache_dir=cache) == (
        "model org/typo: not found on the Hugging Face Hub (or private: set HF_TOKEN); check the spelling"
    )
    for gated in ("org/gated", "org/licence"):
        assert model_problem(gated, env, cache_dir=cache) == (
            f"model {gated}: gated on the Hub; accept its licence at {hub}/{gated} and set HF_TOKEN to a token of "
            "the account that accepted it"
        )


def test_a_misspelt_builtin_gets_did_you_mean() -> None:
    assert (
        model_problem("llem/tiny-lama", OFFLINE)
        == "unknown built-in model llem/tiny-lama; did you mean llem/tiny-llama?"
    )
    assert (
        model_problem("llem/tiny-gtp2", OFFLINE)
        == "unknown built-in model llem/tiny-gtp2; did you mean llem/tiny-gpt2?"
    )
    assert model_problem("llem/mistral", OFFLINE) == (
        "unknown built-in model llem/mistral; the built-ins are llem/tiny-llama, llem/tiny-gpt2"
    )


def test_unreachable_hub_fails_in_seconds_without_retries(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hub)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    server.server_close()  # nothing listens there now: connection refused
    start = time.monotonic()
    problem = model_problem("org/x", {"HF_ENDPOINT": endpoint}, cache_dir=str(tmp_path))
    assert time.monotonic() - start < 15  # retries with backoff take far longer; slack for a loaded machine
    assert problem == (
        f"model org/x: not in the Hugging Face cache and {endpoint} cannot be reached (ConnectError); "
        "download it where the network is reachable (`hf download org/x`)"
    )
