"""OpenAI-compatible mock upstream: /v1/chat/completions (JSON and SSE), /v1/models, /v1/embeddings,
/v1/responses (JSON).

Latency and chunking come from the environment (BENCH_LLM_LATENCY_MS before the first byte,
BENCH_LLM_CHUNK_MS between stream chunks, BENCH_LLM_CHUNKS content chunks) or from `make_app(config)`,
so tests can serve it in-process with their own settings.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from bench.mocks.common import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    dumps,
    env_float,
    env_int,
    lifespan,
    read_body,
    send_json,
)

MODELS = ["bench-model", "gpt-4o-mini", "text-embedding-3-small"]
EMBEDDING_DIM = 8


@dataclass(frozen=True)
class LlmConfig:
    latency_ms: float = 0.0  # before the first byte (JSON answer or first SSE chunk)
    chunk_ms: float = 0.0  # between SSE chunks
    chunks: int = 20  # content chunks per streamed answer (and completion tokens)

    @classmethod
    def from_env(cls) -> LlmConfig:
        return cls(
            latency_ms=env_float("BENCH_LLM_LATENCY_MS", 0.0),
            chunk_ms=env_float("BENCH_LLM_CHUNK_MS", 0.0),
            chunks=env_int("BENCH_LLM_CHUNKS", 20),
        )


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _prompt_tokens(body: dict[str, Any]) -> int:
    # A rough 4-characters-a-token count: enough for usage accounting to have something to add up.
    text = "".join(str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict))
    return max(1, len(text) // 4)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(body: dict[str, Any], config: LlmConfig) -> dict[str, Any]:
    content = "".join(f"tok{i} " for i in range(config.chunks)).strip()
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "bench-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(_prompt_tokens(body), config.chunks),
    }


def _response(body: dict[str, Any], config: LlmConfig) -> dict[str, Any]:
    """A Responses API answer with the same text and token counts as the chat completion."""
    text = "".join(f"tok{i} " for i in range(config.chunks)).strip()
    raw = body.get("input")
    prompt = max(1, len(raw if isinstance(raw, str) else json.dumps(raw)) // 4)
    part = {"type": "output_text", "text": text, "annotations": []}
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": body.get("model", "bench-model"),
        "output": [
            {
                "type": "message",
                "id": "msg_bench",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        ],
        "usage": {
            "input_tokens": prompt,
            "output_tokens": config.chunks,
            "total_tokens": prompt + config.chunks,
        },
    }


def _chunk(model: str, created: int, delta: dict[str, Any], finish: str | None) -> bytes:
    payload = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + dumps(payload) + b"\n\n"


async def _stream(send: Send, body: dict[str, Any], config: LlmConfig) -> None:
    model = str(body.get("model", "bench-model"))
    created = int(time.time())
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    first = _chunk(model, created, {"role": "assistant", "content": ""}, None)
    await send({"type": "http.response.body", "body": first, "more_body": True})
    for i in range(config.chunks):
        if config.chunk_ms:
            await asyncio.sleep(config.chunk_ms / 1000)
        piece = _chunk(model, created, {"content": f"tok{i} "}, None)
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    tail = _chunk(model, created, {}, "stop")
    if include_usage:
        usage = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": _usage(_prompt_tokens(body), config.chunks),
        }
        tail += b"data: " + dumps(usage) + b"\n\n"
    await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n", "more_body": False})


async def _embeddings(send: Send, body: dict[str, Any]) -> None:
    raw = body.get("input", "")
    inputs = raw if isinstance(raw, list) else [raw]
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": [round(0.1 * (i + k), 3) for k in range(EMBEDDING_DIM)],
        }
        for i in range(len(inputs))
    ]
    tokens = sum(max(1, len(str(item)) // 4) for item in inputs)
    answer = {
        "object": "list",
        "data": data,
        "model": body.get("model", "text-embedding-3-small"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    await send_json(send, 200, answer)


def make_app(config: LlmConfig) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"].rstrip("/")
        method: str = scope["method"]
        if path.endswith("/v1/models") and method == "GET":
            listing = [{"id": m, "object": "model", "created": 0, "owned_by": "bench"} for m in MODELS]
            await send_json(send, 200, {"object": "list", "data": listing})
            return
        if method != "POST" or not path.endswith(("/v1/chat/completions", "/v1/embeddings", "/v1/responses")):
            await send_json(send, 404, _error(f"No route {method} {path}", "not_found"))
            return
        try:
            body = json.loads(await read_body(receive) or b"{}")
        except ValueError:
            await send_json(send, 400, _error("Body is not JSON", "invalid_json"))
            return
        if not isinstance(body, dict):
            await send_json(send, 400, _error("Body must be a JSON object", "invalid_body"))
        elif path.endswith("/v1/embeddings"):
            await _embeddings(send, body)
        elif path.endswith("/v1/responses"):
            if config.latency_ms:
                await asyncio.sleep(config.latency_ms / 1000)
            await send_json(send, 200, _response(body, config))
        elif body.get("stream"):
            await _stream(send, body, config)
        else:
            if config.latency_ms:
                await asyncio.sleep(config.latency_ms / 1000)
            await send_json(send, 200, _completion(body, config))

    return app


app = make_app(LlmConfig.from_env())
