"""Server mode: an engine behind its OpenAI-compatible server, driven by a streaming load generator.

Pure logic (``arrivals``, ``steady``, ``stats``) apart from I/O (``server``: the process; ``client``:
the HTTP load generator); ``experiment.serving`` puts them together around the energy meter.
"""
