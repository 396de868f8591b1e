"""llenergymeasure: energy efficiency of LLM inference, measured reproducibly."""

__version__ = "0.1.0"

# Bumped whenever the result JSON changes shape; images are labelled with it so the
# host never dispatches to a container that would write results it cannot read.
RESULT_SCHEMA_VERSION = "1"

__all__ = ["RESULT_SCHEMA_VERSION", "__version__"]
