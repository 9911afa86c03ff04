"""The six OAuth presets (Google, GitHub, Slack, Microsoft, Notion, Discord) and their quirks.

Test and staging installs may point a preset at another host with the setting
`PROMPTGATE_OAUTH_PRESET_OVERRIDES = {"github": "http://127.0.0.1:9000/p/github", ...}`: each of the
preset's URLs keeps its path and is moved under that base. It is a server setting, so only the operator
can use it; API and admin callers never choose a preset's URLs (they are recomputed on every save).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings

CUSTOM = "custom"
AUTH_METHODS = ("client_secret_post", "client_secret_basic")
TENANT_RE = re.compile(r"^[A-Za-z0-9.-]{1,100}$")


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    authorize_url: str
    token_url: str
    revoke_url: str = ""  # "" when the provider offers no revocation
    revoke_style: str = ""  # "rfc7009" | "github" | "slack" | ""
    default_scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    auth_method: str = "client_secret_post"
    token_format: str = "form"  # the token request body: "form" or "json"
    authorize_params: tuple[tuple[str, str], ...] = ()
    use_pkce: bool = True
    refreshable: bool = True
    required_scopes: tuple[str, ...] = ()  # always requested (Microsoft's offline_access)


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            "google",
            "Google",
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
            "https://oauth2.googleapis.com/revoke",
            "rfc7009",
            ("openid", "email", "profile"),
            # Without both, Google issues no refresh token (or only on the very first consent).
            authorize_params=(("access_type", "offline"), ("prompt", "consent")),
        ),
        Preset(
            "github",
            "GitHub",
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
            "https://api.github.com/applications/{client_id}/grant",
            "github",
            ("read:user",),
        ),
        Preset(
            "slack",
            "Slack",
            "https://slack.com/oauth/v2/authorize",
            "https://slack.com/api/oauth.v2.access",
            "https://slack.com/api/auth.revoke",
            "slack",
            ("channels:read", "chat:write"),
            scope_separator=",",
            use_pkce=False,
        ),
        Preset(
            "microsoft",
            "Microsoft",
            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
            default_scopes=("offline_access", "User.Read"),
            required_scopes=("offline_access",),
        ),
        Preset(
            "notion",
            "Notion",
            "https://api.notion.com/v1/oauth/authorize",
            "https://api.notion.com/v1/oauth/token",
            auth_method="client_secret_basic",
            token_format="json",
            authorize_params=(("owner", "user"),),
            use_pkce=False,
            refreshable=False,
        ),
        Preset(
            "discord",
            "Discord",
            "https://discord.com/oauth2/authorize",
            "https://discord.com/api/oauth2/token",
            "https://discord.com/api/oauth2/token/revoke",
            "rfc7009",
            ("identify",),
        ),
    )
}

PROVIDER_CHOICES = [(key, p.label) for key, p in PRESETS.items()] + [(CUSTOM, "Custom")]
CUSTOM_PRESET = Preset(CUSTOM, "Custom", "", "", revoke_style="rfc7009")


def preset_for(provider: str) -> Preset:
    """The preset of a provider key; custom connections get a neutral one (their URLs are their own)."""
    return PRESETS.get(provider, CUSTOM_PRESET)


def _rebase(url: str, base: str) -> str:
    parts = urlsplit(url)
    return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def resolved_urls(provider: str, client_id: str, options: dict[str, Any]) -> dict[str, str]:
    """A preset's authorize, token and revoke URLs for one connection (tenant, client id, overrides)."""
    preset = PRESETS[provider]
    tenant = str((options or {}).get("tenant") or "common")
    values = {"tenant": quote(tenant, safe=""), "client_id": quote(client_id, safe="")}
    override = settings.PROMPTGATE_OAUTH_PRESET_OVERRIDES.get(provider)
    urls = {}
    for name in ("authorize_url", "token_url", "revoke_url"):
        url = getattr(preset, name).format(**values)
        urls[name] = _rebase(url, override) if url and override else url
    return urls


def scope_string(provider: str, scopes: list[str]) -> str:
    preset = preset_for(provider)
    wanted = list(scopes) or list(preset.default_scopes)
    wanted += [s for s in preset.required_scopes if s not in wanted]
    return preset.scope_separator.join(wanted)


def split_scopes(raw: Any) -> list[str]:
    """Granted scopes as a list, whatever the provider's separator (space or comma)."""
    if isinstance(raw, list):
        return [str(s) for s in raw]
    if not isinstance(raw, str):
        return []
    return [s for s in re.split(r"[\s,]+", raw) if s]
