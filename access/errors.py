"""Errors raised by ``access``.

Hierarchy::

    TradeflowError (core.errors)
    └── AccessError                base for everything in ``access``
        ├── AccessDenied           no or a bad credential (401), or a role or identity not allowed (403)
        ├── KeyStoreError          the key or audit database cannot be reached or set up
        └── UnknownKeyError        a key id that is not in the store (revoke, list)
"""

from __future__ import annotations

from core.errors import TradeflowError


class AccessError(TradeflowError):
    """Base class of errors raised in ``access``."""


class AccessDenied(AccessError):
    """A request refused for who sent it; ``status`` is 401 (who are you?) or 403 (not you)."""

    def __init__(self, message: str, status: int = 403, field: str | None = None) -> None:
        self.status = status
        self.field = field
        super().__init__(message)


class KeyStoreError(AccessError):
    """The database holding keys and the approval audit cannot be reached or set up."""


class UnknownKeyError(AccessError):
    """A key id that is not in the store."""
