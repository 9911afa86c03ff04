"""The AI endpoint runner: variables → prompt → chain (failover, budgets, usage) → answer, schema, session.

One runner serves the public route (/api/{uuid}/ai/{slug}), the MCP bridge and the admin playground.
It reuses the AI gateway's pieces unchanged: routing (chain → candidates), failover (attempts and
logs), budgets (reserve, then settle with the actual cost), pricing, and the provider adapters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateways.ai import budgets, config, failover, pricing, routing, sessions, structured, templating
from gateways.ai.config import EndpointConfig
from gateways.ai.errors import OpenAIError
from gateways.ai.providers.base import JSON, AdapterError, UpstreamRequest, Usage, usage_of
from gateways.ai.routing import Candidate
from gateways.common.router import GatewayRequest
from promptgate.errors import ErrorCode, PromptGateError

COST_PLACES = Decimal("0.00000001")  # RequestLog.cost has 8 decimal places


@dataclass
class Prepared:
    """A call ready to go: rendered prompts, the messages to send, the chain, the held session."""

    endpoint: EndpointConfig
    system: str
    user: str
    messages: list[dict[str, Any]]
    chain: list[Candidate]
    prices: pricing.PriceTable
    reservation: budgets.Reservation
    held: sessions.HeldSession | None = None
    session_id: str | None = None
    started: float = field(default_factory=time.perf_counter)
    finished: bool = False

    async def abandon(self) -> None:
        """Nothing was served: give the budget back and release the session unchanged."""
        if self.finished:
            return
        self.finished = True
        try:
            await self.reservation.settle(0, 0)
        finally:
            if self.held is not None:
                await self.held.release()


@dataclass
class RunResult:
    output: str
    usage: Usage
    cost: Decimal
    provider: str
    model: str
    parsed: Any = None
    has_parsed: bool = False
    repaired: bool = False
    session_id: str | None = None

    def body(self) -> dict[str, Any]:
        """The public answer (no model name: an ai_wrapper hides it; no prompt: it is the product's)."""
        data: dict[str, Any] = {"output": self.output}
        if self.has_parsed:
            data["parsed"] = self.parsed
        data["usage"] = usage_body(self.usage)
        data["cost"] = float(self.cost)
        if self.session_id is not None:
            data["session_id"] = self.session_id
        data["provider"] = self.provider
        return data


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


# --- preparation -------------------------------------------------------------------------------------
def render(endpoint: EndpointConfig, variables: Any) -> tuple[str, str]:
    """(system, user) prompts for these variables; 400 listing bad variables, 413 past the size limit."""
    values = config.check_variables(endpoint, variables)
    system = templating.render(endpoint.system_prompt, values)
    user = templating.render(endpoint.user_prompt, values)
    limit = config.max_prompt_chars()
    if len(system) + len(user) > limit:
        raise PromptGateError(
            f"The rendered prompt is longer than {limit} characters",
            code=ErrorCode.PROMPT_TOO_LARGE,
            status=413,
        )
    return system, user


async def resolve_chain(greq: GatewayRequest, endpoint: EndpointConfig) -> list[Candidate]:
    """Every usable step of the endpoint's chain, in order (an alias step expands to its own chain)."""
    glob, proj = await routing.configs(greq)
    chain: list[Candidate] = []
    first: OpenAIError | None = None
    for reference in endpoint.chain:
        try:
            steps = routing.resolve(reference, glob, proj)
        except OpenAIError as exc:
            first = first or exc
            continue
        chain += [c for c in steps if all(c.label != seen.label for seen in chain)]
    if not chain:
        # The model names stay private (an ai_wrapper hides them): only the reason is told.
        reason = first.code if first is not None else ErrorCode.MODEL_NOT_FOUND
        raise PromptGateError(
            f"No provider of this endpoint is available ({reason})",
            code=ErrorCode.ENDPOINT_UNAVAILABLE,
            status=503,
        )
    return chain


def _session_id(endpoint: EndpointConfig, requested: Any) -> str | None:
    if not endpoint.sessions_enabled:
        if requested is not None:
            raise PromptGateError(
                "Sessions are off for this endpoint",
                code=ErrorCode.VALIDATION_ERROR,
                fields={"session_id": ["Sessions are off for this endpoint."]},
            )
        return None
    return sessions.check_session_id(requested) if requested is not None else sessions.new_session_id()


async def _admit(
    greq: GatewayRequest, endpoint: EndpointConfig, chain: list[Candidate], body: JSON, prices: Any
) -> budgets.Reservation:
    """The endpoint's own rate and daily budget, admitted in the same call as the project's and token's."""
    own = budgets.LimitSet(
        daily_nanos=endpoint.daily_budget_nanos,
        monthly_nanos=None,
        requests_per_minute=endpoint.rate_limit_per_minute,
        tokens_per_minute=None,
    )
    extra = (
        [("endpoint", f"e{endpoint.id}", own)]
        if own.daily_nanos is not None or own.requests_per_minute
        else []
    )
    prompt, completion = budgets.estimate_tokens(body)
    if endpoint.output_schema is not None:
        completion *= 2  # room for the one repair attempt
    worst = max(
        pricing.price_for(c.target.provider, c.target.model, prices).nanos(prompt, completion) for c in chain
    )
    return await budgets.admit(greq, worst, prompt + completion, extra=extra)


async def prepare(
    greq: GatewayRequest,
    endpoint: EndpointConfig,
    variables: Any,
    session_id: Any = None,
    *,
    use_session: bool = True,
) -> Prepared:
    """Validate and render, resolve the chain, admit against limits and budgets, take the session."""
    greq.log["endpoint"] = endpoint.slug
    system, user = render(endpoint, variables)
    key = _session_id(endpoint, session_id) if use_session else None
    chain = await resolve_chain(greq, endpoint)
    prices = await greq.runtime.config.get(("ai-prices",), pricing.load_overrides)
    base = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    reservation = await _admit(greq, endpoint, chain, {"messages": base, **endpoint.parameters}, prices)
    prepared = Prepared(endpoint, system, user, base, chain, prices, reservation, session_id=key)
    if key is not None:
        try:
            prepared.held = await sessions.acquire(
                endpoint.id, key, endpoint.ttl_seconds, endpoint.history_limit
            )
        except BaseException:
            await reservation.settle(0, 0)
            raise
        history = _fit(prepared.held.messages, len(system) + len(user))
        prepared.messages = base[:-1] + history + base[-1:]
    return prepared


def _fit(history: list[dict[str, Any]], used: int) -> list[dict[str, Any]]:
    """The most recent turns that fit in the prompt size limit beside this call's prompts."""
    limit = config.max_prompt_chars()
    while history and used + sum(len(str(m.get("content", ""))) for m in history) > limit:
        history = sessions.trim(history[1:], len(history))
    return history


def build_for(prepared: Prepared, messages: list[dict[str, Any]], *, stream: bool) -> Any:
    endpoint = prepared.endpoint

    def build(candidate: Candidate) -> UpstreamRequest:
        body: JSON = {**endpoint.parameters, "messages": messages, "model": candidate.target.model}
        if endpoint.output_schema is not None:
            body = structured.apply(body, candidate.target.provider, endpoint.output_schema)
        return candidate.adapter.chat_request(
            candidate.target, {**candidate.parameters, **body}, stream=stream
        )

    return build


def answer_text(candidate: Candidate, data: JSON) -> tuple[str, Usage]:
    """The provider's answer in OpenAI's shape → (text, usage)."""
    try:
        result = candidate.adapter.chat_response(candidate.target, data)
        message = result["choices"][0]["message"]
    except AdapterError as exc:
        raise failover.provider_error(exc.error) from exc
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PromptGateError(
            "upstream sent an invalid response", code=ErrorCode.UPSTREAM_ERROR, status=502
        ) from exc
    content = message.get("content")
    if not isinstance(content, str):
        content = "" if content is None else str(content)
    return content, usage_of(result)


def add(a: Usage, b: Usage) -> Usage:
    return Usage(a.prompt_tokens + b.prompt_tokens, a.completion_tokens + b.completion_tokens)


async def repair(prepared: Prepared, output: str, checked: structured.Checked, greq: GatewayRequest) -> Any:
    """The one repair call: (candidate, text, usage, checked)."""
    assert prepared.endpoint.output_schema is not None
    messages = structured.repair_messages(prepared.messages, output, checked, prepared.endpoint.output_schema)
    candidate, data = await failover.call_json(
        greq, prepared.chain, build_for(prepared, messages, stream=False)
    )
    text, usage = answer_text(candidate, data)
    return candidate, text, usage, structured.check(text, prepared.endpoint.output_schema)


def schema_violation(checked: structured.Checked) -> PromptGateError:
    return PromptGateError(
        "The answer did not match the output schema, even after one repair attempt",
        code=ErrorCode.SCHEMA_VIOLATION,
        status=502,
        fields={"output": list(checked.errors)},
    )


async def finish(
    greq: GatewayRequest, prepared: Prepared, candidate: Candidate, output: str, usage: Usage
) -> Decimal:
    """Log, settle the budget and save the session turn: the call was served."""
    prepared.finished = True
    price = pricing.price_for(candidate.target.provider, candidate.target.model, prepared.prices)
    cost = price.cost(usage).quantize(COST_PLACES)
    greq.log.update(
        {
            "provider": candidate.target.provider,
            "model": candidate.target.model[:120],
            "tokens_in": usage.prompt_tokens,
            "tokens_out": usage.completion_tokens,
            "cost": cost,
        }
    )
    try:
        await prepared.reservation.settle(
            price.nanos(usage.prompt_tokens, usage.completion_tokens), usage.total_tokens
        )
    finally:
        if prepared.held is not None:
            await prepared.held.save(
                [{"role": "user", "content": prepared.user}, {"role": "assistant", "content": output}]
            )
    return cost


async def run(greq: GatewayRequest, prepared: Prepared) -> RunResult:
    """A non-streamed run, schema checked and repaired once."""
    schema = prepared.endpoint.output_schema
    usage = Usage()
    candidate: Candidate | None = None
    try:
        candidate, data = await failover.call_json(
            greq, prepared.chain, build_for(prepared, prepared.messages, stream=False)
        )
        output, usage = answer_text(candidate, data)
        checked, repaired = None, False
        if schema is not None:
            checked = structured.check(output, schema)
            if not checked.ok:
                candidate, output, more, checked = await repair(prepared, output, checked, greq)
                usage, repaired = add(usage, more), True
    except BaseException:
        if candidate is not None and usage.total_tokens:  # the first answer was paid for
            await settle_unserved(greq, prepared, candidate, usage)
        else:
            await prepared.abandon()
        raise
    if checked is not None and not checked.ok:
        await settle_unserved(greq, prepared, candidate, usage)
        raise schema_violation(checked)
    return await served(greq, prepared, candidate, output, usage, checked, repaired)


async def served(
    greq: GatewayRequest,
    prepared: Prepared,
    candidate: Candidate,
    output: str,
    usage: Usage,
    checked: structured.Checked | None,
    repaired: bool,
) -> RunResult:
    """Finish a served call (streamed or not) and build what it answers."""
    cost = await finish(greq, prepared, candidate, output, usage)
    return RunResult(
        output=output,
        usage=usage,
        cost=cost,
        provider=candidate.target.provider,
        model=candidate.target.model,
        parsed=checked.parsed if checked is not None else None,
        has_parsed=checked is not None,
        repaired=repaired,
        session_id=prepared.session_id,
    )


async def settle_unserved(
    greq: GatewayRequest, prepared: Prepared, candidate: Candidate, usage: Usage
) -> None:
    """Tokens were used but nothing is served: bill them, keep the session as it was."""
    held, prepared.held = prepared.held, None
    try:
        await finish(greq, prepared, candidate, "", usage)
    finally:
        if held is not None:
            await held.release()
