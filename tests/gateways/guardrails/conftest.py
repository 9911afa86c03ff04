"""Fixtures of the guardrail tests: the management API clients (shared with tests/projects/api)."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from audit import context
from tests.mock_llm import KEYS, MockLLM
from tests.projects.api.conftest import client_for, root_client  # noqa: F401  (shared fixtures)
from tests.servers import GatewayProcess


@pytest.fixture(scope="session")
def mock_llm() -> Iterator[MockLLM]:
    with MockLLM() as mock:
        yield mock


@pytest.fixture(autouse=True)
def _mock_reset(request: pytest.FixtureRequest) -> None:
    if "mock_llm" in request.fixturenames:
        request.getfixturevalue("mock_llm").reset()


@pytest.fixture(scope="module")
def gateway(django_db_setup, django_db_blocker) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(PROMPTGATE_AI_ATTEMPT_TIMEOUT="10").start()
    yield proc
    proc.stop()
    proc.cleanup()


def add_rule(project=None, **fields: Any):
    """Save a rule as the API would (validated), as the system actor."""
    from gateways.guardrails.models import GuardrailRule
    from gateways.guardrails.services import save_rule

    with context.bind(actor=context.SYSTEM):
        return save_rule(GuardrailRule(project=project), fields)


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


def log_rows(project, count: int = 1, timeout: float = 5.0) -> list[Any]:
    """RequestLog rows of the project once the batched writer flushed at least `count` (polled)."""
    from audit.models import RequestLog

    deadline = time.monotonic() + timeout
    while True:
        rows = list(RequestLog.objects.filter(project_uuid=project.uuid).order_by("id"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
