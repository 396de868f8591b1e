from pathlib import Path

from llenergymeasure.config.reference import render_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "config-reference.md"


def test_docs_config_reference_is_current() -> None:
    # Regenerate with: python -m llenergymeasure.config.reference > docs/config-reference.md
    assert DOC.read_text() == render_reference()


def test_reference_lists_nested_and_backend_fields() -> None:
    text = render_reference()
    assert "| `pytorch.batch_size` | int | `1` | Prompts per generate() call (static batching). |" in text.splitlines()
    assert "| `dataset.sha256` |" in text
