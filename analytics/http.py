"""HTTP routes of analytics on the LangGraph server: ``/metrics`` and the report API (JSON or CSV).

Database work runs in a thread: the server's event loop must never block.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from analytics.errors import AnalyticsError, ReportQueryError
from analytics.queries import (
    TREND_MEASURES,
    WORKFLOW_COLUMNS,
    ReportRequest,
    cost_columns,
    cost_report,
    parse_since,
    trend_report,
    workflow_report,
)
from analytics.reports import render
from analytics.runtime import handler, make_store, settings
from analytics.store import Store


def metrics_payload() -> bytes:
    """The exposition text: merged across worker processes when PROMETHEUS_MULTIPROC_DIR is set."""
    handler().drain()  # node runs finished since the writer's last flush
    if settings().prometheus_multiproc_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus scrape endpoint."""
    return Response(await asyncio.to_thread(metrics_payload), media_type=CONTENT_TYPE_LATEST)


@functools.cache
def report_store() -> Store:
    """A store connection for reports (separate from the writer's)."""
    store = make_store(settings())
    store.migrate()
    return store


HTTP_FORMATS = ("json", "csv")


def _format(request: Request) -> str:
    """The requested format, checked before any query runs."""
    fmt = request.query_params.get("format", "json")
    if fmt not in HTTP_FORMATS:
        raise ReportQueryError(f"format: expected one of {', '.join(HTTP_FORMATS)}, got {fmt!r}")
    return fmt


def _respond(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> Response:
    if fmt == "csv":
        return PlainTextResponse(render(rows, "csv", columns=columns), media_type="text/csv")
    return JSONResponse(rows)


def _error(exc: AnalyticsError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


async def cost_endpoint(request: Request) -> Response:
    """Cost by model/workflow/provider/day over a period: ?since=7d&by=model,day&workflow=...&rollup=true."""
    params = request.query_params
    try:
        fmt = _format(request)
        report = ReportRequest(
            since=parse_since(params.get("since", "7d")),
            by=tuple(filter(None, params.get("by", "model,workflow").split(","))),
            filters={k: params[k] for k in ("workflow", "model", "provider") if k in params},
            from_rollup=params.get("rollup", "false").lower() == "true",
        )
        rows = await asyncio.to_thread(lambda: cost_report(report_store(), report))
        return _respond(rows, fmt, cost_columns(report))
    except AnalyticsError as exc:
        return _error(exc)


async def workflows_endpoint(request: Request) -> Response:
    """Success rate and p50/p95 duration per workflow and version: ?since=7d."""
    try:
        fmt = _format(request)
        since = parse_since(request.query_params.get("since", "7d"))
        rows = await asyncio.to_thread(lambda: workflow_report(report_store(), since))
        return _respond(rows, fmt, WORKFLOW_COLUMNS)
    except AnalyticsError as exc:
        return _error(exc)


async def trends_endpoint(request: Request) -> Response:
    """Runs and cost per hour or day: ?since=7d&bucket=day."""
    params = request.query_params
    try:
        fmt = _format(request)
        since, bucket = parse_since(params.get("since", "7d")), params.get("bucket", "day")
        rows = await asyncio.to_thread(lambda: trend_report(report_store(), since, bucket))
        return _respond(rows, fmt, [bucket, *TREND_MEASURES])
    except AnalyticsError as exc:
        return _error(exc)


routes = [
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    Route("/reports/cost", cost_endpoint, methods=["GET"]),
    Route("/reports/workflows", workflows_endpoint, methods=["GET"]),
    Route("/reports/trends", trends_endpoint, methods=["GET"]),
]
