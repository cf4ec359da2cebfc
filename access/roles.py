"""Roles and the caller: who sent a request or started a run, and the check a route or a node makes.

Roles: ``viewer`` reads (threads, reports, versions, backends); ``operator`` runs workflows and publishes,
labels and rolls back versions; ``approver`` answers approval interrupts; ``admin`` may do everything and
sees every owner's threads. ``operator`` and ``approver`` include ``viewer``; ``admin`` includes all.

Nothing here depends on a server. :func:`caller_from_request` reads what an authentication middleware put in
the ASGI scope (``scope["user"]``, as Starlette's ``AuthenticationMiddleware`` does under langgraph-api);
:func:`caller_from_config` reads what the server put in a run's config. A server that passes the user
differently is adapted in these two functions only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from access.errors import AccessDenied

Role = Literal["viewer", "operator", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "approver", "admin")
# The identity of a request when no key is configured (a laptop): it holds every role.
LOCAL = "local"
# The identity of the single TRADEFLOW_API_KEY (kept for compatibility): an admin.
LEGACY_KEY_IDENTITY = "api-key"
METRICS_SCRAPER = "metrics-scraper"

_IMPLIED: dict[str, frozenset[str]] = {
    "viewer": frozenset({"viewer"}),
    "operator": frozenset({"operator", "viewer"}),
    "approver": frozenset({"approver", "viewer"}),
    "admin": frozenset(ROLES),
}


def parse_roles(values: Iterable[str]) -> tuple[Role, ...]:
    """Roles named by a user (``--role``), checked; an unknown name is refused naming the known ones."""
    roles: list[Role] = []
    for value in values:
        for name in filter(None, (part.strip().lower() for part in value.split(","))):
            if name not in ROLES:
                raise AccessDenied(f"unknown role {name!r}; roles: {', '.join(ROLES)}", 422, "role")
            if name not in roles:
                roles.append(name)
    if not roles:
        raise AccessDenied(f"at least one role is needed; roles: {', '.join(ROLES)}", 422, "role")
    return tuple(roles)


@dataclass(frozen=True)
class Caller:
    """An authenticated identity and the roles it holds (as granted; :meth:`has` expands implied roles)."""

    identity: str
    roles: tuple[str, ...]

    @property
    def permissions(self) -> list[str]:
        """Every role held, implied ones included (what the server stores as the user's permissions)."""
        held: set[str] = set()
        for role in self.roles:
            held |= _IMPLIED.get(role, frozenset())
        return sorted(held)

    def has(self, role: Role) -> bool:
        """True when the caller holds ``role`` (directly or through admin, operator or approver)."""
        return role in self.permissions

    @property
    def is_admin(self) -> bool:
        """Admins see every owner's threads."""
        return self.has("admin")

    def require(self, role: Role, doing: str) -> Caller:
        """This caller, or a 403 naming the identity, the missing role and what it tried."""
        if not self.has(role):
            held = ", ".join(self.roles) or "none"
            raise AccessDenied(f"{self.identity!r} (roles: {held}) may not {doing}: it needs the {role} role")
        return self

    def as_user(self) -> dict[str, Any]:
        """The user dict an ``@auth.authenticate`` handler returns."""
        return {"identity": self.identity, "roles": list(self.roles), "permissions": self.permissions,
                "is_authenticated": True}  # fmt: skip


def caller_from_user(user: Any) -> Caller | None:
    """A caller from a server's user object: a mapping or an object with ``identity`` (and roles/permissions)."""
    if user is None:
        return None
    if isinstance(user, Mapping):
        identity, roles, permissions = user.get("identity"), user.get("roles"), user.get("permissions")
    else:
        identity = getattr(user, "identity", None)
        getter = getattr(user, "get", None)
        roles = getter("roles") if callable(getter) else getattr(user, "roles", None)
        permissions = getter("permissions") if callable(getter) else getattr(user, "permissions", None)
    if not isinstance(identity, str) or not identity:
        return None
    granted = roles if isinstance(roles, list | tuple) else permissions if isinstance(permissions, list | tuple) else ()
    return Caller(identity, tuple(str(role) for role in granted if str(role) in ROLES))


def caller_from_config(config: Mapping[str, Any] | None) -> Caller | None:
    """The caller who sent the run this config belongs to, or None for an in-process run (no server).

    langgraph-api puts the authenticated user in ``configurable["langgraph_auth_user"]`` (a user object
    or, once serialised, a dict) and its identity in ``"langgraph_auth_user_id"``.
    """
    configurable = (config or {}).get("configurable") or {}
    caller = caller_from_user(configurable.get("langgraph_auth_user"))
    if caller is not None:
        return caller
    identity = configurable.get("langgraph_auth_user_id")
    if isinstance(identity, str) and identity:
        permissions = configurable.get("langgraph_auth_permissions") or ()
        return Caller(identity, tuple(str(p) for p in permissions if str(p) in ROLES))
    return None


def caller_from_request(request: Any) -> Caller | None:
    """The caller an authentication middleware attached to a Starlette/FastAPI request (``scope["user"]``)."""
    scope = getattr(request, "scope", request)
    user = scope.get("user") if isinstance(scope, Mapping) else None
    caller = caller_from_user(user)
    if caller is not None and not caller.roles:
        scopes = getattr(scope.get("auth"), "scopes", None) if isinstance(scope, Mapping) else None
        caller = Caller(caller.identity, tuple(s for s in scopes or () if s in ROLES))
    return caller


def require_role(request: Any, role: Role, doing: str) -> Caller:
    """The request's caller when it holds ``role``; 401 when the request is not authenticated, 403 otherwise."""
    caller = caller_from_request(request)
    if caller is None:
        raise AccessDenied("not authenticated: send an API key in x-api-key", 401, "x-api-key")
    return caller.require(role, doing)
