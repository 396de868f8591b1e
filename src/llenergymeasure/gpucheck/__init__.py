"""The GPU validation kit: a short offline campaign on a real GPU, summarised into docs/gpu.md."""
