"""Latency and TTFT figures that survive a restart: seeded from the analytics rows of recent calls.

Analytics writes one ``llm_calls`` row per attempt (Postgres on ``DATABASE_URL``, else
``<data dir>/analytics.sqlite``). A new router reads the last successful calls of each of its backends (same
model, last 24 hours, at most the size of the latency window) and folds them in oldest first, so a fresh
process ranks ``--strategy performance`` by what was measured, not by the priors. The table is read as data:
the router does not import analytics. Missing tables or an unreachable database leave the priors in place.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.settings import Settings, redact_url
from router.health import WINDOW

if TYPE_CHECKING:
    from router.engine import Router

logger = logging.getLogger(__name__)

_QUERY = """
SELECT backend, model, ttft_s, latency_s, output_tokens FROM (
    SELECT backend, model, ttft_s, latency_s, output_tokens, ts,
           row_number() OVER (PARTITION BY backend ORDER BY ts DESC) AS newest
    FROM llm_calls
    WHERE status = 'success' AND backend IS NOT NULL AND ts >= {since}
) AS recent
WHERE newest <= {window}
ORDER BY ts
"""


def _rows(settings: Settings, since: datetime) -> list[tuple[Any, ...]]:
    if settings.database_url:
        import psycopg

        query = _QUERY.format(since="%(since)s", window=WINDOW)
        with psycopg.connect(settings.database_url, connect_timeout=3, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('llm_calls')").fetchone() in (None, (None,)):
                return []
            return list(conn.execute(query, {"since": since}).fetchall())
    path = settings.data_dir / "analytics.sqlite"
    if not path.is_file():
        return []
    lite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        if lite.execute("SELECT name FROM sqlite_master WHERE name = 'llm_calls'").fetchone() is None:
            return []
        return lite.execute(_QUERY.format(since="?", window=WINDOW), (since.isoformat(),)).fetchall()
    finally:
        lite.close()


def seed_latency(router: Router, settings: Settings, hours: float = 24.0) -> int:
    """Fold recent measured calls into ``router``'s latency figures; returns how many were used."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
    if settings.database_url:
        import psycopg

        errors = (*errors, psycopg.Error)
    try:
        rows = _rows(settings, since)
    except errors as exc:
        # The figures are a cache: the priors stand in until calls are measured.
        where = redact_url(settings.database_url) if settings.database_url else str(settings.data_dir)
        logger.warning("latency figures not seeded from analytics at %s: %s", where, exc)
        return 0
    used = 0
    for backend, model, ttft_s, latency_s, output_tokens in rows:
        config = router.backends.get(backend)
        if config is None or config.model != model or latency_s is None:
            continue
        ttft = float(ttft_s) if ttft_s is not None else float(latency_s)
        # A whole (non-streamed) answer records its latency as its TTFT; it says nothing of the stream's TTFT.
        streamed = ttft_s is not None and float(ttft_s) < float(latency_s)
        router.health.observe(backend, ttft, float(latency_s), int(output_tokens), streamed=streamed)
        used += 1
    if used:
        logger.info("latency figures seeded from %d analytics rows", used)
    return used
