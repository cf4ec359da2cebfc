"""The backend table and router settings, loaded from YAML and validated with errors naming entry and field.

Keys never appear in the file: a backend names the environment variable that holds its key
(``api_key_env``), read when the client is built. Prices are not in this file either: they belong to models,
in the one price table (:mod:`core.prices`), shared with analytics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.settings import get_settings
from router.errors import RouterConfigError

BackendKind = Literal["openai", "ollama", "vllm", "openai_compatible"]
Strategy = Literal["cost", "performance", "balanced"]
DEFAULT_CONFIG = Path(__file__).with_name("backends.default.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyPrior(_Strict):
    """What to expect before the first measurement; replaced by measured EWMAs as calls complete."""

    ttft_s: float = Field(default=0.5, gt=0)
    tokens_per_s: float = Field(default=50.0, gt=0)


class BackendConfig(_Strict):
    """One model on one endpoint."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: BackendKind
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    requires_env: tuple[str, ...] = ()
    """Variables that must be set for this backend to be used (e.g. VLLM_BASE_URL)."""
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    capabilities: frozenset[str] = frozenset()
    quality_tier: int = Field(default=1, ge=1, le=5)
    latency_prior: LatencyPrior = LatencyPrior()

    @model_validator(mode="before")
    @classmethod
    def _no_inline_prices(cls, data: Any) -> Any:
        if isinstance(data, dict) and "prices" in data:
            raise ValueError(
                "prices are no longer set per backend: add the model to the price table "
                "(core/prices.default.yaml, or the file TRADEFLOW_PRICES_FILE names)"
            )
        return data

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _local_needs_url(self) -> BackendConfig:
        if self.kind in ("ollama", "vllm", "openai_compatible") and not self.base_url:
            raise ValueError(f"base_url is required for kind {self.kind!r}")
        if self.max_output_tokens > self.context_window:
            raise ValueError("max_output_tokens cannot exceed context_window")
        return self


class Timeouts(_Strict):
    """Limits for one attempt, in seconds.

    While another candidate could take the call, a backend is given ``first_token_factor`` times its own
    measured time to first token (p95), never less than ``first_token_floor_s``; before any measurement,
    ``first_token_default_s``. ``first_token_s`` is the ceiling (it wins over the floor), and the limit when no
    fallback is left.
    """

    connect_s: float = Field(default=3.0, gt=0)
    first_token_s: float = Field(default=20.0, gt=0)
    first_token_default_s: float = Field(default=8.0, gt=0)
    first_token_floor_s: float = Field(default=2.0, gt=0)
    first_token_factor: float = Field(default=4.0, ge=1)
    stream_idle_s: float = Field(default=10.0, gt=0)


class RetryPolicy(_Strict):
    """How much one request may spend on retries and fallbacks altogether."""

    max_attempts: int = Field(default=4, ge=1, le=20)
    total_budget_s: float = Field(default=60.0, gt=0)
    backoff_base_s: float = Field(default=0.25, ge=0)
    backoff_max_s: float = Field(default=5.0, ge=0)


class BreakerPolicy(_Strict):
    """Per-backend circuit breaker."""

    failure_threshold: int = Field(default=3, ge=1)
    open_s: float = Field(default=1.0, gt=0)
    max_open_s: float = Field(default=4.0, gt=0)


class Weights(_Strict):
    """Weights of the one scoring function; normalised to sum to 1."""

    cost: float = Field(default=0.4, ge=0)
    latency: float = Field(default=0.4, ge=0)
    quality: float = Field(default=0.2, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> Weights:
        if self.cost + self.latency + self.quality == 0:
            raise ValueError("at least one weight must be positive")
        return self


class RouterConfig(_Strict):
    """The whole router file."""

    backends: tuple[BackendConfig, ...]
    default_strategy: Strategy = "balanced"
    balanced_weights: Weights = Weights()
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    budgets_usd_per_day: dict[str, float] = Field(default_factory=dict)
    """Spend limit per workflow per UTC day; '*' applies to workflows not listed."""
    health_probe_interval_s: float = Field(default=5.0, gt=0)
    log_prompts: bool = False

    @model_validator(mode="after")
    def _unique_names(self) -> RouterConfig:
        seen: set[str] = set()
        for backend in self.backends:
            if backend.name in seen:
                raise ValueError(f"backend name {backend.name!r} is used twice")
            seen.add(backend.name)
        return self


def _location(loc: tuple[int | str, ...], data: object) -> str:
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
            name = node.get("name") if isinstance(node, dict) else None
            parts.append(f"[{part}]" + (f" ({name})" if name else ""))
        else:
            parts.append(f".{part}" if parts else str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


def parse_config(data: object, source: str) -> RouterConfig:
    """Validate parsed YAML; the error names the file, the entry and the field."""
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_location(e['loc'], data) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise RouterConfigError(f"{source}: " + "; ".join(problems)) from None


_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, env: Mapping[str, str], source: str) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` with values from ``env`` (empty counts as unset)."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise RouterConfigError(f"{source}: ${{{name}}} is used but {name} is not set and has no default")

    return _ENV_REF.sub(substitute, text)


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> RouterConfig:
    """Read, expand and validate the router file (the committed default when ``path`` is None).

    ``${VAR}`` is filled from ``env``, by default the settings' merged environment (process over ``.env``).
    """
    path = path or DEFAULT_CONFIG
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RouterConfigError(f"{path}: file not found (TRADEFLOW_ROUTER_CONFIG)") from None
    try:
        data = yaml.safe_load(expand_env(text, get_settings().environ if env is None else env, str(path)))
    except yaml.YAMLError as exc:
        raise RouterConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path))
