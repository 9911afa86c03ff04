"""Logging in to the console in a real browser: the login form, the landing page, and a wrong password."""

from __future__ import annotations

from tests.console.conftest import CONSOLE_PASSWORD


def test_login_lands_on_the_console(anon_page, console_user, shoot):
    page = anon_page
    page.goto("/admin/")
    assert "/admin/login/" in page.url
    shoot(page, "login")
    page.fill("input[name=username]", console_user.username)
    page.fill("input[name=password]", CONSOLE_PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("#user-tools").inner_text().upper().startswith("WELCOME")
    shoot(page, "home")


def test_a_wrong_password_stays_on_the_login_form(anon_page, console_user):
    page = anon_page
    page.goto("/admin/login/")
    page.fill("input[name=username]", console_user.username)
    page.fill("input[name=password]", "not-the-password")
    page.click("input[type=submit], button[type=submit]")
    page.locator(".errornote").wait_for(state="visible")  # the answered form, not the one submitted
    assert "/admin/login/" in page.url


def test_a_logged_in_page_opens_the_console(console_page, shoot):
    console_page.goto("/admin/")
    assert console_page.locator("#user-tools").is_visible()
    shoot(console_page, "index")
