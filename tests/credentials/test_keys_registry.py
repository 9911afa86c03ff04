"""Key formats per provider, the registry, and the masked key hint."""

import pytest

from credentials.providers import key_hint
from gateways.ai.providers.registry import (
    UnknownProvider,
    get_adapter,
    make_target,
    provider_names,
    requires_base_url,
    split_model,
)

VALID = {
    "openai": ["sk-" + "a" * 48, "sk-proj-" + "Ab1_-" * 20],
    "azure": ["0123456789abcdef" * 2, "A1" * 42],
    "anthropic": ["sk-ant-api03-" + "x" * 80],
    "gemini": ["AIza" + "B" * 35],
    "groq": ["gsk_" + "c" * 52],
    "mistral": ["d" * 32],
    "deepseek": ["sk-" + "e" * 32],
    "together": ["f" * 64, "tgp_v1_" + "g" * 40],
    "openrouter": ["sk-or-v1-" + "h" * 64],
    "ollama": ["", "anything-goes"],
    "vllm": ["", "token"],
    "openai_compatible": ["", "x"],
}
INVALID = {
    "openai": ["", "sk-short", "pk-" + "a" * 48, "sk-" + "a" * 40 + " "],
    "azure": ["", "short", "g" * 20 + "!" * 12],
    "anthropic": ["sk-" + "a" * 48, "sk-ant-"],
    "gemini": ["AIza" + "B" * 20, "sk-" + "a" * 48],
    "groq": ["sk-" + "a" * 48],
    "mistral": ["d" * 31, "sk-" + "d" * 32],
    "deepseek": ["deep"],
    "together": ["short"],
    "openrouter": ["sk-" + "a" * 48],
    "ollama": ["has space", "new\nline"],
    "vllm": ["tab\there"],
    "openai_compatible": ["x" * 501],
}


def test_every_provider_has_cases():
    assert set(VALID) == set(INVALID) == set(provider_names())


@pytest.mark.parametrize("provider", sorted(VALID))
def test_key_formats(provider):
    adapter = get_adapter(provider)
    assert all(adapter.validate_api_key(key) for key in VALID[provider])
    assert not any(adapter.validate_api_key(key) for key in INVALID[provider])


def test_registry_helpers():
    with pytest.raises(UnknownProvider):
        get_adapter("nope")
    assert (
        requires_base_url("azure")
        and requires_base_url("openai_compatible")
        and not requires_base_url("openai")
    )
    assert split_model("openai:gpt-4o") == ("openai", "gpt-4o")
    assert split_model("ollama:llama3:8b") == ("ollama", "llama3:8b")
    assert split_model("fast") is None and split_model("unknown:x") is None and split_model("openai:") is None
    t = make_target("openai", "m", "k", "", {"n": 1, "skip": None})
    assert t.base_url == "https://api.openai.com/v1" and dict(t.options) == {"n": "1"}


def test_key_hint_masks():
    assert key_hint("sk-proj-abcdefghijklmnopa1b2") == "sk-…a1b2"
    assert key_hint("sk-ant-api03-zzzzzzzzzzzzzzz9f8e") == "sk-ant-…9f8e"
    assert key_hint("AIza" + "B" * 31 + "wxyz") == "AIza…wxyz"
    assert key_hint("0123456789abcdef0123456789abcdef") == "…cdef"
    assert key_hint("short") == "…" and key_hint("") == ""
