"""Issue 9 §2's scenarios and the request each side (direct, bare proxy, PromptGate, LiteLLM) is sent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bench import guardrails, litellm, portkey
from bench.load.result import Target
from bench.stack import probe

PROMPT = [{"role": "user", "content": "Say hello to the benchmark in twenty short tokens."}]
MCP_HEADERS = (("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"))
MCP_VERSION = "2025-06-18"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    kind: str  # "http" | "chat" | "stream" | "mcp" | "ai": which upstream and which load runner
    sides: tuple[str, ...]


# "bare-proxy": bench/mocks/bare_proxy.py, forwarding with no logic (the ceiling of any proxy here).
SCENARIOS = [
    Scenario("http_get", "HTTP proxy GET (small JSON)", "http", ("direct", "bare-proxy", "promptgate")),
    Scenario("http_post_1k", "HTTP proxy POST 1 KB", "http", ("direct", "bare-proxy", "promptgate")),
    Scenario("http_post_1m", "HTTP proxy POST 1 MB", "http", ("direct", "promptgate")),
    Scenario(
        "chat",
        "Chat completion, non-stream",
        "chat",
        ("direct", "bare-proxy", "promptgate", "litellm", "portkey"),
    ),
    Scenario(
        "chat_stream",
        "Chat completion, SSE stream (20 chunks)",
        "stream",
        ("direct", "bare-proxy", "promptgate", "litellm", "portkey"),
    ),
    # OpenAI's Responses API, natively to the mock's /v1/responses; stored (the default), so each call
    # also writes its response to Redis or the database for previous_response_id.
    Scenario(
        "responses", "Responses API, non-stream (OpenAI native, stored)", "chat", ("direct", "promptgate")
    ),
    # Anthropic's Messages API for an OpenAI model: translated to the chat completion `direct` makes.
    Scenario("messages", "Messages API, non-stream (translated to chat)", "chat", ("direct", "promptgate")),
    Scenario("mcp_call", "MCP tools/call", "mcp", ("direct", "promptgate")),
    # Direct: the same one chat completion the endpoint's run makes against the mock.
    Scenario(
        "ai_endpoint",
        "AI endpoint run (POST /api/{uuid}/ai/{slug}, non-stream)",
        "ai",
        ("direct", "promptgate"),
    ),
]
# Guardrails (issue 16): the same chat with a 1 KB and a 32 KB prompt, without and with the default rules.
SCENARIOS += [
    Scenario("chat_1k", "Chat, 1 KB prompt, no guardrails", "chat", ("promptgate",)),
    Scenario(
        "chat_guard_1k",
        "Chat, 1 KB prompt, default guardrails (pii + secrets + 10 regex + 500 keywords, in and out)",
        "chat",
        ("promptgate",),
    ),
    Scenario("chat_32k", "Chat, 32 KB prompt, no guardrails", "chat", ("promptgate", "litellm")),
    Scenario(
        "chat_guard_32k",
        "Chat, 32 KB prompt, default guardrails (pii + secrets + 10 regex + 500 keywords, in and out)",
        "chat",
        ("promptgate",),
    ),
]
GUARDRAIL_SCENARIOS = {"chat_1k": "1k", "chat_guard_1k": "1k", "chat_32k": "32k", "chat_guard_32k": "32k"}
BY_NAME = {s.name: s for s in SCENARIOS}
# Repeated in every configuration: the numbers most of the targets hang on.
KEY_SCENARIOS = ("http_get", "chat")


@dataclass
class Context:
    """Where everything listens, and what the seed created for this gateway configuration."""

    mocks: dict[str, int]
    gateway_port: int | None = None
    seed: dict[str, Any] = field(default_factory=dict)
    litellm_port: int | None = None
    portkey_port: int | None = None
    bare_port: int | None = None


class Unavailable(Exception):
    """This side of the scenario cannot run yet (a gateway not landed): reported, never fatal."""


def _bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


def _http(scenario: Scenario, base: str, auth: tuple[tuple[str, str], ...]) -> Target:
    if scenario.name == "http_get":
        return Target(f"{base}small", headers=auth)
    size = 1024 if scenario.name == "http_post_1k" else 1024 * 1024
    headers = (*auth, ("Content-Type", "application/octet-stream"))
    return Target(f"{base}echo", method="POST", body=b"x" * size, headers=headers)


def chat_body(model: str, stream: bool, scenario: str = "chat") -> bytes:
    if scenario in GUARDRAIL_SCENARIOS:
        return guardrails.chat_body(model, GUARDRAIL_SCENARIOS[scenario])
    body: dict[str, Any] = {"model": model, "messages": PROMPT, "max_tokens": 64}
    if stream:
        body.update({"stream": True, "stream_options": {"include_usage": True}})
    return json.dumps(body).encode()


def responses_body(model: str) -> bytes:
    return json.dumps({"model": model, "input": PROMPT[0]["content"], "max_output_tokens": 64}).encode()


def messages_body(model: str) -> bytes:
    return json.dumps({"model": model, "messages": PROMPT, "max_tokens": 64}).encode()


def _ai_apis(scenario: Scenario, side: str, ctx: Context) -> Target:
    """The Responses and Messages scenarios: direct to the mock, or through PromptGate's AI gateway."""
    json_header = ("Content-Type", "application/json")
    if side == "direct":
        mock = f"http://127.0.0.1:{ctx.mocks['llm']}/v1"
        if scenario.name == "responses":
            return Target(f"{mock}/responses", "POST", responses_body("bench-model"), (json_header,))
        return Target(f"{mock}/chat/completions", "POST", chat_body("bench-model", False), (json_header,))
    seed = _seeded(ctx, "ai")
    base = f"http://127.0.0.1:{ctx.gateway_port}/api/{seed['uuid']}/v1"
    if scenario.name == "responses":
        headers: tuple[tuple[str, str], ...] = (json_header, _bearer(seed["token"]))
        return check(
            Target(f"{base}/responses", "POST", responses_body("openai:bench-model"), headers), b"tok19"
        )
    headers = (json_header, ("x-api-key", seed["token"]), ("anthropic-version", "2023-06-01"))
    return check(Target(f"{base}/messages", "POST", messages_body("openai:bench-model"), headers), b"tok19")


def _seeded(ctx: Context, gateway: str) -> dict[str, Any]:
    seed = ctx.seed.get(gateway) or {"unavailable": "not seeded"}
    if "unavailable" in seed:
        raise Unavailable(f"not available yet: {seed['unavailable']}")
    return seed


def check(target: Target, expect: bytes) -> Target:
    """One request first: a gateway route that is not there yet answers 404, not a benchmark."""
    status, body, _headers = probe(target.url, target.body or None, dict(target.headers))
    if status != 200 or expect not in body:
        raise Unavailable(f"not available yet: HTTP {status} {body[:160].decode(errors='replace')}")
    return target


def _mcp_gateway(base: str, token: str) -> Target:
    """Initialize a session through the gateway and find the mock's echo tool under its namespaced name."""
    headers = dict((*MCP_HEADERS, _bearer(token)))
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": MCP_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    status, raw, answer_headers = probe(base, json.dumps(init).encode(), headers)
    if status != 200:
        raise Unavailable(f"not available yet: initialize answered HTTP {status} {raw[:160]!r}")
    headers["MCP-Protocol-Version"] = MCP_VERSION
    if "mcp-session-id" in answer_headers:
        headers["Mcp-Session-Id"] = answer_headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    probe(base, json.dumps(initialized).encode(), headers)
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    status, raw, _ = probe(base, json.dumps(listing).encode(), headers)
    try:
        tools = [t["name"] for t in json.loads(_sse_or_json(raw))["result"]["tools"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise Unavailable(f"not available yet: tools/list answered HTTP {status} {raw[:160]!r}") from exc
    echo = next((name for name in tools if name.endswith("echo")), None)
    if echo is None:
        raise Unavailable(f"no echo tool among {tools}")
    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": echo, "arguments": {"text": "hi"}},
    }
    return check(Target(base, "POST", json.dumps(call).encode(), tuple(headers.items())), b'"hi"')


def _sse_or_json(raw: bytes) -> bytes:
    """The JSON-RPC message of an answer sent as application/json or as one SSE event."""
    for line in raw.splitlines():
        if line.startswith(b"data:"):
            return line[5:].strip()
    return raw


def target(scenario: Scenario, side: str, ctx: Context) -> Target:
    """The request to fire for this scenario on this side; Unavailable when that side cannot run it."""
    m = ctx.mocks
    gw = f"http://127.0.0.1:{ctx.gateway_port}/api"
    bare = f"http://127.0.0.1:{ctx.bare_port}"
    if side == "bare-proxy" and ctx.bare_port is None:
        raise Unavailable("the bare proxy is not running")
    if scenario.name in ("responses", "messages"):
        return _ai_apis(scenario, side, ctx)
    if scenario.kind == "http":
        if side == "direct":
            return _http(scenario, f"http://127.0.0.1:{m['http']}/", ())
        if side == "bare-proxy":
            return check(_http(scenario, f"{bare}/http/", ()), b"")
        seed = _seeded(ctx, "http")
        return check(_http(scenario, f"{gw}/{seed['uuid']}/proxy/up/", (_bearer(seed["token"]),)), b"")
    if scenario.kind in ("chat", "stream"):
        stream = scenario.kind == "stream"
        expect = b"data:" if stream else b"tok19"
        json_header = ("Content-Type", "application/json")
        if side == "direct":
            url = f"http://127.0.0.1:{m['llm']}/v1/chat/completions"
            return Target(url, "POST", chat_body("bench-model", stream), (json_header,))
        if side == "bare-proxy":
            url = f"{bare}/llm/v1/chat/completions"
            return check(Target(url, "POST", chat_body("bench-model", stream), (json_header,)), expect)
        if side == "litellm":
            if ctx.litellm_port is None:
                raise Unavailable("LiteLLM not running")
            url = f"http://127.0.0.1:{ctx.litellm_port}/v1/chat/completions"
            headers: tuple[tuple[str, str], ...] = (json_header, _bearer(litellm.MASTER_KEY))
            body = chat_body(litellm.MODEL, stream, scenario.name)
            return check(Target(url, "POST", body, headers), expect)
        if side == "portkey":
            if ctx.portkey_port is None:
                raise Unavailable("Portkey not running")
            url = f"http://127.0.0.1:{ctx.portkey_port}/v1/chat/completions"
            headers = (json_header, *portkey.headers(m["llm"]))
            body = chat_body(portkey.MODEL, stream, scenario.name)
            return check(Target(url, "POST", body, headers), expect)
        seed = _seeded(ctx, "ai_guarded" if scenario.name.startswith("chat_guard") else "ai")
        url = f"{gw}/{seed['uuid']}/v1/chat/completions"
        headers = (json_header, _bearer(seed["token"]))
        body = chat_body("openai:bench-model", stream, scenario.name)
        return check(Target(url, "POST", body, headers), expect)
    if scenario.kind == "ai":
        if side == "direct":
            url = f"http://127.0.0.1:{m['llm']}/v1/chat/completions"
            return Target(
                url, "POST", chat_body("bench-model", False), (("Content-Type", "application/json"),)
            )
        seed = _seeded(ctx, "ai_endpoint")
        body = json.dumps({"variables": {"name": "the benchmark"}}).encode()
        headers = (("Content-Type", "application/json"), _bearer(seed["token"]))
        return check(Target(f"{gw}/{seed['uuid']}/ai/{seed['slug']}", "POST", body, headers), b"tok19")
    if scenario.kind == "mcp":
        call = {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hi"}},
        }
        if side == "direct":
            return Target(f"http://127.0.0.1:{m['mcp']}/mcp", "POST", json.dumps(call).encode(), MCP_HEADERS)
        seed = _seeded(ctx, "mcp")
        return _mcp_gateway(f"{gw}/{seed['uuid']}/mcp", seed["token"])
    raise ValueError(f"unknown scenario kind {scenario.kind}")
