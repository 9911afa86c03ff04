"""Issuing a token in the browser: the plaintext is shown once, and reloading the page issues nothing."""

from __future__ import annotations

import re

from django.urls import reverse

PLAINTEXT = re.compile(r"pg_(?:live|test)_[0-9A-Za-z]{30,}")


def test_issue_a_token_then_reload(console_page, make_project, page_errors, shoot):
    from projects.models import ApiToken

    project = make_project("Browser tokens", project_type="api_gateway")
    page = console_page
    page.goto(reverse("admin:projects_project_issue_token", args=[project.pk]))
    assert page.locator("input[name=scopes][value=proxy]").is_checked()  # preselected for the type
    page.fill("input[name=name]", "from-the-browser")
    page.click("input[type=submit][value='Issue token']")
    plaintext = page.locator("#pg-plaintext").inner_text().strip()
    assert PLAINTEXT.fullmatch(plaintext)
    shoot(page, "issued")
    page.reload()  # a GET (the POST answered with a redirect): no form resubmission, no second token
    assert page.locator("#pg-plaintext").count() == 0
    assert "Token already shown" in page.content() and plaintext not in page.content()
    shoot(page, "reloaded")
    assert ApiToken.objects.filter(project=project).count() == 1
    assert page_errors == []
