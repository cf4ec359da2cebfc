"""The model seam's advice and start-up probe.

Every model call of the trading graphs is an LLM step of their spec, which runs the ``llm_router`` subgraph
(``versioning/steps.py``): each call is routed over the backend table (``TRADEFLOW_ROUTER_CONFIG``, or the
committed default) by cost, speed and health. When no backend answers, the step raises
:class:`~graphs.errors.LLMUnavailableError` with :data:`HOW_TO_CONFIGURE` (``graphs/workflows.py``).
"""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import BaseModel

from core.settings import Settings
from router.clients import describe
from router.probes import probe_all
from router.runtime import router_for

logger = logging.getLogger(__name__)

SchemaT = TypeVar("SchemaT", bound=BaseModel)

HOW_TO_CONFIGURE = (
    "Configure a model in .env: set OPENAI_API_KEY (and optionally OPENAI_BASE_URL, TRADEFLOW_OPENAI_MODEL) "
    "for OpenAI, VLLM_BASE_URL for a vLLM server, or start Ollama and set OLLAMA_BASE_URL and "
    "TRADEFLOW_OLLAMA_MODEL; TRADEFLOW_ROUTER_CONFIG names a backend table of your own (see .env.example)."
)


async def probe_models(settings: Settings, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Probe every enabled backend without spending tokens; a sentence for start-up output."""
    router = router_for(settings)
    enabled = [b for b in router.config.backends if b.name not in router.table.disabled_reason]
    if not enabled:
        reasons = "; ".join(f"{n}: {why}" for n, why in router.table.disabled_reason.items())
        return False, f"LLM not configured: no backend is enabled ({reasons}). {HOW_TO_CONFIGURE}"
    results = await probe_all(enabled, timeout_s, env=router.env)
    up = [r for r in results if r.ok]
    for result in results:
        router.record_probe(result.backend, result.ok)
    if up:
        names = ", ".join(describe(router.backends[r.backend]) for r in up)
        return True, f"LLM reachable: {names}"
    tried = "; ".join(f"{describe(router.backends[r.backend])}: {r.detail}" for r in results)
    return False, f"LLM not reachable: tried {tried}. {HOW_TO_CONFIGURE}"
