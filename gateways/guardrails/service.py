"""What gateways call: the engine of a (project, endpoint) from the config cache, and checks of JSON values.

    engine = await engine_for(cache, project_id, endpoint_key)   # compiled once per config version
    verdict = await check_payload(cache, project_id, "github", "input", arguments)

`check_payload` is the API for the MCP gateway (tools/call arguments and results, prompts/get results,
with the MCP server prefix as the endpoint key): it walks every string of any JSON value, redacts in
place (the rewritten value is also `verdict.value`, for a bare string) and raises GuardrailBlocked
(`.jsonrpc_error()` gives the JSON-RPC error, `data.code == "guardrail_blocked"`) when a rule refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateways.common.config import ConfigCache
from gateways.guardrails.engine import EMPTY, Engine
from gateways.guardrails.resolution import resolve_guardrails
from gateways.guardrails.verdicts import GuardrailBlocked, Verdict

MAX_DEPTH = 64


def load_engine(project_id: int | None, endpoint: str) -> Engine:
    rules = resolve_guardrails(project_id, endpoint)
    return Engine(rules) if rules else EMPTY


async def engine_for(cache: ConfigCache, project_id: int | None, endpoint: str = "") -> Engine:
    """The compiled engine; a warm call is one dict lookup (the cache drops it when the version moves)."""
    return await cache.get(("guardrails", project_id, endpoint), lambda: load_engine(project_id, endpoint))


def scan_value(engine: Engine, stage: str, value: Any) -> Verdict:
    """Scan every string of `value`; redactions are written in place; `verdict.value` is the result."""
    if not engine.active(stage):
        return Verdict(stage, value=value)
    texts, setters, holder = json_strings(value)
    new, verdict = engine.scan(stage, texts)
    for old, replacement, setter in zip(texts, new, setters, strict=True):
        if replacement is not old:
            setter(replacement)
    verdict.value = holder[0]
    return verdict


def json_strings(value: Any) -> tuple[list[str], list[Callable[[str], None]], list[Any]]:
    """Every string of a JSON value (depth-bounded) with a setter each; `holder[0]` is the value."""
    texts: list[str] = []
    setters: list[Callable[[str], None]] = []
    holder = [value]

    def setter(container: Any, key: Any) -> Callable[[str], None]:
        def put(new: str) -> None:
            container[key] = new

        return put

    stack: list[tuple[Any, Any, int]] = [(holder, 0, 0)]
    while stack:
        container, key, depth = stack.pop()
        item = container[key]
        if isinstance(item, str):
            texts.append(item)
            setters.append(setter(container, key))
        elif depth < MAX_DEPTH and isinstance(item, dict):
            stack.extend((item, k, depth + 1) for k in reversed(list(item)))
        elif depth < MAX_DEPTH and isinstance(item, list):
            stack.extend((item, i, depth + 1) for i in reversed(range(len(item))))
    return texts, setters, holder


async def check_payload(
    cache: ConfigCache, project_id: int, endpoint_key: str, stage: str, value: Any
) -> Verdict:
    """Check a JSON value for the MCP gateway (see the module docstring); raises GuardrailBlocked.

    `stage` is "input" (tools/call arguments) or "output" (tools/call results, prompts/get results).
    The caller logs the verdict with `verdicts.record(greq.log, verdict)` (also done for a refusal:
    the exception's `.verdict`).
    """
    engine = await engine_for(cache, project_id, endpoint_key)
    verdict = scan_value(engine, stage, value)
    if verdict.refused:
        raise verdict.exception(400 if stage == "input" else 502)
    return verdict


__all__ = ["GuardrailBlocked", "Verdict", "check_payload", "engine_for", "scan_value"]
