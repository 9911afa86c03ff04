"""The usage report reads the coarsest rollup that answers (months, project-days, days, hours) and gives
the same figures as the raw rows and as the hourly rollup alone, whatever the grouping, filters and range."""

from __future__ import annotations

import datetime
import itertools
import random
import uuid
from collections import defaultdict
from decimal import Decimal

import pytest

from audit import rollups
from audit.models import (
    DailyRollup,
    HourlyRollup,
    ModelDailyRollup,
    ProjectDailyRollup,
    ProjectMonthlyRollup,
    RequestLog,
)
from gateways.ai import usage, usage_levels
from gateways.common.logrows import write_request_logs
from projects.models import Project, Role

pytestmark = pytest.mark.django_db(transaction=True)

FIRST = datetime.datetime(2026, 8, 20, tzinfo=datetime.UTC)
LAST_DAY = datetime.date(2026, 11, 20)  # rows up to this day included
MARK = datetime.date(2026, 11, 19)  # days before it are derived; the 19th and 20th are hourly only
PROJECTS = [str(uuid.UUID(int=n)) for n in (1, 2, 3)]
MODELS = ["gpt-4o", "gpt-4o-mini"]
FIELDS = {"project": "project_uuid", "token": "token_prefix", "day": "day", "gateway": "gateway"}
FIELDS |= {"endpoint": "endpoint", "model": "model", "provider": "provider"}


def make_rows(n: int) -> list[dict[str, object]]:
    rand = random.Random(20)
    span = int((datetime.datetime.combine(LAST_DAY, datetime.time.max, datetime.UTC) - FIRST).total_seconds())
    rows = []
    for i in range(n):
        ai = rand.random() < 0.8
        status = rand.choice([200, 200, 200, 404, 429, 502])
        row: dict[str, object] = {
            "time": FIRST + datetime.timedelta(seconds=rand.randrange(span)),
            "project_uuid": rand.choice(PROJECTS),
            "gateway": "ai" if ai else "http",
            "endpoint": rand.choice(["chat.completions", "embeddings"]) if ai else "orders",
            "token_prefix": rand.choice(["pg_test_aaaa", "pg_test_bbbb"]),
            "status": status,
            "latency_ms": rand.lognormvariate(3, 1),
            "bytes_in": rand.randrange(2000),
            "bytes_out": rand.randrange(9000),
            "request_id": f"levels-{i}",
        }
        if ai:
            row.update(
                provider="openai",
                model=rand.choice(MODELS),
                tokens_in=rand.randrange(500),
                tokens_out=rand.randrange(500),
                cost=Decimal(rand.randrange(10**6)) / Decimal(10**8),
            )
        rows.append(row)
    return rows


@pytest.fixture
def history():
    write_request_logs(make_rows(900))
    for day in rollups.days_to_derive(datetime.datetime.combine(MARK, datetime.time(3), datetime.UTC)):
        rollups.derive_daily(day)
    assert rollups.derived_until() == MARK


def from_raw(params: dict[str, str], groups: tuple[str, ...]) -> dict[tuple, dict[str, object]]:
    """The report's sums computed from the raw rows, independently of the rollups."""
    since = datetime.date.fromisoformat(params["since"]) if "since" in params else None
    until = datetime.date.fromisoformat(params["until"]) if "until" in params else None
    out: dict[tuple, dict[str, object]] = defaultdict(lambda: defaultdict(int))
    for r in RequestLog.objects.all():
        day = r.time.astimezone(datetime.UTC).date()
        values = {"project": str(r.project_uuid), "token": r.token_prefix, "day": day.isoformat()}
        values |= {"gateway": r.gateway, "endpoint": r.endpoint, "model": r.model, "provider": r.provider}
        if params.get("gateway", "ai") not in ("all", r.gateway):
            continue
        if (since and day < since) or (until and day > until):
            continue
        if any(params[p] != values[p] for p in ("project", "model", "token", "provider") if p in params):
            continue
        sums = out[tuple(values[g] for g in groups)]
        sums["requests"] += 1
        sums["errors"] += r.status >= 400
        sums["tokens_in"] += r.tokens_in or 0
        sums["cost"] += r.cost or 0
    return {k: {**v, "cost": str((v["cost"] or Decimal(0)).normalize())} for k, v in out.items()}


QUESTIONS = [
    {},
    {"gateway": "all"},
    {"project": PROJECTS[0]},
    {"model": "gpt-4o"},
    {"model": "gpt-4o-mini", "gateway": "all", "since": "2026-09-03"},
    {"provider": "openai", "until": "2026-10-31"},
    {"since": "2026-09-10", "until": "2026-11-19"},
    {"since": "2026-09-01", "until": "2026-10-31"},  # whole months
    {"since": "2026-10-05", "gateway": "all"},
    {"until": "2026-09-15"},
    {"since": "2026-11-19"},  # hourly only
]
GROUPINGS = [("day",), ("project",), ("day", "project"), ("gateway",), ("project", "model"), ("token",)]
GROUPINGS += [("model",), ("day", "model"), ("provider", "model")]  # the model days answer these


@pytest.mark.parametrize("params", QUESTIONS, ids=lambda p: ",".join(f"{k}={v[:10]}" for k, v in p.items()))
def test_every_level_gives_the_figures_of_the_raw_rows_and_of_the_hourly_rollup(
    history, params, admin_user, monkeypatch
):
    answers = {groups: usage.report(admin_user, params, groups) for groups in GROUPINGS}
    for groups, items in answers.items():
        got = {
            tuple(item[g] for g in groups): {
                "requests": item["requests"],
                "errors": item["errors"],
                "tokens_in": item["tokens_in"],
                "cost": str(Decimal(item["cost"]).normalize()),
            }
            for item in items
        }
        assert got == from_raw(params, groups), groups
    # The hourly rollup alone (as if no day were derived) answers the same, latency percentiles included.
    monkeypatch.setattr(rollups, "derived_until", lambda: None)
    for groups, items in answers.items():
        assert usage.report(admin_user, params, groups) == items, groups


def test_the_coarsest_level_answers_and_the_finer_ones_are_not_read(history, admin_user):
    year = {"since": "2026-01-01", "gateway": "all"}
    per_project = usage.report(admin_user, year, ("project",))
    per_day = usage.report(admin_user, year, ("day",))
    by_model = usage.report(admin_user, year, ("model",))
    by_token = usage.report(admin_user, year, ("token",))
    stretches = usage_levels.plan(["project_uuid"], year, datetime.date(2026, 1, 1), None, MARK)
    assert [s.level for s in stretches] == [ProjectMonthlyRollup, ProjectDailyRollup, HourlyRollup]
    assert stretches[0].end == datetime.date(2026, 11, 1) and stretches[1].start == stretches[0].end
    # Without the full-dimension daily rows and the derived days' hourly rows, per project and per day
    # still answer (months and project-days), per model too (the model days); per token needs them and
    # loses those days.
    DailyRollup.objects.all().delete()
    HourlyRollup.objects.filter(
        hour__lt=datetime.datetime.combine(MARK, datetime.time.min, datetime.UTC)
    ).delete()
    assert usage.report(admin_user, year, ("project",)) == per_project
    assert usage.report(admin_user, year, ("day",)) == per_day
    assert usage.report(admin_user, year, ("model",)) == by_model
    assert sum(r["requests"] for r in usage.report(admin_user, year, ("token",))) < sum(
        r["requests"] for r in by_token
    )
    ProjectDailyRollup.objects.filter(day__lt=datetime.date(2026, 11, 1)).delete()  # months still answer
    assert usage.report(admin_user, year, ("project",)) == per_project


def test_deriving_again_changes_nothing_and_months_are_the_sums_of_their_days(history):
    def snapshot() -> list[tuple]:
        return [
            tuple(m.objects.order_by(*key).values_list(*key, "requests", "cost_nanos", "lat_05"))
            for m, key in (
                (ProjectDailyRollup, ("day", "project_uuid", "gateway")),
                (ProjectMonthlyRollup, ("month", "project_uuid", "gateway")),
                (ModelDailyRollup, ("day", "gateway", "provider", "model")),
            )
        ]

    before = snapshot()
    for day in (datetime.date(2026, 9, 30), datetime.date(2026, 10, 1), datetime.date(2026, 11, 18)):
        rollups.derive_daily(day, advance=False)
    assert snapshot() == before
    months: dict[tuple, int] = defaultdict(int)
    for day, project, gateway, requests in ProjectDailyRollup.objects.values_list(
        "day", "project_uuid", "gateway", "requests"
    ):
        months[(day.replace(day=1), project, gateway)] += requests
    stored = ProjectMonthlyRollup.objects.values_list("month", "project_uuid", "gateway", "requests")
    assert {(m, p, g): n for m, p, g, n in stored} == dict(months)
    assert {m for m, *_ in months} == {datetime.date(2026, m, 1) for m in (8, 9, 10, 11)}
    daily = sum(DailyRollup.objects.values_list("requests", flat=True))
    assert sum(n for *_, n in stored) == daily == RequestLog.objects.filter(time__date__lt=MARK).count()


def test_plan_per_question():
    def levels(fields, params, since=None, until=None, every_project=False):
        plan = usage_levels.plan(fields, params, since, until, MARK, every_project=every_project)
        return [s.level.__name__ for s in plan]

    d = datetime.date
    assert levels(["hour"], {}) == ["HourlyRollup"]
    assert levels(["day", "project_uuid"], {}) == ["ProjectDailyRollup", "HourlyRollup"]
    assert levels(["day"], {"model": "gpt-4o"}) == ["DailyRollup", "HourlyRollup"]
    assert levels(["token_prefix"], {}) == ["DailyRollup", "HourlyRollup"]
    assert levels(["project_uuid"], {}, d(2026, 9, 1), d(2026, 10, 31)) == ["ProjectMonthlyRollup"]
    assert levels(["project_uuid"], {}, d(2026, 9, 5), d(2026, 9, 25)) == ["ProjectDailyRollup"]
    assert levels(["gateway"], {}, d(2026, 11, 19)) == ["HourlyRollup"]
    assert levels([], {}, d(2026, 11, 25), d(2026, 11, 30)) == ["HourlyRollup"]
    assert levels([], {}, d(2026, 8, 1), d(2026, 8, 31)) == ["ProjectMonthlyRollup"]
    # A reader of every project: a question by model or provider alone reads the model days.
    for fields, params in (([], {"model": "gpt-4o"}), (["day", "model"], {}), (["provider"], {})):
        assert levels(fields, params, every_project=True) == ["ModelDailyRollup", "HourlyRollup"]
    for fields, params in ((["model"], {"project": PROJECTS[0]}), (["endpoint"], {"model": "gpt-4o"})):
        assert levels(fields, params, every_project=True) == ["DailyRollup", "HourlyRollup"]
    assert levels(["day", "model"], {}) == ["DailyRollup", "HourlyRollup"]  # a reader of some projects
    for fields in itertools.permutations(["project_uuid", "gateway"]):
        assert levels(list(fields), {}, None, d(2026, 11, 10)) == [
            "ProjectMonthlyRollup",
            "ProjectDailyRollup",
        ]


@pytest.mark.parametrize(
    "groups", [("day", "project"), ("day", "project", "token", "endpoint", "model"), ("hour", "project")]
)
@pytest.mark.parametrize(
    "params", [{"since": "2026-08-01", "until": "2026-11-20"}, {}], ids=["range", "open"]
)
def test_grouped_by_period_first_only_the_newest_days_are_read_for_the_same_answer(
    history, admin_user, monkeypatch, groups, params
):
    params = {**params, "gateway": "all"}
    monkeypatch.setattr(usage, "MAX_ROWS", 40)
    starts = []
    merged = usage._merged

    def spy(user, params, fields, since, until, mark):
        starts.append(since)
        return merged(user, params, fields, since, until, mark)

    monkeypatch.setattr(usage, "_merged", spy)
    newest = usage.report(admin_user, params, groups)
    assert len(newest) == 40
    # Fewer days than the range were read: the last read started well after the first row's day.
    assert starts[-1] is not None and starts[-1] > datetime.date(2026, 10, 1)
    monkeypatch.setattr(usage, "_newest_days", lambda *args: None)
    assert usage.report(admin_user, params, groups) == newest


def test_a_reader_of_some_projects_gets_their_figures_not_the_model_days(history, make_project, make_user):
    """The model days sum every project: a member reading per model is answered from the daily rows of
    the projects they may read (the figures of their project alone), never from the model days."""
    project = make_project("Levels", project_type="ai_gateway")
    Project.objects.filter(pk=project.pk).update(uuid=PROJECTS[0])
    member = make_user("reader", project, Role.DEVELOPER)
    for groups in (("model",), ("day", "model")):
        got = {
            tuple(item[g] for g in groups): item["requests"]
            for item in usage.report(member, {"since": "2026-08-01"}, groups)
        }
        expected = from_raw({"project": PROJECTS[0], "since": "2026-08-01"}, groups)
        assert got == {key: sums["requests"] for key, sums in expected.items()}, groups
    with pytest.raises(ValueError):
        usage.visible_rows(member, ModelDailyRollup)
