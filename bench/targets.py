"""Issue 9's targets, judged from one run's rows: pass, fail, or not measured (and why)."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.measure import Row

ONE_WORKER = ("sqlite-1w", "pg-1w")
LATENCY_SCENARIOS = ("http_get", "http_post_1k", "chat", "mcp_call")


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    result: str  # "PASS" | "FAIL" | "not measured"


def _median(rows: list[Row], scenario: str, side: str, config: str, conns: int) -> Row | None:
    hits = [
        r for r in rows if (r.scenario, r.side, r.config, r.connections) == (scenario, side, config, conns)
    ]
    hits = [r for r in hits if r.load is not None or r.stream is not None]
    if not hits:
        return None
    hits.sort(key=lambda r: r.rps)
    return hits[(len(hits) - 1) // 2]


def _judge(target: str, parts: list[tuple[str, float, bool]], fmt: Callable[[float], str]) -> Verdict:
    if not parts:
        return Verdict(target, "\N{EN DASH}", "not measured")
    measured = "; ".join(f"{label}: {fmt(value)}" for label, value, _ok in parts)
    return Verdict(target, measured, "PASS" if all(ok for _l, _v, ok in parts) else "FAIL")


def _chat_ratios(rows: list[Row]) -> list[Verdict]:
    vs_litellm: list[tuple[str, float, bool]] = []
    vs_direct: list[tuple[str, float, bool]] = []
    vs_portkey: list[tuple[str, float, bool]] = []
    direct = _median(rows, "chat", "direct", "mock", 32)
    peer = _median(rows, "chat", "litellm", "litellm-1w", 32)
    second = _median(rows, "chat", "portkey", "portkey-1w", 32)
    for config in ONE_WORKER:
        ours = _median(rows, "chat", "promptgate", config, 32)
        if ours is None:
            continue
        if peer is not None and peer.rps:
            ratio = ours.rps / peer.rps
            vs_litellm.append((f"{config} {ours.rps:,.0f} vs {peer.rps:,.0f} RPS", ratio, ratio >= 15))
        if second is not None and second.rps:
            ratio = ours.rps / second.rps
            vs_portkey.append((f"{config} {ours.rps:,.0f} vs {second.rps:,.0f} RPS", ratio, ratio >= 1))
        if direct is not None and direct.rps:
            share = ours.rps / direct.rps
            vs_direct.append(
                (f"{config} {ours.rps:,.0f} vs {direct.rps:,.0f} RPS", share * 100, share >= 0.3)
            )
    return [
        _judge("chat non-stream, 1 worker, 32 conns: ≥ 15x LiteLLM RPS", vs_litellm, lambda v: f"{v:.1f}x"),
        _judge("chat non-stream, 1 worker, 32 conns: ≥ 30% of direct RPS", vs_direct, lambda v: f"{v:.0f}%"),
        # Issue 16's second peer; no target was set for it beyond "not slower than Portkey's node gateway".
        _judge(
            "chat non-stream, 1 worker, 32 conns: at least Portkey's RPS", vs_portkey, lambda v: f"{v:.1f}x"
        ),
        _ceiling(rows, "chat", "chat non-stream"),
    ]


def _ceiling(rows: list[Row], scenario: str, title: str) -> Verdict:
    """Context, not a target: what a zero-logic proxy reaches here, and how much of that PromptGate does."""
    name = f"context, {title} at 32 conns: bare proxy as % of direct, PromptGate as % of bare (same workers)"
    direct = _median(rows, scenario, "direct", "mock", 32)
    bare = {
        r.config: _median(rows, scenario, "bare-proxy", r.config, 32)
        for r in rows
        if (r.scenario, r.side, r.connections) == (scenario, "bare-proxy", 32)
    }
    parts = []
    for config, row in bare.items():
        if row is None:
            continue
        share = (
            f" = {row.rps / direct.rps:.0%} of direct ({direct.rps:,.0f})" if direct and direct.rps else ""
        )
        parts.append(f"{config} {row.rps:,.0f} RPS{share}, CPU {_cpu(row.cpu_ms_per_req)} ms/req")
    configs = dict.fromkeys(
        r.config for r in rows if (r.scenario, r.side, r.connections) == (scenario, "promptgate", 32)
    )
    for config in configs:
        ours = _median(rows, scenario, "promptgate", config, 32)
        ceiling = bare.get(f"bare-{config.rsplit('-', 1)[-1]}")
        if ours is None or ceiling is None or not ceiling.rps:
            continue
        cpu = f"{_cpu(ours.cpu_ms_per_req)} ms/req"
        if ours.cpu_ms_per_req and ceiling.cpu_ms_per_req:
            cpu += f" ({ours.cpu_ms_per_req / ceiling.cpu_ms_per_req:.1f}x the bare proxy's)"
        parts.append(
            f"{config} {ours.rps:,.0f} RPS = {ours.rps / ceiling.rps:.0%} of {ceiling.config}, CPU {cpu}"
        )
    return Verdict(name, "; ".join(parts) or "\N{EN DASH}", "context" if parts else "not measured")


def _cpu(value: float | None) -> str:
    return "\N{EN DASH}" if value is None else f"{value:.3f}"


def _added_latency(rows: list[Row], pct: str, limit: float) -> list[Verdict]:
    verdicts = []
    for scenario in LATENCY_SCENARIOS:
        direct = _median(rows, scenario, "direct", "mock", 1)
        parts = []
        for config in (*ONE_WORKER, "pg-2w"):
            ours = _median(rows, scenario, "promptgate", config, 1)
            if ours is None or ours.load is None or direct is None or direct.load is None:
                continue
            added = (getattr(ours.load, pct) or 0) - (getattr(direct.load, pct) or 0)
            parts.append((config, added, added < limit))
        name = f"{scenario}: added {pct.removesuffix('_ms')} at 1 conn < {limit:g} ms"
        verdicts.append(_judge(name, parts, lambda v: f"{v:+.2f} ms"))
    return verdicts


def _scaling(rows: list[Row]) -> list[Verdict]:
    verdicts = []
    for scenario in ("http_get", "chat"):
        one = _median(rows, scenario, "promptgate", "pg-1w", 32)
        two = _median(rows, scenario, "promptgate", "pg-2w", 32)
        parts = []
        if one is not None and two is not None and one.rps:
            ratio = two.rps / one.rps
            parts.append((f"{two.rps:,.0f} / {one.rps:,.0f} RPS", ratio, ratio >= 1.6))
        verdicts.append(
            _judge(f"{scenario}: PG+Redis 2 workers ≥ 1.6x 1 worker", parts, lambda v: f"{v:.2f}x")
        )
        verdicts.append(_scaling_context(rows, scenario, one, two))
    return verdicts


def _scaling_context(rows: list[Row], scenario: str, one: Row | None, two: Row | None) -> Verdict:
    """How busy the whole machine was, and how the zero-logic proxy scaled: a second worker needs idle cores."""
    bits = []
    for label, row in (("pg-1w", one), ("pg-2w", two)):
        if row is not None and row.machine_cores_busy is not None:
            bits.append(
                f"{label} run: {row.machine_cores_busy:.2f} of {os.cpu_count()} cores busy{_by_role(row)}"
            )
    bare_one = _median(rows, scenario, "bare-proxy", "bare-1w", 32)
    bare_two = _median(rows, scenario, "bare-proxy", "bare-2w", 32)
    if bare_one is not None and bare_two is not None and bare_one.rps:
        bits.append(f"bare proxy 2 workers / 1 worker: {bare_two.rps / bare_one.rps:.2f}x")
    measured = "; ".join(bits) or "not measured"
    return Verdict(
        f"context, {scenario} scaling: machine cores busy (all processes), bare proxy scaling",
        measured,
        "context",
    )


def _by_role(row: Row) -> str:
    """` (server 1.01, mocks 0.20, ...)`: who had the cores during the run, largest first."""
    if not row.cores:
        return ""
    shares = sorted(row.cores.items(), key=lambda item: -item[1])
    return " (" + ", ".join(f"{role} {value:.2f}" for role, value in shares if value >= 0.005) + ")"


def _stream_ttfb(rows: list[Row]) -> Verdict:
    direct = _median(rows, "chat_stream", "direct", "mock", 1)
    parts = []
    for config in (*ONE_WORKER, "pg-2w"):
        ours = _median(rows, "chat_stream", "promptgate", config, 1)
        if ours is None or ours.stream is None or direct is None or direct.stream is None:
            continue
        added = (ours.stream.ttfb_p50_ms or 0) - (direct.stream.ttfb_p50_ms or 0)
        parts.append((config, added, added < 1.0))
    return _judge("stream: added TTFB (p50, 1 conn) < 1 ms", parts, lambda v: f"{v:+.2f} ms")


GUARDRAIL_PAIR = ("chat_1k", "chat_guard_1k")  # measured in alternating rounds (bench.run: paired)


def _paired_losses(rows: list[Row], config: str) -> list[float]:
    """Per round (the same attempt number of each scenario of GUARDRAIL_PAIR), the RPS lost to the rules."""
    by_attempt: dict[int, dict[str, float]] = {}
    for r in rows:
        if (
            r.side == "promptgate"
            and r.config == config
            and r.connections == 32
            and r.scenario in GUARDRAIL_PAIR
        ):
            if r.load is not None and r.rps:
                by_attempt.setdefault(r.attempt, {})[r.scenario] = r.rps
    plain, guarded = GUARDRAIL_PAIR
    return [(1 - got[guarded] / got[plain]) * 100 for got in by_attempt.values() if len(got) == 2]


def _guardrails(rows: list[Row]) -> list[Verdict]:
    """Issue 16: the 1 KB chat with the default rules within 15% of the same run without them (RPS), and
    the 32 KB chat with the rules at least 10x LiteLLM's RPS on the same 32 KB prompt."""
    small: list[tuple[str, float, bool]] = []
    large: list[tuple[str, float, bool]] = []
    peer = _median(rows, "chat_32k", "litellm", "litellm-1w", 32)
    for config in ONE_WORKER:
        plain, guarded = (_median(rows, n, "promptgate", config, 32) for n in GUARDRAIL_PAIR)
        losses = _paired_losses(rows, config)
        if plain is not None and guarded is not None and losses:
            loss = statistics.median(losses)
            label = (
                f"{config} {guarded.rps:,.0f} vs {plain.rps:,.0f} RPS (median of {len(losses)} paired rounds)"
            )
            small.append((label, loss, loss <= 15))
        ours = _median(rows, "chat_guard_32k", "promptgate", config, 32)
        if ours is not None and peer is not None and peer.rps:
            ratio = ours.rps / peer.rps
            large.append((f"{config} {ours.rps:,.0f} vs {peer.rps:,.0f} RPS", ratio, ratio >= 10))
    return [
        _judge("guardrails, chat 1 KB, 32 conns: RPS within 15% of no rules", small, lambda v: f"-{v:.1f}%"),
        _judge("guardrails, chat 32 KB, 32 conns: ≥ 10x LiteLLM RPS", large, lambda v: f"{v:.1f}x"),
    ]


def judge(rows: list[Row]) -> list[Verdict]:
    return [
        *_chat_ratios(rows),
        *_guardrails(rows),
        _ceiling(rows, "http_get", "HTTP proxy GET"),
        *_added_latency(rows, "p50_ms", 1.0),
        *_added_latency(rows, "p99_ms", 3.0),
        *_scaling(rows),
        _stream_ttfb(rows),
    ]
