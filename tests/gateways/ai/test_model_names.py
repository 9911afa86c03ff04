"""Model names as clients send them: bare names resolve to the assigned provider that serves them."""

from __future__ import annotations

import openai
import pytest

from audit import context

pytestmark = pytest.mark.django_db(transaction=True)
HI = [{"role": "user", "content": "hi"}]


def _save_project(world, **fields) -> None:
    for name, value in fields.items():
        setattr(world.project, name, value)
    with context.bind(actor=context.SYSTEM):
        world.project.save()


def test_bare_names_reach_the_provider_that_lists_them(world, gateway_proc, mock_llm):
    client = world.sdk(gateway_proc)
    for name in ("gpt-4o", "gpt-3.5-turbo", "gpt-4o-2024-08-06"):  # LangChain's default; a dated variant
        raw = client.chat.completions.with_raw_response.create(model=name, messages=HI)
        assert raw.headers["x-promptgate-provider"] == "openai"
        assert mock_llm.requests[-1].body["model"] == name
    world.alias("gpt-4o", "openai:gpt-4o-mini")  # an alias of the project wins over the catalogue
    world.sdk(gateway_proc).chat.completions.create(model="gpt-4o", messages=HI)
    assert mock_llm.requests[-1].body["model"] == "gpt-4o-mini"


def test_unknown_bare_name_lists_what_the_project_offers(world, gateway_proc):
    world.alias("fast", "openai:gpt-4o-mini")
    with pytest.raises(openai.NotFoundError) as caught:
        world.sdk(gateway_proc).chat.completions.create(model="my-local-model", messages=HI)
    error = caught.value.response.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert "It offers: fast, openai:gpt-4o-mini" in error["message"] and "gpt-4o" in error["message"]


def test_default_provider_decides_between_several_and_takes_unlisted_names(world, gateway_proc, mock_llm):
    from gateways.ai.models import PriceOverride

    world.assign("anthropic", mock_llm.base_url("anthropic"))
    with context.bind(actor=context.SYSTEM):  # anthropic now "lists" gpt-4o too
        PriceOverride.objects.create(provider="anthropic", model="gpt-4o", input_per_million=1)
    with pytest.raises(openai.BadRequestError) as caught:
        world.sdk(gateway_proc).chat.completions.create(model="gpt-4o", messages=HI)
    error = caught.value.response.json()["error"]
    assert error["code"] == "model_ambiguous" and "anthropic, openai" in error["message"]
    assert "default_ai_provider" in error["message"]
    _save_project(world, default_ai_provider="openai")
    client = world.sdk(gateway_proc)
    assert (
        client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI).headers[
            "x-promptgate-provider"
        ]
        == "openai"
    )
    client.chat.completions.create(model="llama3:8b", messages=HI)  # no catalogue lists it: the default
    assert mock_llm.requests[-1].body["model"] == "llama3:8b"


def test_models_list_the_assigned_providers_catalogue(world, gateway_proc):
    world.alias("fast", "openai:gpt-4o-mini")
    client = world.sdk(gateway_proc)
    owners = {m.id: m.owned_by for m in client.models.list()}
    assert owners["fast"] == "promptgate"
    assert owners["openai:gpt-4o"] == owners["gpt-4o"] == owners["text-embedding-3-small"] == "openai"
    assert not any(mid.startswith(("anthropic:", "gemini:", "claude")) for mid in owners)  # not assigned
    retrieved = client.models.retrieve("gpt-4o-2024-08-06")  # callable though not listed
    assert (retrieved.id, retrieved.owned_by) == ("gpt-4o-2024-08-06", "openai")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("claude-sonnet-4-5")
