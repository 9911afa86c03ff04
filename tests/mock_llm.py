"""A mock LLM server on 127.0.0.1 speaking the OpenAI, Anthropic and Gemini wire formats.

Started in a background thread (aiohttp on its own event loop), so sync and async tests and the bench
can call it alike:

    with MockLLM() as mock:
        mock.base_url("openai")   # http://127.0.0.1:PORT/v1 (mock.url() is http://127.0.0.1:PORT)
        mock.requests             # every request seen: method, path, query, headers, body

Behaviours, per request, from an `x-mock-behaviour` header (comma-separated) or from the model name
after a `+` (`gpt-4o-mini+fail-429+slow-first-byte-200`, which also works through the gateway):
`fail-<status>` (429 carries retry-after), `slow-first-byte-<ms>`, `slow-stream-<ms>` (between
chunks), `cut-mid-stream` (half the stream, then the connection drops), `stream-error` (an error event
mid-stream), `tool-call` (call the first tool offered, or get_weather), `hang`, `endless` (an OpenAI chat
stream that goes on until the client leaves; `streams_closed` counts those that ended so).

Per test, on the instance (`reset()` puts them back): `delay` (seconds before every answer) and `usage`
(`(prompt, completion)` token counts every answer reports, instead of counting words).

Scripted answers: `mock.script("not json", '{"ok": true}')` queues contents that the next chat calls
answer verbatim, one each, whatever was asked (as text, or as the forced tool's input for Anthropic
when the content is a JSON object); `mock.scripted` holds what is left.

OpenAI's Responses API (/v1/responses, JSON and SSE) answers like chat (tests/mock_llm_responses.py).
Structured output is answered when asked (OpenAI response_format, Anthropic forced tool_choice, Gemini
responseMimeType), with a value built from the schema. Each route checks its provider's credential
header against `keys` and answers that provider's 401 otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests import mock_llm_formats as f
from tests import mock_llm_responses as r
from tests.threaded import AiohttpServer

KEYS = {
    "openai": "sk-mock-openai-0123456789abcdefghij",
    "azure": "0123456789abcdef0123456789abcdef",
    "anthropic": "sk-ant-mock-0123456789abcdefghijklmn",
    "gemini": "AIzaMock0123456789abcdefghijklmnopqrstu",
    "groq": "gsk_mock0123456789abcdefghij",
    "mistral": "mock0123456789abcdefghijklmnopqr",
}
OPENAI_LIKE = ("openai", "groq", "mistral")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any


class MockLLM(AiohttpServer):
    """`requests` holds a `Recorded` per request; the server plumbing is tests/threaded.py's."""

    thread_name = "mock-llm"
    path = ""

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        super().__init__()
        self.keys = {**KEYS, **(keys or {})}
        self.requests: list[Recorded] = []
        self.scripted: list[str] = []
        self.delay = 0.0
        self.usage: tuple[int, int] | None = None
        self.streams_closed = 0  # `endless` streams that ended because the client left

    def base_url(self, provider: str) -> str:
        """The credential base URL each adapter expects for this server."""
        return self.url() if provider in ("anthropic", "gemini", "azure") else self.url("/v1")

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.scripted.clear()
            self.delay = 0.0
            self.usage = None

    def script(self, *contents: str) -> None:
        """Queue verbatim answers for the next chat calls (first in, first out)."""
        with self._lock:
            self.scripted.extend(contents)

    def _next_scripted(self) -> str | None:
        with self._lock:
            return self.scripted.pop(0) if self.scripted else None

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_post("/v1/embeddings", self._openai_embeddings)
        app.router.add_post("/v1/responses", self._openai_responses)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._openai_chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._openai_embeddings)
        app.router.add_get("/openai/models", self._models)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1/messages/count_tokens", self._anthropic_count)
        app.router.add_post("/v1beta/models/{target}", self._gemini)
        app.router.add_get("/v1beta/models", self._models)

    # --- shared plumbing ---

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.record(Recorded(request.method, request.path, dict(request.query), headers, body))
        return body

    def _provider(self, request: web.Request) -> str:
        if request.path.startswith("/openai/"):
            return "azure"
        if request.path.startswith("/v1beta/"):
            return "gemini"
        if request.path == "/v1/messages" or "x-api-key" in request.headers:
            return "anthropic"
        return "openai"

    def _authorised(self, request: web.Request, provider: str) -> bool:
        if provider == "azure":
            return request.headers.get("api-key") == self.keys["azure"] and "api-version" in request.query
        if provider == "anthropic":
            return request.headers.get("x-api-key") == self.keys["anthropic"] and bool(
                request.headers.get("anthropic-version")
            )
        if provider == "gemini":
            return request.headers.get("x-goog-api-key") == self.keys["gemini"]
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        return bearer in {self.keys[name] for name in OPENAI_LIKE}

    def _error(self, provider: str, status: int, message: str) -> web.Response:
        kinds = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}
        kind = kinds.get(status, "api_error" if status >= 500 else "invalid_request_error")
        headers = {"retry-after": "1"} if status == 429 else {}
        if provider == "anthropic":
            body = f.anthropic_error(message, kind)
        elif provider == "gemini":
            names = {401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 404: "NOT_FOUND"}
            body = f.gemini_error(
                status, message, names.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
            )
        else:
            body = f.openai_error(
                status, message, kind, code="rate_limit_exceeded" if status == 429 else None
            )
        return web.json_response(body, status=status, headers=headers)

    async def _gate(self, request: web.Request, model: str) -> tuple[list[str], web.Response | None]:
        """Behaviours, the credential check and any failure or delay before the first byte."""
        provider = self._provider(request)
        behaviours = [b.strip() for b in request.headers.get("x-mock-behaviour", "").split(",") if b.strip()]
        behaviours += model.split("+")[1:]
        if self.delay:
            await asyncio.sleep(self.delay)
        for behaviour in behaviours:
            if behaviour.startswith("slow-first-byte-"):
                await asyncio.sleep(int(behaviour.rsplit("-", 1)[1]) / 1000)
            if behaviour == "hang":
                await asyncio.sleep(3600)
        if not self._authorised(request, provider):
            presented = request.headers.get("authorization", "")[-4:]
            return behaviours, self._error(provider, 401, f"Incorrect API key provided: sk-***{presented}.")
        for behaviour in behaviours:
            if behaviour.startswith("fail-"):
                status = int(behaviour.removeprefix("fail-"))
                return behaviours, self._error(provider, status, f"mock failure {status}")
        return behaviours, None

    async def _stream(
        self, request: web.Request, frames: list[bytes], behaviours: list[str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        delay = next((int(b.rsplit("-", 1)[1]) for b in behaviours if b.startswith("slow-stream-")), 0)
        cut = "cut-mid-stream" in behaviours
        for position, frame in enumerate(frames):
            if cut and position == len(frames) // 2:
                # Drop the connection mid-body: the client sees an incomplete chunked response.
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write(frame)
            if delay:
                await asyncio.sleep(delay / 1000)
        await response.write_eof()
        return response

    async def _endless(self, request: web.Request, model: str) -> web.StreamResponse:
        """An OpenAI chat stream of "tick " chunks until the client goes away (the handler is cancelled)."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        role, tick = f.openai_chunks(model, f.Reply("tick "), include_usage=False)[:2]
        try:
            await response.write(f"data: {json.dumps(role)}\n\n".encode())
            while True:
                await response.write(f"data: {json.dumps(tick)}\n\n".encode())
                await asyncio.sleep(0.05)
        finally:
            with self._lock:
                self.streams_closed += 1

    # --- OpenAI and Azure ---

    def _counted(self, reply: f.Reply) -> f.Reply:
        """`reply` with the token counts `usage` fixes, when it does."""
        if self.usage is None:
            return reply
        return dataclasses.replace(reply, prompt_tokens=self.usage[0], output_tokens=self.usage[1])

    def _reply(
        self,
        messages: Any,
        tools: list[Any],
        behaviours: list[str],
        schema: Any = None,
        json_mode: bool = False,
    ) -> f.Reply:
        return self._counted(self._compose(messages, tools, behaviours, schema, json_mode))

    def _compose(
        self,
        messages: Any,
        tools: list[Any],
        behaviours: list[str],
        schema: Any,
        json_mode: bool,
    ) -> f.Reply:
        prompt = max(1, f.count_words(messages))
        if "tool-call" in behaviours:
            first = (tools or [{}])[0] if tools else {}
            name = first.get("name", "get_weather")
            params = first.get("parameters") or first.get("input_schema")
            args = (
                f.sample(params)
                if isinstance(params, dict) and params.get("properties")
                else {"city": "Paris"}
            )
            return f.Reply(None, name, args, prompt)
        scripted = self._next_scripted()
        if scripted is not None:
            return f.Reply(scripted, prompt_tokens=prompt)
        if schema is not None or json_mode:
            return f.Reply(
                json.dumps(f.sample(schema) if schema is not None else {"ok": True}), prompt_tokens=prompt
            )
        last = ""
        for message in messages if isinstance(messages, list) else []:
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content", message.get("parts"))
                if isinstance(content, str):
                    last = content
                elif isinstance(content, list):
                    last = " ".join(
                        str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
                    )
        return f.Reply(f"Hello from the mock. You said: {last[:60]}", prompt_tokens=prompt)

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request) or {}
        model = str(request.match_info.get("deployment") or body.get("model", ""))
        behaviours, failure = await self._gate(request, model)
        if failure is not None:
            return failure
        tools = [t.get("function", {}) for t in body.get("tools") or []]
        response_format = body.get("response_format") or {}
        schema = (
            (response_format.get("json_schema") or {}).get("schema")
            if response_format.get("type") == "json_schema"
            else None
        )
        reply = self._reply(
            body.get("messages"), tools, behaviours, schema, response_format.get("type") == "json_object"
        )
        n = int(body.get("n") or 1)
        if not body.get("stream"):
            return web.json_response(f.openai_completion(model, reply, n))
        if "endless" in behaviours:
            return await self._endless(request, model)
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = [f"data: {json.dumps(c)}\n\n".encode() for c in f.openai_chunks(model, reply, include, n)]
        if "stream-error" in behaviours:
            frames.insert(
                len(frames) // 2,
                b'data: {"error": {"message": "mock stream error", "type": "server_error"}}\n\n',
            )
        return await self._stream(request, [*frames, b"data: [DONE]\n\n"], behaviours)

    async def _openai_responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request) or {}
        model = str(body.get("model", ""))
        behaviours, failure = await self._gate(request, model)
        if failure is not None:
            return failure
        if body.get("previous_response_id"):  # as OpenAI with nothing stored under that id
            return self._error("openai", 400, "Previous response with id not found.")
        schema, json_mode = r.schema_of(body)
        reply = self._reply(r.as_messages(body), r.tools_of(body), behaviours, schema, json_mode)
        if not body.get("stream"):
            return web.json_response(r.response_object(model, reply, body))
        events = r.response_events(model, reply, body)
        if "stream-error" in behaviours:
            events.insert(
                len(events) // 2, {"type": "error", "code": "server_error", "message": "mock error"}
            )
        frames = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
        return await self._stream(request, frames, behaviours)

    async def _openai_embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request) or {}
        model = str(request.match_info.get("deployment") or body.get("model", ""))
        _behaviours, failure = await self._gate(request, model)
        if failure is not None:
            return failure
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(i) for i in inputs or []]
        dims = int(body.get("dimensions") or 8)
        data = [
            {"object": "embedding", "index": i, "embedding": f.vector(t, dims)} for i, t in enumerate(texts)
        ]
        tokens = self.usage[0] if self.usage is not None else sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})

    async def _models(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        _behaviours, failure = await self._gate(request, "")
        if failure is not None:
            return failure
        provider = self._provider(request)
        if provider == "gemini":
            return web.json_response({"models": [{"name": "models/gemini-2.0-flash"}]})
        if provider == "anthropic":
            return web.json_response(
                {"data": [{"type": "model", "id": "claude-sonnet-4-5"}], "has_more": False}
            )
        return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})

    # --- Anthropic ---

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request) or {}
        model = str(body.get("model", ""))
        behaviours, failure = await self._gate(request, model)
        if failure is not None:
            return failure
        if not body.get("max_tokens"):
            return self._error("anthropic", 400, "max_tokens: Field required")
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {}
        scripted = self._next_scripted() if choice.get("type") == "tool" else None
        if scripted is not None:
            try:
                value = json.loads(scripted)
            except ValueError:
                value = None
            words = max(1, f.count_words(body.get("messages")))
            if isinstance(value, dict):
                reply = f.Reply(None, choice.get("name"), value, words)
            else:
                reply = f.Reply(scripted, prompt_tokens=words)
        elif choice.get("type") == "tool":
            forced = next((t for t in tools if t.get("name") == choice.get("name")), {})
            reply = f.Reply(
                None,
                forced.get("name"),
                f.sample(forced.get("input_schema")),
                max(1, f.count_words(body.get("messages"))),
            )
        else:
            reply = self._reply(body.get("messages"), tools, behaviours)
        reply = self._counted(reply)
        if not body.get("stream"):
            return web.json_response(f.anthropic_message(model, reply))
        events = f.anthropic_events(model, reply)
        if "stream-error" in behaviours:
            events.insert(len(events) // 2, ("error", f.anthropic_error("Overloaded", "overloaded_error")))
        frames = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
        return await self._stream(request, frames, behaviours)

    async def _anthropic_count(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request) or {}
        _behaviours, failure = await self._gate(request, str(body.get("model", "")))
        if failure is not None:
            return failure
        if "max_tokens" in body:
            return self._error("anthropic", 400, "max_tokens: Extra inputs are not permitted")
        words = f.count_words(body.get("messages")) + f.count_words(body.get("system") or "")
        return web.json_response({"input_tokens": words + 7})  # 7: what the mock says the framing costs

    # --- Gemini ---

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request) or {}
        model, _, method = request.match_info["target"].partition(":")
        behaviours, failure = await self._gate(request, model)
        if failure is not None:
            return failure
        if method == "embedContent":
            text = " ".join(p.get("text", "") for p in body.get("content", {}).get("parts", []))
            return web.json_response(
                {"embedding": {"values": f.vector(text, int(body.get("outputDimensionality") or 8))}}
            )
        if method == "batchEmbedContents":
            vectors = [
                {
                    "values": f.vector(
                        " ".join(p.get("text", "") for p in r["content"]["parts"]),
                        int(r.get("outputDimensionality") or 8),
                    )
                }
                for r in body.get("requests", [])
            ]
            return web.json_response({"embeddings": vectors})
        config = body.get("generationConfig") or {}
        declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
        json_mode = config.get("responseMimeType") == "application/json"
        reply = self._reply(
            body.get("contents"), declarations, behaviours, config.get("responseSchema"), json_mode
        )
        if method == "generateContent":
            return web.json_response(f.gemini_response(model, reply, int(config.get("candidateCount") or 1)))
        if method != "streamGenerateContent":
            return self._error("gemini", 404, f"unknown method {method}")
        events = f.gemini_stream(model, reply)
        if request.query.get("alt") != "sse":
            return web.json_response(events)
        frames = [f"data: {json.dumps(event)}\r\n\r\n".encode() for event in events]
        return await self._stream(request, frames, behaviours)
