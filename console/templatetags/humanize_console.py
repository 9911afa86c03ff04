"""Figures as an operator reads them: counts with separators, percentages, milliseconds and dollars."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


@register.filter
def count(value: Any) -> str:
    return f"{int(value or 0):,}"


@register.filter
def percent(value: Any) -> str:
    return f"{float(value or 0):.1f}%"


@register.filter
def ms(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


@register.filter
def usd(value: Any) -> str:
    amount = Decimal(str(value or 0))
    if amount and abs(amount) < 1:
        return "$" + f"{amount:.6f}".rstrip("0").rstrip(".")
    return f"${amount:,.2f}"
