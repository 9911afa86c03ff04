"""A minimal OpenAI-wire mock LLM on 127.0.0.1 (own thread and loop), driven by the requested model name.

Model names pick the behaviour: `err-429`, `err-500`, `err-400`, `err-401` answer that error; `slow-S`
waits S seconds before the response headers; `cut` streams two chunks then drops the connection;
`endless` streams until the client goes away (counted in `streams_closed`). Any other model answers
normally, with `usage` 10 prompt + 20 completion tokens, tool calls when tools were offered, and JSON
content for response_format json_object/json_schema. `delay` (seconds) slows every answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

PROMPT_TOKENS, COMPLETION_TOKENS = 10, 20


def _sample(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: _sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(schema.get("items") or {})]
    return {"string": "Paris", "number": 21.5, "integer": 3, "boolean": True}.get(kind, None)


class MockOpenAI:
    def __init__(self) -> None:
        self.port = 0
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "body"}
        self.streams_closed = 0  # `endless` streams that ended because the client left
        self.delay = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mock-openai", daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> MockOpenAI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            time.sleep(0.05)
        return bool(predicate())

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _prelude(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        model = str(body.get("model", ""))
        if self.delay:
            await asyncio.sleep(self.delay)
        if model.startswith("slow-"):
            await asyncio.sleep(float(model.split("-", 1)[1]))
        if model.startswith("err-"):
            status = int(model[4:])
            error = {"message": f"mock error {status}", "type": "mock_error", "param": None, "code": None}
            return body, web.json_response({"error": error}, status=status)
        return body, None

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("tools"):
            tool = body["tools"][0]["function"]["name"]
            call = {
                "id": "call_1",
                "type": "function",
                "function": {"name": tool, "arguments": '{"city": "Paris"}'},
            }
            return {"role": "assistant", "content": None, "tool_calls": [call]}
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return {"role": "assistant", "content": json.dumps(_sample(fmt["json_schema"]["schema"]))}
        if fmt.get("type") == "json_object":
            return {"role": "assistant", "content": '{"ok": true}'}
        return {"role": "assistant", "content": "Hello from the mock"}

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, error = await self._prelude(request)
        if error is not None:
            return error
        usage = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        }
        message = self._message(body)
        n = int(body.get("n") or 1)
        if not body.get("stream"):
            choices = [
                {
                    "index": i,
                    "message": message,
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                }
                for i in range(n)
            ]
            return web.json_response(
                {
                    "id": "chatcmpl-mock",
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": body["model"],
                    "choices": choices,
                    "usage": usage,
                }
            )
        return await self._stream(request, body, message, usage)

    async def _stream(
        self, request: web.Request, body: dict[str, Any], message: dict[str, Any], usage: dict[str, int]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-mock",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        if body["model"] == "endless":
            try:
                while True:
                    await send({"content": "tick "})
                    await asyncio.sleep(0.05)
            finally:
                self.streams_closed += 1
        if body["model"] == "cut":
            await send({"content": "partial"})
            request.transport.close()
            return response
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            await send(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            args = call["function"]["arguments"]
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                await send({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            await send({}, "tool_calls")
        else:
            for word in (message["content"] or "").split(" "):
                await send({"content": word + " "})
            await send({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            final = {
                "id": "chatcmpl-mock",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": body["model"],
                "choices": [],
                "usage": usage,
            }
            await response.write(f"data: {json.dumps(final)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        body, error = await self._prelude(request)
        if error is not None:
            return error
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(inputs))]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 5 * len(inputs), "total_tokens": 5 * len(inputs)},
            }
        )
