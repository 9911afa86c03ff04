"""Every provider adapter by name, and the helpers the gateway and the admin resolve them with."""

from __future__ import annotations

from collections.abc import Mapping

from gateways.ai.providers.anthropic import AnthropicAdapter
from gateways.ai.providers.azure import AzureOpenAIAdapter
from gateways.ai.providers.base import ProviderAdapter, Target
from gateways.ai.providers.gemini import GeminiAdapter
from gateways.ai.providers.openai import OpenAIAdapter
from gateways.ai.providers.openai_compatible import COMPATIBLE

_ALL: tuple[ProviderAdapter, ...] = (
    OpenAIAdapter(),
    AzureOpenAIAdapter(),
    AnthropicAdapter(),
    GeminiAdapter(),
    *COMPATIBLE,
)
ADAPTERS: dict[str, ProviderAdapter] = {adapter.name: adapter for adapter in _ALL}

LABELS = {
    "openai": "OpenAI",
    "azure": "Azure OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Google Gemini",
    "mistral": "Mistral",
    "groq": "Groq",
    "deepseek": "DeepSeek",
    "together": "Together AI",
    "openrouter": "OpenRouter",
    "ollama": "Ollama",
    "vllm": "vLLM",
    "openai_compatible": "Other OpenAI-compatible server",
}
PROVIDER_CHOICES: list[tuple[str, str]] = [(name, LABELS.get(name, name)) for name in ADAPTERS]


class UnknownProvider(KeyError):
    pass


def provider_names() -> list[str]:
    return list(ADAPTERS)


def get_adapter(provider: str) -> ProviderAdapter:
    try:
        return ADAPTERS[provider]
    except KeyError:
        raise UnknownProvider(provider) from None


def requires_base_url(provider: str) -> bool:
    """Providers without a public default (Azure resources, generic servers) need the credential's URL."""
    return not get_adapter(provider).default_base_url


def make_target(
    provider: str,
    model: str,
    api_key: str,
    base_url: str = "",
    options: Mapping[str, object] | None = None,
) -> Target:
    """A Target with the adapter's default base URL filled in and options as strings."""
    adapter = get_adapter(provider)
    clean = {str(k): str(v) for k, v in (options or {}).items() if v is not None}
    return Target(provider, model, api_key, (base_url or adapter.default_base_url).rstrip("/"), clean)


def split_model(reference: str) -> tuple[str, str] | None:
    """`provider:model` → (provider, model) when provider is known; None for aliases and template names.

    Only the first colon splits: model names may hold colons (Ollama's `llama3:8b`).
    """
    provider, sep, model = reference.partition(":")
    if not sep or not model or provider not in ADAPTERS:
        return None
    return provider, model
