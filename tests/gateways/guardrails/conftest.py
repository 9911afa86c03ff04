"""Fixtures of the guardrail tests: the management API clients (shared with tests/projects/api)."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from audit import context
from tests.mock_llm import KEYS, MockLLM
from tests.projects.api.conftest import client_for, root_client  # noqa: F401  (shared fixtures)
from tests.servers import GatewayProcess, running_gateway


@pytest.fixture(scope="module")
def gateway(django_db_setup, django_db_blocker) -> Iterator[GatewayProcess]:
    with running_gateway(PROMPTGATE_AI_ATTEMPT_TIMEOUT="10") as proc:
        yield proc


def add_rule(project=None, **fields: Any):
    """Save a rule as the API would (validated), as the system actor."""
    from gateways.guardrails.models import GuardrailRule
    from gateways.guardrails.services import save_rule

    with context.bind(actor=context.SYSTEM):
        return save_rule(GuardrailRule(project=project), fields)


def add_falcon_rule(project, action: str = "block", **fields: Any):
    """The keyword rule most tests share: `words`, matching "falcon" (stage and endpoint as given)."""
    return add_rule(
        project, name="words", kind="keywords", action=action, config={"words": ["falcon"]}, **fields
    )


@dataclass
class AIWorld:
    project: Any
    token: str
    mock: MockLLM

    def sdk(self, gateway: GatewayProcess) -> openai.OpenAI:
        gateway.sync_config()
        return openai.OpenAI(
            base_url=gateway.url(f"/api/{self.project.uuid}/v1"),
            api_key=self.token,
            max_retries=0,
            timeout=20,
        )


@pytest.fixture
def ai_world(transactional_db, make_project, make_token, mock_llm) -> AIWorld:
    from credentials.models import Credential, ProviderAssignment

    project = make_project("Guarded AI", project_type="ai_gateway")
    _, token = make_token(project, scopes=["ai", "mcp"])
    with context.bind(actor=context.SYSTEM):
        credential = Credential.objects.create(
            provider="openai", name="mock", api_key=KEYS["openai"], base_url=mock_llm.base_url("openai")
        )
        ProviderAssignment.objects.create(project=project, provider="openai", credential=credential)
    return AIWorld(project, token, mock_llm)


@pytest.fixture
def two_providers(ai_world) -> AIWorld:
    """`ai_world` with the mock LLM assigned as its `anthropic` provider too."""
    from credentials.models import Credential, ProviderAssignment

    with context.bind(actor=context.SYSTEM):
        credential = Credential.objects.create(
            provider="anthropic",
            name="mock-anthropic",
            api_key=KEYS["anthropic"],
            base_url=ai_world.mock.base_url("anthropic"),
        )
        ProviderAssignment.objects.create(
            project=ai_world.project, provider="anthropic", credential=credential
        )
    return ai_world
