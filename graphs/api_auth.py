"""Server-side request checks, wired through ``langgraph.json`` ``auth.path``.

* Authentication: when ``TRADEFLOW_API_KEY`` is set, every request must carry it in ``x-api-key``;
  without it (a laptop) requests are accepted as the local user.
* Input validation: a run whose input or context does not match its graph's schemas, or a triage
  resume that is not a valid approval, is refused with 422 naming the field, before the run exists,
  so no thread state or checkpoint is written for it. An assistant's context is checked the same way
  when it is created or updated. (State updates are checked by the served graph: ``graphs.serving``.)

``disable_studio_auth`` is set in ``langgraph.json`` so Studio's requests get the same checks.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from langgraph_sdk import Auth

from core.settings import get_settings
from graphs.errors import InvalidInputError
from graphs.registry import GRAPHS, graph_id_for_assistant, validate_input, validate_resume
from graphs.server_compat import assistant_graph_id, header, run_kwargs
from graphs.validation import context_from_run, validate_context

logger = logging.getLogger(__name__)

auth = Auth()


@auth.authenticate
async def authenticate(headers: dict[bytes, bytes] | dict[str, str]) -> Auth.types.MinimalUserDict:
    """Accept the configured API key (``x-api-key``), or everyone when none is configured."""
    expected = get_settings().api_key
    if expected is None:
        return {"identity": "local", "is_authenticated": True}
    provided = header(headers, "x-api-key")
    if not provided or not hmac.compare_digest(provided, expected):
        raise Auth.exceptions.HTTPException(status_code=401, detail="missing or wrong x-api-key")
    return {"identity": "api-key", "is_authenticated": True}


async def _graph_id(assistant_id: str) -> str | None:
    known = graph_id_for_assistant(assistant_id)
    if known is not None:
        return known
    # An assistant created through the API: ask the server it runs on (graphs.server_compat).
    graph_id = await assistant_graph_id(assistant_id)
    return graph_id if graph_id in GRAPHS else None


def _problems_for(graph_id: str, kwargs: dict[str, Any]) -> InvalidInputError | None:
    try:
        payload = kwargs.get("input")
        if payload is not None:
            validate_input(graph_id, payload)
        command = kwargs.get("command") or {}
        if "resume" in command:
            validate_resume(graph_id, command["resume"])
        context_from_run(graph_id, kwargs)
    except InvalidInputError as exc:
        return exc
    return None


@auth.on.threads.create_run
async def validate_run(ctx: Auth.types.AuthContext, value: Auth.types.RunsCreate) -> None:
    """Refuse a run whose input or resume value does not fit its graph."""
    assistant_id = value.get("assistant_id")
    if assistant_id is None:
        return
    graph_id = await _graph_id(str(assistant_id))
    if graph_id is None:
        return
    problem = _problems_for(graph_id, run_kwargs(value))
    if problem is not None:
        logger.info("refused run for %s: %s", graph_id, problem)
        raise Auth.exceptions.HTTPException(status_code=422, detail=str(problem))


async def _check_assistant_context(value: Auth.types.AssistantsCreate | Auth.types.AssistantsUpdate) -> None:
    graph_id = value.get("graph_id")
    if graph_id is None and value.get("assistant_id") is not None:
        graph_id = await _graph_id(str(value["assistant_id"]))
    if graph_id not in GRAPHS or value.get("context") is None:
        return
    try:
        validate_context(str(graph_id), value.get("context"))
    except InvalidInputError as exc:
        logger.info("refused assistant for %s: %s", graph_id, exc)
        raise Auth.exceptions.HTTPException(status_code=422, detail=str(exc)) from None


@auth.on.assistants.create
async def validate_assistant(ctx: Auth.types.AuthContext, value: Auth.types.AssistantsCreate) -> None:
    """Refuse an assistant whose context does not fit its graph's knobs."""
    await _check_assistant_context(value)


@auth.on.assistants.update
async def validate_assistant_update(ctx: Auth.types.AuthContext, value: Auth.types.AssistantsUpdate) -> None:
    """Refuse an assistant update whose context does not fit its graph's knobs."""
    await _check_assistant_context(value)
