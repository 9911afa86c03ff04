"""Fixtures of the AI gateway tests: the mock LLM, real gateway processes, and an ai_gateway project."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from django.conf import settings

from audit import context
from tests.mock_llm import KEYS
from tests.servers import GatewayProcess, running_gateway, running_gateways

API_KEY = "sk-" + "m" * 40


USAGE = (10, 20)  # the prompt and completion tokens every answer of `mock_llm` reports


@pytest.fixture(autouse=True)
def _mock_usage(request, _mock_llm_reset) -> None:
    """These tests count on `USAGE` from every answer of the mock LLM (tests/conftest.py's `mock_llm`)."""
    if "mock_llm" in request.fixturenames:
        request.getfixturevalue("mock_llm").usage = USAGE


@pytest.fixture(scope="module")
def gateway_proc(django_db_setup, django_db_blocker) -> Iterator[GatewayProcess]:
    with running_gateway(PROMPTGATE_AI_ATTEMPT_TIMEOUT="5") as proc:
        yield proc


@pytest.fixture(scope="module")
def gateway_pair(django_db_setup, django_db_blocker) -> Iterator[list[GatewayProcess]]:
    """Two processes sharing PostgreSQL + Redis; one alone on SQLite without Redis (see the tests)."""
    with running_gateways(2 if settings.REDIS_URL else 1, PROMPTGATE_AI_ATTEMPT_TIMEOUT="5") as procs:
        yield procs


@dataclass
class World:
    project: Any
    token: str
    credential: Any
    token_row: Any = None
    clients: list[openai.OpenAI] = field(default_factory=list)  # closed after the test

    @property
    def uuid(self) -> str:
        return str(self.project.uuid)

    def sdk(self, gateway: GatewayProcess, token: str | None = None) -> openai.OpenAI:
        """The official client against `gateway`, once that process has seen every config change so far."""
        gateway.sync_config()
        client = openai.OpenAI(
            base_url=gateway.url(f"/api/{self.uuid}/v1"),
            api_key=token or self.token,
            max_retries=0,
            timeout=20,
        )
        self.clients.append(client)
        return client

    def alias(self, alias: str, target: str) -> None:
        from gateways.ai.models import ModelAlias

        with context.bind(actor=context.SYSTEM):
            ModelAlias.objects.create(project=self.project, alias=alias, target=target)

    def assign(self, provider: str, base_url: str, **options: str) -> Any:
        from credentials.models import Credential, ProviderAssignment

        with context.bind(actor=context.SYSTEM):
            credential = Credential.objects.create(
                provider=provider,
                name=f"{provider}-{Credential.objects.count()}",
                api_key=KEYS.get(provider, API_KEY),  # the key the mock LLM expects of that provider
                base_url=base_url,
                options=options,
            )
            ProviderAssignment.objects.update_or_create(
                project=self.project, provider=provider, defaults={"credential": credential}
            )
        return credential


@pytest.fixture
def world(transactional_db, make_project, make_token, mock_llm) -> Iterator[World]:
    """An ai_gateway project with an `ai` token and the mock LLM assigned as its `openai` provider."""
    project = make_project("AI project", project_type="ai_gateway")
    token_row, plaintext = make_token(project, scopes=["ai"])
    world = World(project, plaintext, None)
    world.token_row = token_row
    world.credential = world.assign("openai", mock_llm.base_url("openai"))
    yield world
    for client in world.clients:  # closed now, not whenever the collector finds them (ResourceWarning)
        client.close()


@pytest.fixture
def providers(world, mock_llm):
    """`world` with anthropic and gemini assigned too (openai already is), all on the mock LLM, which
    counts tokens from the words here rather than answering `USAGE`."""
    for provider in ("anthropic", "gemini"):
        world.assign(provider, mock_llm.base_url(provider))
    mock_llm.usage = None
    return world
