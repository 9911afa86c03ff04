"""Fixtures of the AI endpoint tests: the mock LLM, AI projects with the mock assigned, endpoints, processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from audit import context
from tests.gateways.common.conftest import amake_project, amake_token, gateway, gateway_app  # noqa: F401
from tests.mock_llm import KEYS, MockLLM
from tests.projects.api.conftest import client_for  # noqa: F401  (shared fixture)
from tests.servers import GatewayProcess, running_gateways

SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["title", "score"],
    "additionalProperties": False,
}


@pytest.fixture(autouse=True)
def _loopback_upstreams(settings) -> None:
    """The mock LLM listens on 127.0.0.1, which the SSRF guard refuses unless allowed."""
    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8"]


@dataclass
class AIProject:
    project: Any
    token: str
    mock: MockLLM

    @property
    def uuid(self) -> str:
        return str(self.project.uuid)

    def path(self, slug: str) -> str:
        return f"/api/{self.uuid}/ai/{slug}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def assign(self, provider: str) -> None:
        from credentials.models import Credential, ProviderAssignment

        with context.bind(actor=context.SYSTEM):
            credential = Credential.objects.create(
                provider=provider,
                name=f"{provider}-{self.uuid[:8]}",
                api_key=KEYS[provider],
                base_url=self.mock.base_url(provider),
            )
            ProviderAssignment.objects.update_or_create(
                project=self.project, provider=provider, defaults={"credential": credential}
            )

    def endpoint(self, slug: str = "summarise", **fields: Any) -> Any:
        from gateways.ai.models import AIEndpoint

        values: dict[str, Any] = {
            "chain": [{"provider": "openai", "model": "gpt-4o-mini"}],
            "system_prompt": "You summarise {{ topic }} texts.",
            "user_prompt": "Summarise: {{ text }}",
            "variables": [
                {"name": "topic", "type": "string", "required": False, "default": "general"},
                {"name": "text", "type": "string", "required": True, "description": "The text"},
            ],
            **fields,
        }
        row = AIEndpoint(project=self.project, slug=slug, **values)
        row.full_clean()
        with context.bind(actor=context.SYSTEM):
            row.save()
        return row


def make_ai_project(make_project, make_token, mock: MockLLM, project_type: str = "ai_gateway") -> AIProject:
    project = make_project(f"AI {project_type}", project_type=project_type)
    _, token = make_token(project, scopes=["ai", "mcp"])
    world = AIProject(project, token, mock)
    world.assign("openai")
    return world


@pytest.fixture
def ai(transactional_db, make_project, make_token, mock_llm) -> AIProject:
    return make_ai_project(make_project, make_token, mock_llm)


def chats(mock: MockLLM) -> list[Any]:
    return [r for r in mock.requests if r.method == "POST" and r.path != "/v1/embeddings"]


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.fixture(scope="module")
def procs(django_db_setup, django_db_blocker) -> Iterator[list[GatewayProcess]]:
    """Two gateway processes on the test database (and Redis when configured)."""
    with running_gateways(2, PROMPTGATE_AI_ATTEMPT_TIMEOUT="10") as processes:
        yield processes


def post(proc: GatewayProcess, world: AIProject, slug: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(proc.url(world.path(slug)), json=body, headers=world.auth, timeout=30)
