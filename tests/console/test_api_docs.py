"""Swagger UI at /manage/api/v1/docs/ renders its operations with the network cut off (no CDN)."""

from __future__ import annotations


def test_swagger_ui_renders_offline(console_page, offline, page_errors, shoot):
    page = console_page
    page.goto("/manage/api/v1/docs/")
    # Swagger UI draws one block per operation once its script has loaded and fetched the schema.
    page.locator(".opblock").first.wait_for(state="visible")
    assert page.locator(".opblock").count() > 20
    assert page.locator(".opblock-summary-path", has_text="/manage/api/v1/projects/").count() >= 1
    shoot(page, "swagger-ui")
    assert offline == []
    assert page_errors == []
