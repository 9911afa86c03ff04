"""The models each provider serves, as far as the gateway knows: the shipped price table and the admin's
price overrides (`provider:model` keys). Bare model names resolve through it (see routing.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateways.ai import pricing
from gateways.ai.models import PriceOverride

Catalogue = Mapping[str, tuple[str, ...]]  # provider → the model names it lists


def build(keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """provider → models from `provider:model` keys; wildcards (`ollama:*`) and bare keys list nothing."""
    found: dict[str, set[str]] = {}
    for key in keys:
        provider, sep, model = key.partition(":")
        if sep and model and model != "*":
            found.setdefault(provider, set()).add(model)
    return {provider: tuple(sorted(models)) for provider, models in found.items()}


def load() -> dict[str, tuple[str, ...]]:
    overrides = (
        f"{provider}:{model}"
        for provider, model in PriceOverride.objects.exclude(provider="").values_list("provider", "model")
    )
    return build([*pricing.shipped(), *overrides])


def serves(models: Iterable[str], name: str) -> bool:
    """True when `name` is a listed model or a dated/suffixed variant of one (gpt-4o-2024-08-06)."""
    return any(name == model or name.startswith(f"{model}-") for model in models)
