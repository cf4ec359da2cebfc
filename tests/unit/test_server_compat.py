"""What differs between langgraph-api and Aegra, normalised in graphs/server_compat.py and analytics/callbacks.py."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analytics.callbacks import AnalyticsHandler
from analytics.metrics import Metrics
from analytics.rows import NodeRunRow, Row, WorkflowRunRow
from core.prices import PriceTable
from graphs.errors import InvalidInputError
from graphs.registry import load_builder
from graphs.server_compat import api_routes, header, refusal, run_kwargs, server_kind


def test_header_reads_bytes_and_str_keys() -> None:
    assert header({b"x-api-key": b"k1"}, "X-Api-Key") == "k1"  # langgraph-api
    assert header({"x-api-key": "k2"}, "x-api-key") == "k2"  # Aegra
    assert header({}, "x-api-key") == ""
    assert header({b"other": b"v"}, "x-api-key") == ""


def test_run_kwargs_reads_nested_and_flat_bodies() -> None:
    body = {"input": {"message": "x"}, "command": None, "context": {"a": 1}}
    assert run_kwargs({"assistant_id": "heartbeat", "kwargs": body}) == body  # langgraph-api
    flat = {"assistant_id": "heartbeat", "thread_id": "t", **body}  # Aegra
    assert run_kwargs(flat)["input"] == {"message": "x"}
    assert run_kwargs(flat)["context"] == {"a": 1}


def test_refusal_is_the_error_itself_outside_aegra() -> None:
    assert server_kind() == "langgraph-api"
    error = InvalidInputError("heartbeat", [("values.message", "bad")], what="state update")
    assert refusal(error) is error


async def test_starlette_routes_become_fastapi_routes() -> None:
    async def echo(request: Request) -> JSONResponse:
        """Echo the path parameter."""
        return JSONResponse({"name": request.path_params["name"], "q": request.query_params.get("q")})

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    api_routes(app, [Route("/echo/{name}", echo, methods=["GET"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        response = await client.get("/echo/desk", params={"q": "1"})
        assert response.json() == {"name": "desk", "q": "1"}
        assert (await client.post("/echo/desk")).status_code == 405
        assert (await client.get("/docs")).status_code == 404  # the server's /docs stay the server's


@pytest.mark.parametrize("as_str", [False, True])
def test_callbacks_record_the_same_run_id_whether_it_arrives_as_uuid_or_str(as_str: bool) -> None:
    """Regression: on Aegra the run id in the config is a str and the handler called ``run_id.int`` on it."""
    rows: list[Row] = []
    handler = AnalyticsHandler(Metrics(CollectorRegistry()), rows.append, PriceTable.load())
    graph = load_builder("heartbeat").compile()
    run_id = uuid.uuid4()
    config = {
        "callbacks": [handler],
        "metadata": {"graph_id": "heartbeat"},
        "run_id": str(run_id) if as_str else run_id,
    }
    asyncio.run(graph.ainvoke({"message": "x"}, config))  # type: ignore[arg-type]
    handler.drain()
    [run] = [r for r in rows if isinstance(r, WorkflowRunRow)]
    [node] = [r for r in rows if isinstance(r, NodeRunRow)]
    assert (run.run_id, node.run_id, run.status) == (str(run_id), str(run_id), "success")
    assert handler.open_runs == 0
