"""Reads the hostile-input corpus under tests/corpus/ (one entry a line, `#` comments)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from django.test import override_settings

from gateways.common import ssrf

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def corpus(name: str) -> list[str]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def internal_spellings(url: str) -> list[str]:
    """The address the guard found behind `url`, and the URL's own host when it is a literal."""
    found: list[str] = []
    with override_settings(PROMPTGATE_SSRF_ALLOW=[]):
        try:
            ssrf.validate_url(url)
        except ssrf.SsrfBlocked as exc:
            if exc.address:
                found.append(exc.address)
    host = urlsplit(url).hostname or ""
    for candidate in (host, *found):
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        found += [candidate, str(address), address.exploded]
    return sorted({f for f in found if _is_address(f)}, key=len, reverse=True)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def names_the_address(text: str, url: str) -> str | None:
    """The first internal address of `url` that `text` names, or None."""
    return next((a for a in internal_spellings(url) if a in text), None)
