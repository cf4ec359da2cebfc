"""Server-side request checks, wired through ``langgraph.json`` ``auth.path``.

* Authentication (every route but ``/ok``, custom routes included: ``http.enable_custom_route_auth``): an API
  key in ``x-api-key``, looked up in tradeflow's key store (``tradeflow keys add``), or the single
  ``TRADEFLOW_API_KEY`` (an admin, for compatibility). ``/metrics`` also takes ``Authorization: Bearer
  <TRADEFLOW_METRICS_TOKEN>`` for Prometheus. With no key configured at all (a laptop) every request is the
  ``local`` caller holding every role; in production (``TRADEFLOW_ENV=production``) it is refused instead.
* Authorisation: roles (see :mod:`access.roles`) and per-owner isolation. Threads, runs, crons and assistants
  are stamped with ``metadata.owner`` when created, and every read, search, update and delete is filtered on
  it: another owner's thread is a 404. Admins see everything; approvers read every thread (to review what they
  approve) and may resume one they do not own; store namespaces start with the owner's identity.
* Four eyes: a resume of an approval is refused (403) when the caller lacks ``approver``, names another
  approver, or started the run; the graph checks the same again (:mod:`graphs.trade_break_triage.tools`).
* Delegated resumes (``POST /approvals/{thread_id}``, :mod:`graphs.approval_routes`): an ``x-api-key`` starting
  ``tfd_`` is a one-use delegation credential (:mod:`access.approvals`). It authenticates as the thread's owner
  (so the server's own tenant boundary, Aegra's included, lets it through) acting for the approver, and may do
  one thing: resume that thread with the answer it was issued for, which is checked for four eyes again.
* Input validation: a run whose input or context does not fit its graph, or a triage resume that is not a
  valid answer, is refused with 422 naming the field, before the run exists, so nothing is written for it.

``disable_studio_auth`` is set in ``langgraph.json`` so Studio's requests get the same checks.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from langgraph_sdk import Auth

from access.approvals import TOKEN_PREFIX, Delegation, delegation_from_user, digest
from access.errors import AccessDenied
from access.roles import LEGACY_KEY_IDENTITY, LOCAL, METRICS_SCRAPER, ROLES, Caller, Role, caller_from_user
from access.runtime import approval_queue, key_store
from core.settings import get_settings
from graphs.errors import InvalidInputError
from graphs.registry import GRAPHS, graph_id_for_assistant, validate_input, validate_resume
from graphs.server_compat import assistant_graph_id, request_path, run_kwargs, thread_state
from graphs.trade_break_triage.approval import four_eyes_problem, parse_approval
from graphs.validation import VERSIONED, check_input_with_context, context_from_run, validate_context

logger = logging.getLogger(__name__)

auth = Auth()
APPROVAL_GRAPHS = ("trade_break_triage", "versioned_workflow")
Filter = dict[str, Any] | None


def _header(headers: Mapping[Any, Any], name: str) -> str:
    """A header's value whether the server keys headers by bytes (langgraph-api) or by text."""
    for key in (name.encode(), name):
        value = headers.get(key)
        if value:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def _metrics_token_matches(headers: Mapping[Any, Any], token: str) -> bool:
    scheme, _, presented = _header(headers, "authorization").partition(" ")
    return scheme.lower() == "bearer" and bool(presented) and hmac.compare_digest(presented.strip(), token)


async def identify(headers: Mapping[Any, Any], path: str = "") -> Caller | Delegation:
    """The caller a request's headers prove; :class:`AccessDenied` (401) when they prove none."""
    settings = get_settings()
    if path == "/metrics" and settings.metrics_token and _metrics_token_matches(headers, settings.metrics_token):
        return Caller(METRICS_SCRAPER, ())
    presented = _header(headers, "x-api-key")
    if presented.startswith(TOKEN_PREFIX):
        delegation = await asyncio.to_thread(approval_queue().delegation, presented)
        if delegation is None:
            raise AccessDenied("unknown, used or expired delegation credential", 401, "x-api-key")
        return delegation
    if presented:
        if settings.api_key and hmac.compare_digest(presented, settings.api_key):
            return Caller(LEGACY_KEY_IDENTITY, ("admin",))
        caller = await asyncio.to_thread(key_store().verify, presented)
        if caller is None:
            raise AccessDenied("unknown, wrong or revoked x-api-key", 401, "x-api-key")
        return caller
    if settings.api_key is None and not await asyncio.to_thread(key_store().any_active):
        if settings.env == "production":  # never open to everyone in production, even before the first key
            raise AccessDenied("no API key is configured: add one with `tradeflow keys add`", 401, "x-api-key")
        return Caller(LOCAL, ROLES)
    raise AccessDenied("missing x-api-key", 401, "x-api-key")


@auth.authenticate
async def authenticate(headers: dict[bytes, bytes], path: str = "") -> Auth.types.MinimalUserDict:
    """Accept a stored API key, the compatibility key, the scrape token on /metrics, or everyone on a laptop."""
    try:
        caller = await identify(headers, path or request_path())  # Aegra passes headers only
    except AccessDenied as exc:
        raise Auth.exceptions.HTTPException(status_code=exc.status, detail=str(exc)) from None
    return caller.as_user()  # type: ignore[return-value]


# --- authorisation helpers -----------------------------------------------------------------------------
def _caller(ctx: Auth.types.AuthContext) -> Caller:
    caller = caller_from_user(ctx.user)
    if caller is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="not authenticated")
    return caller


def _need(ctx: Auth.types.AuthContext, role: Role, doing: str) -> Caller:
    if delegation_from_user(ctx.user) is not None:
        raise Auth.exceptions.HTTPException(
            status_code=403, detail=f"a delegation credential resumes its one approval and may not {doing}"
        )
    try:
        return _caller(ctx).require(role, doing)
    except AccessDenied as exc:
        logger.info("refused: %s", exc)
        raise Auth.exceptions.HTTPException(status_code=exc.status, detail=str(exc)) from None


def _owned(caller: Caller) -> Filter:
    return None if caller.is_admin else {"owner": caller.identity}


def _readable(caller: Caller) -> Filter:
    return None if caller.is_admin or caller.has("approver") else {"owner": caller.identity}


def _stamp(value: Any, caller: Caller) -> None:
    """Make the caller the owner of what is being created (whatever owner the client sent)."""
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        metadata = value["metadata"] = {}
    metadata["owner"] = caller.identity


def _keep_owner(value: Any, caller: Caller) -> None:
    metadata = value.get("metadata")
    owner = metadata.get("owner") if isinstance(metadata, dict) else None
    if owner is not None and owner != caller.identity and not caller.is_admin:
        raise Auth.exceptions.HTTPException(status_code=403, detail="metadata.owner: only an admin may change it")


# --- threads and runs --------------------------------------------------------------------------------
@auth.on.threads.create
async def create_thread(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsCreate) -> Filter:
    """Operators create threads; the creator owns it."""
    caller = _need(ctx, "operator", "create a thread")
    _stamp(value, caller)
    return _owned(caller)


@auth.on.threads.read
async def read_thread(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsRead) -> Filter:
    """A thread, its state, history and runs: its owner's (approvers and admins: any; a delegation: its thread)."""
    delegation = delegation_from_user(ctx.user)
    if delegation is not None and str(value.get("thread_id")) == delegation.thread_id:
        return {"owner": delegation.owner}
    return _readable(_need(ctx, "viewer", "read threads"))


@auth.on.threads.search
async def search_threads(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsSearch) -> Filter:
    """Search finds the caller's own threads (approvers and admins: all)."""
    return _readable(_need(ctx, "viewer", "search threads"))


@auth.on.threads.update
async def update_thread(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsUpdate) -> Filter:
    """Operators change their own threads (state, metadata; cancelling runs)."""
    caller = _need(ctx, "operator", "change a thread")
    _keep_owner(value, caller)
    return _owned(caller)


@auth.on.threads.delete
async def delete_thread(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsDelete) -> Filter:
    """Operators delete their own threads."""
    return _owned(_need(ctx, "operator", "delete a thread"))


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
        context = context_from_run(graph_id, kwargs)
        if isinstance(payload, dict):
            check_input_with_context(graph_id, payload, context)
    except InvalidInputError as exc:
        return exc
    return None


def _find(values: Any, key: str) -> Any:
    return values.get(key) if isinstance(values, dict) else None


async def _requested_by(thread_id: str) -> str | None:
    """Who started the run waiting on ``thread_id``: its state says, or the approval request it is waiting on."""
    state = await thread_state(thread_id)
    found = _find(state.get("values"), "requested_by")
    pending = [i for task in state.get("tasks") or [] for i in task.get("interrupts") or []]
    for waiting in [*pending, *(state.get("interrupts") or [])]:
        if found is None:
            found = _find(waiting.get("value") if isinstance(waiting, dict) else None, "requested_by")
    return found if isinstance(found, str) else None


async def _check_four_eyes(caller: Caller, thread_id: str | None, resume: object) -> None:
    requested_by = await _requested_by(thread_id) if thread_id else None
    problem = four_eyes_problem(
        caller, parse_approval(resume), requested_by, production=get_settings().env == "production"
    )
    if problem is not None and not (problem.field == "requested_by"):  # the graph itself decides that case
        logger.warning("approval refused for %s on thread %s: %s", caller.identity, thread_id, problem.message)
        raise Auth.exceptions.HTTPException(status_code=problem.status, detail=f"{problem.field}: {problem.message}")


async def _versioned_resume_handler(thread_id: object, resume: object) -> str:
    """The handler of the step a ``versioned_workflow`` thread waits at, once ``resume`` passed its check (else 422)."""
    from graphs.versioned_resume import check_versioned_resume  # Git and the spec compiler: only for resumes

    problem: InvalidInputError
    if thread_id is None:
        problem = InvalidInputError(VERSIONED, [("resume", "a resume answers the thread that waits: name it")])
    else:
        state = await thread_state(str(thread_id))
        waiting = [i.get("value") for task in state.get("tasks") or [] for i in task.get("interrupts") or []]
        values = state.get("values")
        try:
            return await asyncio.to_thread(check_versioned_resume, values if isinstance(values, dict) else {},
                                           waiting, resume)  # fmt: skip
        except InvalidInputError as exc:
            problem = exc
    logger.info("refused resume of %s: %s", VERSIONED, problem)
    raise Auth.exceptions.HTTPException(status_code=422, detail=str(problem))


def _delegation_refused(status: int, detail: str) -> Auth.exceptions.HTTPException:
    logger.warning("delegated resume refused: %s", detail)
    return Auth.exceptions.HTTPException(status_code=status, detail=detail)


async def _delegated_resume(delegation: Delegation, value: Auth.types.RunsCreate, kwargs: dict[str, Any]) -> Filter:
    """The one run a delegation credential may create: its thread, resumed with its answer, four eyes again."""
    thread_id = str(value.get("thread_id") or "")
    command = kwargs.get("command") or {}
    if thread_id != delegation.thread_id:
        raise _delegation_refused(403, f"this delegation credential resumes thread {delegation.thread_id} only")
    if "resume" not in command or kwargs.get("input") is not None:
        raise _delegation_refused(403, "a delegation credential only resumes the approval it was issued for")
    if digest(command["resume"]) != delegation.resume_sha256:
        raise _delegation_refused(403, "resume: differs from the answer this delegation credential was issued for")
    graph_id = await _graph_id(str(value.get("assistant_id")))
    if graph_id not in APPROVAL_GRAPHS:
        raise _delegation_refused(403, "a delegation credential resumes an approval workflow only")
    problem = _problems_for(graph_id, kwargs)
    if problem is not None:
        raise Auth.exceptions.HTTPException(status_code=422, detail=str(problem))
    await _check_four_eyes(delegation.approver, thread_id, command["resume"])
    if not await asyncio.to_thread(approval_queue().consume, delegation):
        raise _delegation_refused(401, "unknown, used or expired delegation credential")
    _stamp(value, Caller(delegation.owner, ()))
    return {"owner": delegation.owner}


@auth.on.threads.create_run
async def create_run(ctx: Auth.types.AuthContext, value: Auth.types.RunsCreate) -> Filter:
    """Operators start runs on their threads; approvers answer approvals (four eyes); input checked first."""
    kwargs = run_kwargs(value)
    delegation = delegation_from_user(ctx.user)
    if delegation is not None:
        return await _delegated_resume(delegation, value, kwargs)
    resuming = "resume" in (kwargs.get("command") or {})
    caller = _need(ctx, "approver", "answer an approval") if resuming else _need(ctx, "operator", "start a run")
    assistant_id = value.get("assistant_id")
    graph_id = await _graph_id(str(assistant_id)) if assistant_id is not None else None
    if graph_id is not None:
        problem = _problems_for(graph_id, kwargs)
        if problem is not None:
            logger.info("refused run for %s: %s", graph_id, problem)
            raise Auth.exceptions.HTTPException(status_code=422, detail=str(problem))
        thread_id = value.get("thread_id")
        handler = "approval"
        if resuming and graph_id == VERSIONED:  # its answer's shape is the waiting step's handler's
            handler = await _versioned_resume_handler(thread_id, kwargs["command"]["resume"])
        if resuming and graph_id in APPROVAL_GRAPHS and handler == "approval":
            await _check_four_eyes(caller, str(thread_id) if thread_id else None, kwargs["command"]["resume"])
    _stamp(value, caller)
    return _readable(caller) if resuming else _owned(caller)


# --- assistants --------------------------------------------------------------------------------------
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
async def validate_assistant(ctx: Auth.types.AuthContext, value: Auth.types.AssistantsCreate) -> Filter:
    """Operators create assistants (context checked against the graph's knobs); the creator owns it."""
    caller = _need(ctx, "operator", "create an assistant")
    await _check_assistant_context(value)
    _stamp(value, caller)
    return _owned(caller)


@auth.on.assistants.update
async def validate_assistant_update(ctx: Auth.types.AuthContext, value: Auth.types.AssistantsUpdate) -> Filter:
    """Operators change their own assistants (the graphs' default assistants: admins only)."""
    caller = _need(ctx, "operator", "change an assistant")
    _keep_owner(value, caller)
    await _check_assistant_context(value)
    return _owned(caller)


@auth.on.assistants.delete
async def delete_assistant(ctx: Auth.types.AuthContext, value: Auth.types.AssistantsDelete) -> Filter:
    """Operators delete their own assistants."""
    return _owned(_need(ctx, "operator", "delete an assistant"))


@auth.on.assistants.read
async def read_assistant(ctx: Auth.types.AuthContext, value: Auth.types.AssistantsRead) -> Filter:
    """Assistants are shared configuration: every viewer reads them (a delegated resume reads its run's)."""
    if delegation_from_user(ctx.user) is None:
        _need(ctx, "viewer", "read assistants")
    return None


@auth.on.assistants.search
async def search_assistants(ctx: Auth.types.AuthContext, value: Auth.types.AssistantsSearch) -> Filter:
    """Assistants are shared configuration: every viewer finds them."""
    _need(ctx, "viewer", "search assistants")
    return None


# --- crons -------------------------------------------------------------------------------------------
@auth.on.crons.create
async def create_cron(ctx: Auth.types.AuthContext, value: Auth.types.CronsCreate) -> Filter:
    """Operators schedule runs; the creator owns the cron."""
    caller = _need(ctx, "operator", "schedule runs")
    _stamp(value, caller)
    return _owned(caller)


@auth.on.crons.read
async def read_cron(ctx: Auth.types.AuthContext, value: Auth.types.CronsRead) -> Filter:
    """A cron: its owner's."""
    return _owned(_need(ctx, "viewer", "read crons"))


@auth.on.crons.search
async def search_crons(ctx: Auth.types.AuthContext, value: Auth.types.CronsSearch) -> Filter:
    """Search finds the caller's own crons."""
    return _owned(_need(ctx, "viewer", "search crons"))


@auth.on.crons.update
async def update_cron(ctx: Auth.types.AuthContext, value: Auth.types.CronsUpdate) -> Filter:
    """Operators change their own crons."""
    caller = _need(ctx, "operator", "change a cron")
    _keep_owner(value, caller)
    return _owned(caller)


@auth.on.crons.delete
async def delete_cron(ctx: Auth.types.AuthContext, value: Auth.types.CronsDelete) -> Filter:
    """Operators delete their own crons."""
    return _owned(_need(ctx, "operator", "delete a cron"))


# --- store and everything else -----------------------------------------------------------------------
@auth.on.store()
async def own_namespace(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """A store namespace starts with its owner's identity; writing needs operator."""
    caller = _need(ctx, "operator" if ctx.action in ("put", "delete") else "viewer", f"{ctx.action} store items")
    namespace = tuple(value.get("namespace") or ())
    if caller.is_admin:
        return
    if not namespace or namespace[0] != caller.identity:
        raise Auth.exceptions.HTTPException(
            status_code=403, detail=f"namespace: must start with your identity {caller.identity!r}"
        )


@auth.on
async def admins_only(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Default deny: anything without its own handler above is for admins."""
    _need(ctx, "admin", f"{ctx.action} {ctx.resource}")
