"""Issue 17, point 9: issuing a management API access token at /o/token/ writes an audit row."""

import base64

import pytest
from rest_framework.test import APIClient

from audit.models import AuditLog
from tests.projects.api.test_oauth import create_client

pytestmark = pytest.mark.django_db


def test_an_issued_access_token_is_audited_without_the_token(make_user):
    make_user("automation-owner")
    credentials = create_client("deployer", "automation-owner")
    basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode()).decode()
    response = APIClient().post(
        "/o/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
        HTTP_X_REQUEST_ID="issue-17-token-req",
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 200
    access_token = response.json()["access_token"]
    row = AuditLog.objects.get(action="oauth.access_token_issued")
    assert (row.actor_type, row.actor_id, row.actor_label) == (
        "api_client",
        credentials["client_id"],
        "deployer",
    )
    assert row.extra["client_id"] == credentials["client_id"] and row.extra["user"] == "automation-owner"
    assert row.extra["scope"] == "manage" and row.extra["expires"]
    assert row.request_id == "issue-17-token-req" and row.ip == "192.0.2.10"
    dumped = str(row.__dict__)
    assert access_token not in dumped and credentials["client_secret"] not in dumped


def test_a_refused_token_request_issues_nothing_and_audits_no_issue(make_user):
    make_user("automation-owner")
    credentials = create_client("deployer", "automation-owner")
    basic = base64.b64encode(f"{credentials['client_id']}:wrong".encode()).decode()
    response = APIClient().post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 401
    assert not AuditLog.objects.filter(action="oauth.access_token_issued").exists()
