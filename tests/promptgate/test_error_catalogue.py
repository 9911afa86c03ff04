"""The error-code catalogue (promptgate.errors.ErrorCode): each code once, named by its value, used by callers.

Django's handlers and the management API (DRF) answer codes from it; the data plane's modules are held to
the catalogue by the source check (no bare `code="..."`), as every other module is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.test import Client

from promptgate.errors import ErrorCode, PromptGateError

BASE = Path(__file__).resolve().parents[2]
APPS = ("audit", "console", "credentials", "gateways", "projects", "promptgate", "webhooks")
# The transport clients stay free of Django (the bench drives them bare): their codes are checked below.
FREE_OF_DJANGO = BASE / "gateways" / "common" / "transport"


def test_each_code_is_in_the_catalogue_once_and_named_by_its_value() -> None:
    values = [member.value for member in ErrorCode]
    assert len(values) == len(set(values))
    for member in ErrorCode:
        assert member.name == member.value.upper()
        assert str(member) == member.value == f"{member}"  # what the wire carries


def _code_literals(path: Path) -> list[tuple[int, str]]:
    """`code="..."` and `error_code="..."` keywords given a bare string, in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg in ("code", "error_code") and isinstance(value, ast.Constant):
                    if isinstance(value.value, str):
                        found.append((node.lineno, value.value))
    return found


def test_callers_name_codes_from_the_catalogue() -> None:
    bare = []
    for app in APPS:
        for path in sorted((BASE / app).rglob("*.py")):
            if "migrations" in path.parts or path.is_relative_to(FREE_OF_DJANGO):
                continue
            bare += [f"{path.relative_to(BASE)}:{line} {code}" for line, code in _code_literals(path)]
    assert bare == []


def test_the_transport_codes_are_in_the_catalogue() -> None:
    from gateways.common.transport import upstream_errors

    for klass in vars(upstream_errors).values():
        if isinstance(klass, type) and issubclass(klass, upstream_errors.UpstreamError):
            assert klass.code in set(ErrorCode)


def test_promptgate_error_defaults_to_a_catalogue_code() -> None:
    assert PromptGateError("x").code == ErrorCode.BAD_REQUEST


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("get", "/no-such-page/", {}, 404, ErrorCode.NOT_FOUND),  # Django's handler404
        ("get", "/manage/api/v1/projects/", {}, 401, ErrorCode.NOT_AUTHENTICATED),  # DRF
    ],
)
def test_each_surface_answers_a_catalogue_code(
    method: str, path: str, headers: dict[str, str], status: int, code: ErrorCode
) -> None:
    response = getattr(Client(), method)(path, **headers)
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["code"] in set(ErrorCode)
