"""Providers that speak OpenAI's API at their own base URL: Mistral, Groq, DeepSeek, Together, OpenRouter,
Ollama, vLLM, and a generic one for any other such server."""

from __future__ import annotations

import re

from gateways.ai.providers.openai import OpenAIAdapter


class OpenAICompatibleAdapter(OpenAIAdapter):
    """OpenAI's adapter with another name, default base URL, key format and stream-usage support."""

    responses_native = False  # few of these servers have /responses: the gateway translates to chat

    def __init__(
        self,
        name: str,
        default_base_url: str,
        key_pattern: str | None,
        *,
        stream_usage_option: bool = True,
        token_ids_input: bool = False,
    ) -> None:
        self.name = name
        self.default_base_url = default_base_url
        self.key_pattern = re.compile(key_pattern) if key_pattern else None
        # Without the option these servers still send usage on the last chunk; some refuse unknown fields.
        self.stream_usage_option = stream_usage_option
        # Token-id embeddings input: vLLM and unknown servers get it as sent (they say if they cannot);
        # the hosted ones and Ollama take text only, so the gateway refuses it up front, naming them.
        self.token_ids_input = token_ids_input


COMPATIBLE: tuple[OpenAICompatibleAdapter, ...] = (
    OpenAICompatibleAdapter(
        "mistral", "https://api.mistral.ai/v1", r"[A-Za-z0-9]{32}", stream_usage_option=False
    ),
    OpenAICompatibleAdapter("groq", "https://api.groq.com/openai/v1", r"gsk_[A-Za-z0-9]{20,100}"),
    OpenAICompatibleAdapter("deepseek", "https://api.deepseek.com/v1", r"sk-[A-Za-z0-9]{20,100}"),
    OpenAICompatibleAdapter(
        "together",
        "https://api.together.xyz/v1",
        r"(tgp_v1_[A-Za-z0-9_\-]{20,100}|[a-f0-9]{64})",
        stream_usage_option=False,
    ),
    OpenAICompatibleAdapter("openrouter", "https://openrouter.ai/api/v1", r"sk-or-(v1-)?[A-Za-z0-9]{20,100}"),
    OpenAICompatibleAdapter("ollama", "http://localhost:11434/v1", None),
    OpenAICompatibleAdapter("vllm", "http://localhost:8000/v1", None, token_ids_input=True),
    # Any other OpenAI-compatible server (LM Studio, LocalAI, a company proxy): the base URL is required.
    OpenAICompatibleAdapter("openai_compatible", "", None, token_ids_input=True),
)
