"""The process's key store, approval audit and approval queue, built from settings (dropped when settings are reset)."""

from __future__ import annotations

import functools

from access.approvals import ApprovalQueue
from access.audit import ApprovalAudit
from access.db import AccessDB
from access.keys import KeyStore
from core.settings import get_settings, on_settings_reset


@functools.cache
def access_db() -> AccessDB:
    """The access database for the current settings: Postgres on ``DATABASE_URL``, else SQLite in the data dir."""
    settings = get_settings()
    return AccessDB(settings.database_url, settings.access_sqlite_path)


@functools.cache
def key_store() -> KeyStore:
    """The key store (verified keys cached ``TRADEFLOW_KEY_CACHE_S`` seconds)."""
    return KeyStore(access_db(), get_settings().key_cache_s)


@functools.cache
def approval_audit() -> ApprovalAudit:
    """The append-only approval audit."""
    return ApprovalAudit(access_db())


@functools.cache
def approval_queue() -> ApprovalQueue:
    """Approvals waiting for a decision, and their delegation credentials."""
    return ApprovalQueue(access_db())


@on_settings_reset
def _reset() -> None:
    if access_db.cache_info().currsize:
        access_db().close()
    access_db.cache_clear()
    key_store.cache_clear()
    approval_audit.cache_clear()
    approval_queue.cache_clear()
