"""Budget periods: counter labels and expiries at day, month and minute boundaries (UTC)."""

from __future__ import annotations

import datetime

from gateways.ai import budgets


def _epoch(*parts: int) -> float:
    return datetime.datetime(*parts, tzinfo=datetime.UTC).timestamp()


def test_last_second_of_a_leap_february():
    at = budgets.periods(_epoch(2028, 2, 29, 23, 59, 59))
    assert (at.day, at.month) == ("2028-02-29", "2028-02")
    assert at.day_end == _epoch(2028, 3, 1) and at.month_end == _epoch(2028, 3, 1)
    assert at.minute_end == _epoch(2028, 3, 1) and at.minute == int(_epoch(2028, 2, 29, 23, 59)) // 60


def test_first_second_of_a_year():
    at = budgets.periods(_epoch(2027, 1, 1, 0, 0, 0))
    assert (at.day, at.month) == ("2027-01-01", "2027-01")
    assert at.day_end == _epoch(2027, 1, 2) and at.month_end == _epoch(2027, 2, 1)


def test_counters_carry_the_periods_labels():
    at = budgets.periods(_epoch(2026, 12, 2, 5, 30, 10))
    limit = budgets.LimitSet(daily_nanos=10, monthly_nanos=20, requests_per_minute=None, tokens_per_minute=30)
    keys = {c.key: (c.cap, c.expires_at) for c in budgets._counters([("project", "p7", limit)], at)}
    assert keys == {
        "ai:budget:p7:d:2026-12-02": (10, _epoch(2026, 12, 3)),
        "ai:budget:p7:m:2026-12": (20, _epoch(2027, 1, 1)),
        f"ai:tpm:p7:{int(_epoch(2026, 12, 2, 5, 30)) // 60}": (30, _epoch(2026, 12, 2, 5, 31)),
    }
