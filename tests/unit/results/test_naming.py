import pytest

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.results.naming import result_stem, short_hashes, slug


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("meta-llama/Llama-3.1-8B", "meta-llama--Llama-3.1-8B"),
        ("../../etc/passwd", "--etc--passwd".strip("-.") and "etc--passwd"),
        ("..", "model"),
        ("a b:c", "a-b-c"),
        ("C:\\models\\x", "C---models--x"),
    ],
)
def test_slug_never_escapes(name: str, expected: str) -> None:
    s = slug(name)
    assert s == expected
    assert "/" not in s
    assert not s.startswith(".")


def test_result_stem() -> None:
    cfg = ExperimentConfig(model="org/m", backend="vllm", precision="fp16")
    assert result_stem(cfg, "0123456789abcdef", 3) == "org--m_vllm_fp16_01234567_c3"


def test_result_stem_carries_more_digits_when_asked() -> None:
    cfg = ExperimentConfig(model="org/m", backend="vllm", precision="fp16")
    assert result_stem(cfg, "0123456789abcdef", 3, hash_len=10) == "org--m_vllm_fp16_0123456789_c3"


def test_short_hashes_are_8_digits_where_those_are_unique() -> None:
    assert short_hashes(["0123456789abcdef", "fedcba9876543210"]) == {
        "0123456789abcdef": "01234567",
        "fedcba9876543210": "fedcba98",
    }


def test_hashes_sharing_their_first_digits_get_one_more_than_they_share() -> None:
    hashes = ["aaaaaaaa11111111", "aaaaaaaa12222222", "aaaaaaaa12333333", "bbbbbbbb00000000", "aaaaaaaa11111111"]
    assert short_hashes(hashes) == {
        "aaaaaaaa11111111": "aaaaaaaa11",  # shares 9 digits ("aaaaaaaa1") with the next: 10
        "aaaaaaaa12222222": "aaaaaaaa122",  # shares 10 ("aaaaaaaa12") with the next: 11
        "aaaaaaaa12333333": "aaaaaaaa123",
        "bbbbbbbb00000000": "bbbbbbbb",  # untouched by the others' collision
    }


def test_short_hashes_are_always_unique_and_prefixes() -> None:
    hashes = [f"{n:016x}" for n in range(0, 2**40, 2**27 + 12345)] + ["0" * 15 + "1", "0" * 16]
    short = short_hashes(hashes)
    assert len(set(short.values())) == len(set(hashes))
    assert all(h.startswith(s) and len(s) >= 8 for h, s in short.items())
    assert short["0" * 16] == "0" * 16  # identical up to the last digit: the full hash
