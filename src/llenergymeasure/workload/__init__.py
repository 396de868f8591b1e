"""Workloads: dataset rows read from files, seeded length distributions, filters and the seeded draw.

Pure logic and file I/O only: it may import ``config``, never ``experiment``, ``campaign`` or a
backend's runner. ``experiment.prompts`` is the in-unit entry point that turns these into prompts.
"""
