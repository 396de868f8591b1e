import pytest

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.results.naming import result_stem, slug


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
