"""Fuzz the management API against its own OpenAPI schema (schemathesis): no 5xx, answers conform."""

import datetime
import json
import secrets

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from oauth2_provider.models import get_access_token_model, get_application_model
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from audit.models import RequestLog
from gateways.http.models import ApiEndpoint
from projects.models import Membership, Role

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
TALLY: dict[str, int] = {"cases": 0, "failures": 0}  # reported at the end of the module (run with -s)


def served_schema() -> dict:
    """The schema /manage/api/v1/schema/ serves, generated from code (no database, so at import)."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


schema = schemathesis.openapi.from_dict(served_schema())
schema.app = WSGIHandler()
schema.config.generation.update(max_examples=25)


@pytest.fixture
def in_test_transaction(db):
    """Keep the WSGI stack's requests inside the test's transaction.

    Django's test client does the same: otherwise request_finished closes the connection (its
    autocommit is off inside the test transaction) and the test's data is lost.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(in_test_transaction, admin_user, make_project, make_user, make_token):
    """A superuser's bearer token and something to find behind every path parameter."""
    application = get_application_model().objects.create(
        name="fuzzer",
        user=admin_user,
        client_type="confidential",
        authorization_grant_type="client-credentials",
    )
    access = get_access_token_model().objects.create(
        application=application,
        user=admin_user,
        token=secrets.token_urlsafe(30),
        expires=timezone.now() + datetime.timedelta(hours=1),
        scope="manage",
    )
    project = make_project("Fuzzed project")
    token, _ = make_token(project)
    member = Membership.objects.create(user=make_user("member"), project=project, role=Role.DEVELOPER)
    log = RequestLog.objects.create(
        time=timezone.now(), project_uuid=project.uuid, gateway="http", status=200
    )
    endpoint = ApiEndpoint.objects.create(
        project=project, slug="fuzzed", upstream_url="https://93.184.216.34/"
    )
    return {
        "bearer": access.token,
        "project": project,
        "token": token,
        "member": member,
        "log": log,
        "api_endpoint": endpoint,
    }


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_management_api_survives_fuzzing(case, fuzz_world):
    params = case.path_parameters
    if params is not None:
        # Point path parameters at real objects, so the fuzzer reaches past the 404s.
        if "project_uuid" in params or "uuid" in params:
            params["project_uuid" if "project_uuid" in params else "uuid"] = str(fuzz_world["project"].uuid)
        if "id" in params:
            if "/tokens/" in case.path:
                params["id"] = fuzz_world["token"].pk
            elif "/members/" in case.path:
                params["id"] = fuzz_world["member"].pk
            elif "request-logs" in case.path:
                params["id"] = fuzz_world["log"].pk
        if "slug" in params and "/api-endpoints/" in case.path:
            params["slug"] = fuzz_world["api_endpoint"].slug
    response = case.call(headers={"Authorization": f"Bearer {fuzz_world['bearer']}"})
    TALLY["cases"] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except Exception:
        TALLY["failures"] += 1
        raise


@pytest.fixture(scope="module", autouse=True)
def _report_tally():
    yield
    print(f"schemathesis: {TALLY['cases']} cases, {TALLY['failures']} failures")
