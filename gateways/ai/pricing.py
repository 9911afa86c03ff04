"""Prices per model (USD per 1M tokens): the shipped table (prices.json) under admin overrides; cost of a call."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from gateways.ai.models import PriceOverride
from gateways.ai.providers.base import Usage

PRICES_FILE = Path(__file__).with_name("prices.json")
MILLION = Decimal(1_000_000)
NANO = Decimal(1_000_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    input: Decimal  # USD per 1M prompt tokens
    output: Decimal  # USD per 1M completion tokens

    def cost(self, usage: Usage) -> Decimal:
        return (self.input * usage.prompt_tokens + self.output * usage.completion_tokens) / MILLION

    def nanos(self, prompt_tokens: int, completion_tokens: int) -> int:
        """Cost in nano-USD, rounded up: what budgets count in (integers stay exact in Redis and SQL)."""
        cost = (self.input * prompt_tokens + self.output * completion_tokens) / MILLION
        return int((cost * NANO).to_integral_value(rounding="ROUND_CEILING"))


FREE = Price(Decimal(0), Decimal(0))
PriceTable = Mapping[str, Price]


def _parse(raw: Mapping[str, Any]) -> dict[str, Price]:
    return {
        key: Price(Decimal(str(value["input"])), Decimal(str(value.get("output", 0))))
        for key, value in raw.items()
        if not key.startswith("_")
    }


@lru_cache(maxsize=1)
def shipped() -> dict[str, Price]:
    return _parse(json.loads(PRICES_FILE.read_text()))


def load_overrides() -> dict[str, Price]:
    """Admin overrides keyed like the table (`provider:model`, or the bare model for any provider)."""

    return {
        (f"{row.provider}:{row.model}" if row.provider else row.model): Price(
            row.input_per_million, row.output_per_million
        )
        for row in PriceOverride.objects.all()
    }


def _lookup(table: PriceTable, provider: str, model: str) -> Price | None:
    for key in (f"{provider}:{model}", model, f"{provider}:*"):
        if key in table:
            return table[key]
    # Dated or suffixed variants (gpt-4o-mini-2024-07-18) take the longest listed prefix.
    best: tuple[int, Price] | None = None
    for key, price in table.items():
        bare = key.split(":", 1)[1] if key.startswith(f"{provider}:") else (None if ":" in key else key)
        if bare and bare != "*" and model.startswith(bare) and (best is None or len(bare) > best[0]):
            best = (len(bare), price)
    return best[1] if best else None


def price_for(provider: str, model: str, overrides: PriceTable | None = None) -> Price:
    """Overrides first, then the shipped table; unknown models cost nothing (and say so in the log)."""
    if overrides:
        found = _lookup(overrides, provider, model)
        if found is not None:
            return found
    return _lookup(shipped(), provider, model) or FREE
