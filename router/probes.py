"""Active health probes that spend no tokens: model lists and health endpoints."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.settings import get_settings, redact_url
from router.clients import base_url
from router.config import BackendConfig

if TYPE_CHECKING:
    import httpx

    from router.engine import Router

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found."""

    backend: str
    ok: bool
    detail: str
    latency_s: float


def probe_urls(backend: BackendConfig) -> list[str]:
    """The token-free endpoints to check for a backend of this kind."""
    root = base_url(backend).rstrip("/")
    if backend.kind == "ollama":
        return [f"{root}/api/tags", f"{root}/api/ps"]
    if backend.kind == "vllm":
        server = root.removesuffix("/v1")
        return [f"{server}/health", f"{root}/models"]
    return [f"{root}/models"]


async def probe(backend: BackendConfig, client: httpx.AsyncClient, env: Mapping[str, str] | None = None) -> ProbeResult:
    """Check each of the backend's endpoints; the first failure decides."""
    import httpx

    env = get_settings().environ if env is None else env
    headers = {}
    if backend.api_key_env and env.get(backend.api_key_env):
        headers["Authorization"] = f"Bearer {env[backend.api_key_env]}"
    loop = asyncio.get_running_loop()
    started = loop.time()
    for url in probe_urls(backend):
        try:
            response = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            detail = str(exc).replace(url, redact_url(url))
            return ProbeResult(backend.name, False, f"{type(exc).__name__}: {detail}", loop.time() - started)
        if response.status_code >= 400:
            shown = redact_url(url)  # a backend URL may carry credentials: never shown
            return ProbeResult(backend.name, False, f"HTTP {response.status_code} from {shown}", loop.time() - started)
    return ProbeResult(backend.name, True, "ok", loop.time() - started)


async def probe_all(
    backends: list[BackendConfig], timeout_s: float = 2.0, env: Mapping[str, str] | None = None
) -> list[ProbeResult]:
    """Probe every backend concurrently."""
    import httpx

    async with httpx.AsyncClient(timeout=timeout_s) as client:
        return list(await asyncio.gather(*(probe(b, client, env) for b in backends)))


async def probe_forever(router: Router, interval_s: float | None = None) -> None:
    """Probe the router's enabled backends every ``interval_s`` and feed the results to their breakers.

    Runs until cancelled (the server's lifespan starts and cancels it).
    """
    interval = interval_s or router.config.health_probe_interval_s
    enabled = [b for b in router.config.backends if b.name not in router.table.disabled_reason]
    while True:
        for result in await probe_all(enabled, timeout_s=min(interval, 2.0), env=router.env):
            router.record_probe(result.backend, result.ok)
            if not result.ok:
                logger.info("health probe failed for %s: %s", result.backend, result.detail)
        await asyncio.sleep(interval)
