"""Report queries. Dimensions and buckets come from fixed lists; every value is a bound parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from analytics.errors import ReportQueryError
from analytics.store import Dialect, Store

_DIMENSIONS = {"model", "workflow", "provider", "backend", "day", "hour", "status"}
_ROLLUP_DIMENSIONS = {"model", "workflow", "provider", "day", "hour"}
_FILTERS = {"workflow", "model", "provider"}
_PERIOD = re.compile(r"^(\d+)([hdw])$")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """'24h', '7d', '2w' or an ISO date/time: the start of a report period."""
    now = now or datetime.now(UTC)
    match = _PERIOD.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ReportQueryError(f"since: expected e.g. 24h, 7d, 2w or an ISO date, got {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _bucket(dialect: Dialect, unit: str, column: str) -> str:
    """A UTC hour or day bucket of ``column``, whatever the session's time zone."""
    if dialect == "postgres":
        if unit == "day" and column == "ts":
            return "day"  # llm_calls stores its UTC day (migration 003), so raw reports skip date_trunc per row
        # date_trunc over a UTC timestamp (an immutable expression, which the extended statistics can cover)
        return f"date_trunc('{unit}', {column} AT TIME ZONE 'UTC')"
    pattern = "%Y-%m-%dT%H:00:00+00:00" if unit == "hour" else "%Y-%m-%dT00:00:00+00:00"
    return f"strftime('{pattern}', {column})"


_FILTER_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")


@dataclass(frozen=True)
class ReportRequest:
    """What to report on: a period, dimensions, filters and the source."""

    since: datetime
    until: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(minutes=1))
    by: tuple[str, ...] = ("model", "workflow")
    filters: dict[str, str] = field(default_factory=dict)
    from_rollup: bool = False

    def __post_init__(self) -> None:
        allowed = _ROLLUP_DIMENSIONS if self.from_rollup else _DIMENSIONS
        unknown = [d for d in self.by if d not in allowed]
        if unknown or not self.by:
            raise ReportQueryError(f"by: expected some of {', '.join(sorted(allowed))}, got {', '.join(self.by)!r}")
        bad = sorted(set(self.filters) - _FILTERS)
        if bad:
            raise ReportQueryError(f"filter: expected some of {', '.join(sorted(_FILTERS))}, got {', '.join(bad)}")
        for name, value in sorted(self.filters.items()):
            # Values are always bound, never spliced; a value no name could have is refused before any query.
            if not _FILTER_VALUE.fullmatch(value):
                raise ReportQueryError(
                    f"{name}: expected a {name} name (letters, digits and . _ - : / @ +, at most 200), got {value!r}"
                )


def cost_query(request: ReportRequest, dialect: Dialect) -> tuple[str, dict[str, Any], list[str]]:
    """Cost, calls and tokens grouped by the requested dimensions (raw rows or the hourly rollup)."""
    time_column = "hour" if request.from_rollup else "ts"
    expressions = {
        "model": "model", "workflow": "workflow", "provider": "provider", "backend": "backend", "status": "status",
        "day": _bucket(dialect, "day", time_column), "hour": _bucket(dialect, "hour", time_column),
    }  # fmt: skip
    select = [f"{expressions[d]} AS {d}" for d in request.by]
    if request.from_rollup:
        measures = "sum(calls) AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, " \
                   "sum(cost_usd) AS cost_usd"  # fmt: skip
        table = "llm_cost_hourly"
    else:
        measures = "count(*) AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, " \
                   "sum(cost_usd) AS cost_usd"  # fmt: skip
        table = "llm_calls"
    where = [f"{time_column} >= :since", f"{time_column} < :until"]
    params: dict[str, Any] = {"since": request.since, "until": request.until}
    for name, value in sorted(request.filters.items()):
        where.append(f"{name} = :f_{name}")
        params[f"f_{name}"] = value
    group = ", ".join(str(i + 1) for i in range(len(request.by)))
    query = (
        f"SELECT {', '.join(select)}, {measures} FROM {table} WHERE {' AND '.join(where)} "
        f"GROUP BY {group} ORDER BY cost_usd DESC, {group}"
    )
    return query, params, cost_columns(request)


def cost_columns(request: ReportRequest) -> list[str]:
    """The columns of a cost report, in order (they head an empty report too)."""
    return [*request.by, "calls", "input_tokens", "output_tokens", "cost_usd"]


WORKFLOW_COLUMNS = ["workflow", "version", "runs", "success_rate", "p50_s", "p95_s"]
TREND_MEASURES = ["runs", "successes", "cost_usd"]


def cost_report(store: Store, request: ReportRequest) -> list[dict[str, Any]]:
    """Run :func:`cost_query` and return rows as dicts."""
    query, params, names = cost_query(request, store.dialect)
    return [dict(zip(names, _plain(row), strict=True)) for row in store.fetch(query, params)]


_WORKFLOW_PERCENTILES = {
    # Postgres computes interpolated percentiles itself.
    "postgres": """
        SELECT workflow, version, count(*), count(*) FILTER (WHERE status = 'success'),
               count(*) FILTER (WHERE status <> 'interrupted'),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_s),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_s)
        FROM workflow_runs WHERE ts >= :since AND ts < :until GROUP BY 1, 2 ORDER BY 1, 2
    """,
    # SQLite has no percentile function: rank each group's durations with window functions and interpolate
    # between the two ranks around (n - 1) * q, which is exactly what percentile_cont does.
    "sqlite": """
        WITH ranked AS (
            SELECT workflow, version, status, duration_s,
                   row_number() OVER (PARTITION BY workflow, version ORDER BY duration_s) AS rn,
                   count(*) OVER (PARTITION BY workflow, version) AS n
            FROM workflow_runs WHERE ts >= :since AND ts < :until
        ), grouped AS (
            SELECT workflow, version, count(*) AS runs, sum(status = 'success') AS successes,
                   sum(status <> 'interrupted') AS finished, max(n) AS n,
                   max(CASE WHEN rn = CAST((n - 1) * 0.5 AS INTEGER) + 1 THEN duration_s END) AS p50_lo,
                   max(CASE WHEN rn = CAST((n - 1) * 0.5 AS INTEGER) + 2 THEN duration_s END) AS p50_hi,
                   max(CASE WHEN rn = CAST((n - 1) * 0.95 AS INTEGER) + 1 THEN duration_s END) AS p95_lo,
                   max(CASE WHEN rn = CAST((n - 1) * 0.95 AS INTEGER) + 2 THEN duration_s END) AS p95_hi
            FROM ranked GROUP BY workflow, version
        )
        SELECT workflow, version, runs, successes, finished,
               p50_lo + (coalesce(p50_hi, p50_lo) - p50_lo) * ((n - 1) * 0.5 - CAST((n - 1) * 0.5 AS INTEGER)),
               p95_lo + (coalesce(p95_hi, p95_lo) - p95_lo) * ((n - 1) * 0.95 - CAST((n - 1) * 0.95 AS INTEGER))
        FROM grouped ORDER BY workflow, version
    """,
}


def workflow_report(store: Store, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Runs, success rate and p50/p95 duration (interpolated, as ``percentile_cont``) per workflow and version.

    Computed in the database: only one row per workflow and version comes back, whatever the period's size.
    """
    until = until or datetime.now(UTC) + timedelta(minutes=1)
    rows = store.fetch(_WORKFLOW_PERCENTILES[store.dialect], {"since": since, "until": until})
    return [
        dict(zip(WORKFLOW_COLUMNS, (
            workflow, version, int(runs), round(int(successes) / int(finished), 4) if finished else None,
            _rounded(p50), _rounded(p95),
        ), strict=True))
        for workflow, version, runs, successes, finished, p50, p95 in rows
    ]  # fmt: skip


def trend_report(store: Store, since: datetime, bucket: str = "day") -> list[dict[str, Any]]:
    """Runs and cost per hour or day, from the hourly rollups."""
    if bucket not in ("hour", "day"):
        raise ReportQueryError(f"bucket: expected hour or day, got {bucket!r}")
    expression = _bucket(store.dialect, bucket, "hour")
    params = {"since": since}
    runs = store.fetch(
        f"SELECT {expression}, sum(runs), sum(successes) FROM workflow_runs_hourly WHERE hour >= :since "
        "GROUP BY 1 ORDER BY 1", params,
    )  # fmt: skip
    costs = dict(
        (key, value) for key, value in store.fetch(
            f"SELECT {expression}, sum(cost_usd) FROM llm_cost_hourly WHERE hour >= :since GROUP BY 1",
            params,
        )
    )  # fmt: skip
    keys = sorted({r[0] for r in runs} | set(costs), key=str)
    by_key = {r[0]: r for r in runs}
    return [
        {bucket: _plain((k,))[0], "runs": int(by_key[k][1]) if k in by_key else 0,
         "successes": int(by_key[k][2]) if k in by_key else 0, "cost_usd": float(costs.get(k) or 0.0)}
        for k in keys
    ]  # fmt: skip


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Buckets as ISO date-times in UTC (Postgres returns dates and UTC timestamps; SQLite already strings)."""
    return tuple(_iso(v) if isinstance(v, date) else v for v in row)


def _iso(value: date) -> str:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).isoformat()
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()
