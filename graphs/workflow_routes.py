"""HTTP routes for workflow versions and experiments on the tradeflow server (see the cross-issue contract).

Authenticated like the API (``http.enable_custom_route_auth``: the server's auth hook runs first); reading
needs the ``viewer`` role, publishing, moving labels, rolling back and running experiments ``operator``
(:func:`access.roles.require_role`). Who did it is the authenticated identity, never a name in the body.
Errors are JSON ``{"error": ..., "field": ...}`` with a 4xx status; a body over ``TRADEFLOW_MAX_BODY_BYTES`` is
413; blocking work (Git, the database) runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from access.errors import AccessDenied
from access.roles import Role, require_role
from analytics.http import report_store
from core.errors import TradeflowError
from graphs.versioning_service import VersioningService, service
from graphs.workflow_assistants import ensure_assistant
from versioning.errors import (
    ConflictError,
    ExperimentError,
    LabelError,
    ResolutionError,
    SpecError,
    StoreError,
    UnknownVersionError,
    UnknownWorkflowError,
    VersioningError,
)
from versioning.labels import ANY, KEEP

Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(TradeflowError):
    """A request body or query parameter that is missing or of the wrong type."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        self.field = field
        self.status = status
        super().__init__(f"{field}: {message}")


def _status(exc: TradeflowError, method: str) -> int:
    if isinstance(exc, BadRequest | AccessDenied):
        return exc.status
    if isinstance(exc, UnknownWorkflowError | UnknownVersionError):
        return 404 if method == "GET" else 422
    if isinstance(exc, ConflictError) or (isinstance(exc, ExperimentError) and exc.field == "workflow"):
        return 409
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, SpecError | LabelError | ExperimentError | ResolutionError | VersioningError):
        return 422
    return 400


def _error(exc: TradeflowError, method: str) -> JSONResponse:
    body: dict[str, Any] = {"error": str(exc), "field": getattr(exc, "field", None)}
    if isinstance(exc, SpecError):
        body["problems"] = [{"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                            for p in exc.problems]  # fmt: skip
    return JSONResponse(body, status_code=_status(exc, method))


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 once it passes the limit (read no further)."""
    limit = service().settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest("(body)", f"larger than the {limit}-byte limit (TRADEFLOW_MAX_BODY_BYTES)", 413)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise BadRequest("(body)", f"larger than the {limit}-byte limit (TRADEFLOW_MAX_BODY_BYTES)", 413)
    return bytes(chunks)


def endpoint(
    work: Callable[[Request, VersioningService, dict[str, Any]], Any], status: int = 200, *, role: Role = "viewer"
) -> Handler:
    """Check the caller's role, parse the JSON body, run ``work`` in a thread, map errors to JSON 4xx answers."""
    doing = (work.__doc__ or work.__name__).split(":")[0].strip()

    async def handle(request: Request) -> Response:
        try:
            require_role(request, role, doing)
            body: dict[str, Any] = {}
            if request.method in ("POST", "PUT"):
                raw = await _body(request)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError as exc:
                    raise BadRequest("(body)", f"not valid JSON: {exc}", 400) from None
                if not isinstance(body, dict):
                    raise BadRequest("(body)", "expected a JSON object", 400)
            result = await asyncio.to_thread(work, request, service(), body)
        except TradeflowError as exc:
            return _error(exc, request.method)
        return JSONResponse(result, status_code=status)

    return handle


def _int(value: Any, field: str, *, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise BadRequest(field, "required")
        return None
    if isinstance(value, bool):
        raise BadRequest(field, f"expected a version number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(field, f"expected a version number, got {value!r}") from None


def _text(body: dict[str, Any], field: str, default: str | None = None) -> str | None:
    value = body.get(field, default)
    if value is not None and not isinstance(value, str):
        raise BadRequest(field, f"expected text, got {value!r}")
    return value


def _actor(request: Request, body: dict[str, Any]) -> str:
    caller = require_role(request, "viewer", "act")
    return caller.identity


def _workflow(request: Request) -> str:
    return str(request.path_params["workflow"])


# --- workflows ---------------------------------------------------------------------------------------
def list_workflows(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /workflows: every published workflow with its latest version and labels."""
    return svc.workflows()


def publish(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """POST /workflows: validate and publish a spec ({yaml} or {spec}, message, author)."""
    spec = body.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise BadRequest("spec", "expected an object")
    published = svc.publish(text=_text(body, "yaml"), spec=spec, message=_text(body, "message") or "",
                            author=_actor(request, body))  # fmt: skip
    ensure_assistant(published.workflow)
    return {"workflow": published.workflow, "version": published.version, "sha": published.sha,
            "created": published.created}  # fmt: skip


def versions(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /workflows/{id}/versions: the history."""
    return svc.versions(_workflow(request))


def version(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /workflows/{id}/versions/{n}: one version's spec and YAML."""
    return svc.version(_workflow(request), _int(request.path_params["version"], "version") or 0)


def resolve(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /workflows/{id}/resolve?label=&unit_key=&version=: what a run would get now."""
    query = request.query_params
    return svc.resolve(_workflow(request), label=query.get("label") or None, unit_key=query.get("unit_key") or None,
                       version=_int(query.get("version"), "version", required=False))  # fmt: skip


def diff(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /workflows/{id}/diff?from=&to=: structural and unified diff."""
    query = request.query_params
    return svc.diff(_workflow(request), _int(query.get("from"), "from") or 0, _int(query.get("to"), "to") or 0)


def labels(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /workflows/{id}/labels: label -> version."""
    workflow = _workflow(request)
    svc.store.versions(workflow)
    return svc.labels.all().get(workflow, {})


def _expect(body: dict[str, Any]) -> object:
    """``expect``: the version the caller saw the label at (null: no such label yet); absent: unconditional."""
    return _int(body["expect"], "expect", required=False) if "expect" in body else ANY


def set_label(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """PUT /workflows/{id}/labels/{label}: {version, reason, guardrail?, expect?}; one transaction."""
    workflow, label = _workflow(request), str(request.path_params["label"])
    number = _int(body.get("version"), "version") or 0
    guardrail = body.get("guardrail")
    if guardrail is not None and not isinstance(guardrail, dict):
        raise BadRequest("guardrail", "expected an object of thresholds or null")
    move = svc.move_label(workflow, label, number, actor=_actor(request, body), reason=_text(body, "reason") or "",
                          expect=_expect(body), guardrail=guardrail if "guardrail" in body else KEEP)  # fmt: skip
    return {"workflow": workflow, "label": label, "from": move.from_version, "to": move.to_version}


def rollback(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """POST /workflows/{id}/rollback: {label, to?, reason}."""
    workflow = _workflow(request)
    move = svc.labels.rollback(workflow, label=_text(body, "label", "production") or "production",
                               to=_int(body.get("to"), "to", required=False), actor=_actor(request, body),
                               reason=_text(body, "reason") or "", expect=_expect(body))  # fmt: skip
    return {"workflow": workflow, "label": move.label, "from": move.from_version, "to": move.to_version}


def audit(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /workflows/{id}/audit: label moves, rollbacks, experiments and guardrail events."""
    workflow = _workflow(request)
    svc.store.versions(workflow)
    return [event.__dict__ for event in svc.labels.audit(workflow)]


# --- experiments -------------------------------------------------------------------------------------
def list_experiments(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /experiments?workflow=: experiments, newest first."""
    return [e.as_dict() for e in svc.experiments.list(request.query_params.get("workflow") or None)]


def start_experiment(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """POST /experiments: {workflow, arms, name?, label?, salt?, shadow?, reason?}."""
    workflow = _text(body, "workflow")
    if not workflow:
        raise BadRequest("workflow", "required")
    arms = body.get("arms")
    if not isinstance(arms, list) or not all(isinstance(a, dict) for a in arms):
        raise BadRequest("arms", "expected a list of {name, weight, version or label}")
    experiment = svc.experiments.start(
        workflow, arms, actor=_actor(request, body), name=_text(body, "name"),
        label=_text(body, "label", "production") or "production", salt=_text(body, "salt"),
        shadow=_int(body.get("shadow"), "shadow", required=False), reason=_text(body, "reason") or "",
    )  # fmt: skip
    return experiment.as_dict()


def get_experiment(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /experiments/{id}."""
    return svc.experiments.get(str(request.path_params["experiment"])).as_dict()


def _revision(body: dict[str, Any]) -> int | None:
    """``revision``: the one the caller read; the change is refused (409) when the experiment has moved on."""
    return _int(body.get("revision"), "revision", required=False)


def ramp_experiment(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """POST /experiments/{id}/ramp: {weights, reason?, revision?}."""
    weights = body.get("weights")
    if not isinstance(weights, dict):
        raise BadRequest("weights", "expected an object of arm -> weight")
    experiment = svc.experiments.ramp(str(request.path_params["experiment"]), weights, actor=_actor(request, body),
                                      reason=_text(body, "reason") or "", expect_revision=_revision(body))  # fmt: skip
    return experiment.as_dict()


def stop_experiment(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """POST /experiments/{id}/stop: {reason?, revision?}."""
    experiment = svc.experiments.stop(str(request.path_params["experiment"]), actor=_actor(request, body),
                                      reason=_text(body, "reason") or "", expect_revision=_revision(body))  # fmt: skip
    return experiment.as_dict()


def experiment_report(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """GET /experiments/{id}/report: per-arm figures, SRM, significance, shadow pairs."""
    return svc.experiment_report(str(request.path_params["experiment"]), report_store())


def check_guardrails(request: Request, svc: VersioningService, body: dict[str, Any]) -> Any:
    """POST /workflows/guardrails/check: evaluate every label's guardrail now."""
    return svc.check_guardrails(report_store())


routes = [
    Route("/workflows", endpoint(list_workflows), methods=["GET"]),
    Route("/workflows", endpoint(publish, 201, role="operator"), methods=["POST"]),
    Route("/workflows/guardrails/check", endpoint(check_guardrails, role="operator"), methods=["POST"]),
    Route("/workflows/{workflow}/versions", endpoint(versions), methods=["GET"]),
    Route("/workflows/{workflow}/versions/{version}", endpoint(version), methods=["GET"]),
    Route("/workflows/{workflow}/resolve", endpoint(resolve), methods=["GET"]),
    Route("/workflows/{workflow}/diff", endpoint(diff), methods=["GET"]),
    Route("/workflows/{workflow}/labels", endpoint(labels), methods=["GET"]),
    Route("/workflows/{workflow}/labels/{label}", endpoint(set_label, role="operator"), methods=["PUT"]),
    Route("/workflows/{workflow}/rollback", endpoint(rollback, role="operator"), methods=["POST"]),
    Route("/workflows/{workflow}/audit", endpoint(audit), methods=["GET"]),
    Route("/experiments", endpoint(list_experiments), methods=["GET"]),
    Route("/experiments", endpoint(start_experiment, 201, role="operator"), methods=["POST"]),
    Route("/experiments/{experiment}", endpoint(get_experiment), methods=["GET"]),
    Route("/experiments/{experiment}/ramp", endpoint(ramp_experiment, role="operator"), methods=["POST"]),
    Route("/experiments/{experiment}/stop", endpoint(stop_experiment, role="operator"), methods=["POST"]),
    Route("/experiments/{experiment}/report", endpoint(experiment_report), methods=["GET"]),
]
