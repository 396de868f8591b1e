"""A ``vllm`` whose only part is its OpenAI server: the stand-in server (tests/fakes/openai_server.py).

Put this folder and the repository root first on ``PYTHONPATH`` of a real ``llem-exp`` with a
``backend: vllm`` server-mode config: the unit builds vLLM's command line as always and the engine
edge, ``python -m vllm.entrypoints.openai.api_server``, serves the stand-in instead. Never put it
where vLLM's offline engine (``vllm.LLM``) is needed: it has none.
"""
