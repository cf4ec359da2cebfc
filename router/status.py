"""A snapshot of every backend: enabled or not, breaker state and measured latency."""

from __future__ import annotations

import math
from typing import Any

from core.settings import redact_url
from router.clients import base_url
from router.engine import Router


def backend_status(router: Router) -> list[dict[str, Any]]:
    """One JSON-able row per backend, in table order."""
    rows = []
    now = router.clock()
    for name, backend in router.backends.items():
        stats = router.health.stats[name]
        breaker = router.health.breakers[name]
        rows.append(
            {
                "backend": name,
                "kind": backend.kind,
                "model": backend.model,
                "base_url": redact_url(base_url(backend)),  # credentials in a URL are never shown
                "enabled": name not in router.table.disabled_reason,
                "disabled_reason": router.table.disabled_reason.get(name),
                "breaker": str(breaker.state),
                "open_for_s": round(max(breaker.open_until - now, 0.0), 3) if breaker.state == "open" else 0.0,
                "samples": stats.samples,
                "ewma_ttft_s": round(stats.ttft_s, 4),
                "ewma_per_token_s": round(stats.per_token_s, 6),
                "p95_s": None if stats.p95_s is None or math.isnan(stats.p95_s) else round(stats.p95_s, 4),
            }
        )
    return rows
