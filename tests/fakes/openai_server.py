"""A stand-in for an engine's OpenAI-compatible server (the engine edge of server-mode tests).

``python -m tests.fakes.openai_server PORT MODE`` serves ``/health`` and streamed ``/v1/completions``
in vLLM's wire format (``token_ids`` per chunk, a usage chunk, ``[DONE]``). Modes:
``ok``; ``never-healthy`` (/health answers 503); ``fail-every-K`` (every K-th completion is an
HTTP 500); ``die-after-N`` (the process exits in the middle of the N-th completion's stream).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from aiohttp import web


def make_app(mode: str) -> web.Application:
    count = {"n": 0}

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=503 if mode == "never-healthy" else 200)

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        count["n"] += 1
        n = count["n"]
        if mode.startswith("fail-every-") and n % int(mode.rsplit("-", 1)[1]) == 0:
            return web.json_response({"error": {"message": "injected failure"}}, status=500)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(int(body["max_tokens"])):
            if mode.startswith("die-after-") and n == int(mode.rsplit("-", 1)[1]) and i == 1:
                os._exit(7)
            chunk = {"choices": [{"index": 0, "text": "x", "token_ids": [100 + i]}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(0.002)
        usage = {"prompt_tokens": len(body["prompt"]), "completion_tokens": int(body["max_tokens"])}
        final = {"choices": [], "usage": usage, "metrics": {"queue_time_ms": 0.5}}
        await resp.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
        return resp

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/completions", completions)
    return app


if __name__ == "__main__":
    web.run_app(make_app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), print=None)
