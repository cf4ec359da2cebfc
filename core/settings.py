"""The one Settings object: read from the environment and ``.env``, validated at start-up.

Every variable is listed in ``.env.example``. A bad value raises :class:`SettingsError` naming the
variable, so the server and the CLI stop before doing anything with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from dotenv import dotenv_values

from core.errors import SettingsError

Environment = Literal["development", "production"]
Provider = Literal["auto", "openai", "ollama"]

_PLACEHOLDER_MARKERS = ("changeme", "change-me", "placeholder", "your-key", "sk-xxx", "dummy")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Per-process configuration. Build it with :func:`load_settings`."""

    env: Environment = "development"
    host: str = "127.0.0.1"
    port: int = 2024
    log_level: str = "INFO"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    api_key: str | None = None
    llm_provider: Provider = "auto"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    ollama_base_url: str = "http://127.0.0.1:11434"
    ollama_model: str = "llama3.1"
    langsmith_tracing: bool = False
    router_config: Path | None = None
    routing_strategy: str | None = None
    prices_file: Path | None = None
    analytics_retention_days: int = 90

    @property
    def sqlite_checkpoint_path(self) -> Path:
        """Where the embedded (no Postgres) checkpointer keeps its database."""
        return self.data_dir / "checkpoints.sqlite"


def _text(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = _text(env, name, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"expected an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(name, f"expected an integer from {lo} to {hi}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(name, f"expected true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (_text(env, name, default) or default).lower()
    if value not in allowed:
        raise SettingsError(name, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _optional_choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(env, name, None)
    return None if value is None else _choice(env, name, value, allowed)


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = _text(env, name, None)
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise SettingsError(name, f"expected a readable file, {value!r} does not exist")
    return path


def _url(env: Mapping[str, str], name: str, default: str | None, schemes: tuple[str, ...]) -> str | None:
    value = _text(env, name, default)
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise SettingsError(
            name, f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}, got {_redact(value)!r}"
        )
    return value


def _redact(url: str) -> str:
    """Drop any password from a URL so it can appear in an error message."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def _refuse_placeholder(env_name: Environment, name: str, value: str | None) -> None:
    if env_name == "production" and value and any(m in value.lower() for m in _PLACEHOLDER_MARKERS):
        raise SettingsError(
            name, "holds a placeholder value; set the real secret (placeholders are refused in production)"
        )


def settings_from_mapping(env: Mapping[str, str]) -> Settings:
    """Validate ``env`` (already merged with ``.env``) into :class:`Settings`."""
    environment: Environment = _choice(env, "TRADEFLOW_ENV", "development", ("development", "production"))  # type: ignore[assignment]
    provider: Provider = _choice(env, "TRADEFLOW_LLM_PROVIDER", "auto", ("auto", "openai", "ollama"))  # type: ignore[assignment]
    log_level = _choice(env, "TRADEFLOW_LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
    openai_key = _text(env, "OPENAI_API_KEY", None)
    api_key = _text(env, "TRADEFLOW_API_KEY", None)
    _refuse_placeholder(environment, "OPENAI_API_KEY", openai_key)
    _refuse_placeholder(environment, "TRADEFLOW_API_KEY", api_key)
    settings = Settings(
        env=environment,
        host=_text(env, "TRADEFLOW_HOST", "127.0.0.1") or "127.0.0.1",
        port=_int(env, "TRADEFLOW_PORT", 2024, 1, 65535),
        log_level=log_level,
        data_dir=Path(_text(env, "TRADEFLOW_DATA_DIR", ".data") or ".data"),
        database_url=_url(env, "DATABASE_URL", None, ("postgres", "postgresql")),
        api_key=api_key,
        llm_provider=provider,
        openai_api_key=openai_key,
        openai_base_url=_url(env, "OPENAI_BASE_URL", None, ("http", "https")),
        openai_model=_text(env, "TRADEFLOW_OPENAI_MODEL", "gpt-4o-mini") or "gpt-4o-mini",
        ollama_base_url=_url(env, "OLLAMA_BASE_URL", "http://127.0.0.1:11434", ("http", "https"))
        or "http://127.0.0.1:11434",
        ollama_model=_text(env, "TRADEFLOW_OLLAMA_MODEL", "llama3.1") or "llama3.1",
        langsmith_tracing=_bool(env, "LANGSMITH_TRACING", False),
        router_config=_path(env, "TRADEFLOW_ROUTER_CONFIG"),
        routing_strategy=_optional_choice(env, "TRADEFLOW_ROUTING_STRATEGY", ("cost", "performance", "balanced")),
        prices_file=_path(env, "TRADEFLOW_PRICES_FILE"),
        analytics_retention_days=_int(env, "TRADEFLOW_ANALYTICS_RETENTION_DAYS", 90, 1, 36500),
    )
    if settings.llm_provider == "openai" and not settings.openai_api_key and not settings.openai_base_url:
        raise SettingsError(
            "OPENAI_API_KEY",
            "TRADEFLOW_LLM_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)",
        )
    return settings


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Build :class:`Settings` from ``.env`` overlaid by the process environment (which wins)."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return settings_from_mapping(merged)


def redact_url(url: str) -> str:
    """Public form of a URL for logs and messages: the password replaced by ``***``."""
    return _redact(url)
