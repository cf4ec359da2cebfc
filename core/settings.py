"""The one Settings object: the process environment over ``.env`` over defaults, validated at start-up.

Every variable is listed in ``.env.example``. One rule decides every value, for the server, the CLI and the
router's backend table alike: a variable set (non-empty) in the process environment wins; otherwise its
value in ``.env``; otherwise the default. An empty value counts as unset at every layer.

:func:`get_settings` is the process's one settings cache; :func:`reset_settings` clears it and every cache
built from it (the router, the analytics writer's settings). A bad value raises :class:`SettingsError`
naming the variable, so the server and the CLI stop before doing anything with it.

Nothing else in tradeflow reads ``os.environ`` for configuration: code that needs a variable the backend
table names (an API key, ``${VAR}`` in the YAML) reads it from :attr:`Settings.environ`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlparse

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from core.errors import SettingsError

Environment = Literal["development", "production"]
Provider = Literal["auto", "openai", "ollama"]
Strategy = Literal["cost", "performance", "balanced"]

_PLACEHOLDER_MARKERS = ("changeme", "change-me", "placeholder", "your-key", "sk-xxx", "dummy")
_INT_BOUNDS = {
    "port": (1, 65535),
    "analytics_retention_days": (1, 36500),
    "guardrail_interval_s": (0, 86400),
    "max_body_bytes": (1024, 1024**3),
    "key_cache_s": (0, 300),
}
# Variables holding secrets besides the fields below (read from the merged environment by name): every
# ``*_API_KEY``, ``*_TOKEN``, ``*_PASSWORD`` and ``*_SECRET`` variable, e.g. a backend's ``api_key_env``.
_SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_PASSWORD", "_SECRET")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# The environment a Settings object is being built from (see settings_from_mapping).
_BUILDING: ContextVar[Mapping[str, str]] = ContextVar("tradeflow_settings_environ")


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading the already-merged environment instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls, case_sensitive=True, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k: v for k, v in self._environ.items() if v != ""}


def _alias(name: str, default: Any = None, **kwargs: Any) -> Any:
    return Field(default, validation_alias=name, **kwargs)


class Settings(BaseSettings):
    """Per-process configuration. Build it with :func:`get_settings` (cached) or :func:`load_settings`."""

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", case_sensitive=True, populate_by_name=False, validate_default=False
    )

    env: Environment = _alias("TRADEFLOW_ENV", "development")
    host: str = _alias("TRADEFLOW_HOST", "127.0.0.1")
    port: int = _alias("TRADEFLOW_PORT", 2024)
    log_level: str = _alias("TRADEFLOW_LOG_LEVEL", "INFO")
    data_dir: Path = _alias("TRADEFLOW_DATA_DIR", Path(".data"))
    # Tradeflow's own tables (checkpoints on langgraph dev, analytics, spend, versioning). TRADEFLOW_DATABASE_URL
    # wins over DATABASE_URL, so on Aegra (whose tables follow DATABASE_URL) the two live in separate databases.
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("TRADEFLOW_DATABASE_URL", "DATABASE_URL"), repr=False
    )
    api_key: str | None = _alias("TRADEFLOW_API_KEY", repr=False)
    metrics_token: str | None = _alias("TRADEFLOW_METRICS_TOKEN", repr=False)
    max_body_bytes: int = _alias("TRADEFLOW_MAX_BODY_BYTES", 10 * 1024 * 1024)
    key_cache_s: int = _alias("TRADEFLOW_KEY_CACHE_S", 5)
    llm_provider: Provider = _alias("TRADEFLOW_LLM_PROVIDER", "auto")
    openai_api_key: str | None = _alias("OPENAI_API_KEY", repr=False)
    openai_base_url: str | None = _alias("OPENAI_BASE_URL")
    openai_model: str = _alias("TRADEFLOW_OPENAI_MODEL", "gpt-4o-mini")
    ollama_base_url: str = _alias("OLLAMA_BASE_URL", "http://127.0.0.1:11434")
    ollama_model: str = _alias("TRADEFLOW_OLLAMA_MODEL", "llama3.1")
    langsmith_tracing: bool = _alias("LANGSMITH_TRACING", False)
    router_config: Path | None = _alias("TRADEFLOW_ROUTER_CONFIG")
    routing_strategy: Strategy | None = _alias("TRADEFLOW_ROUTING_STRATEGY")
    prices_file: Path | None = _alias("TRADEFLOW_PRICES_FILE")
    router_first_token_max_s: float | None = _alias("TRADEFLOW_ROUTER_FIRST_TOKEN_MAX_S")
    analytics_retention_days: int = _alias("TRADEFLOW_ANALYTICS_RETENTION_DAYS", 90)
    prometheus_multiproc_dir: Path | None = _alias("PROMETHEUS_MULTIPROC_DIR")
    workflows_repo: Path | None = _alias("TRADEFLOW_WORKFLOWS_REPO")
    guardrail_interval_s: int = _alias("TRADEFLOW_GUARDRAIL_INTERVAL_S", 60)
    # Off only to measure what tradeflow's hooks cost (benchmarks/server_load.py): the auth hook lets every
    # request through unchecked and served graphs carry no analytics handler. Refused in production.
    server_hooks: bool = _alias("TRADEFLOW_SERVER_HOOKS", True)

    _environ: Mapping[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """One source: the merged environment (process over ``.env``) that :func:`merged_environ` built."""
        return (_EnvironSource(settings_cls, _BUILDING.get({})),)

    # --- validation (messages name what was expected; SettingsError adds the variable) ----------------
    @field_validator("env", "llm_provider", "routing_strategy", mode="before")
    @classmethod
    def _choice(cls, value: object, info: Any) -> object:
        field: FieldInfo = cls.model_fields[info.field_name]
        allowed: tuple[str, ...] = _literal_values(field.annotation)
        lowered = str(value).strip().lower()
        if lowered not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return lowered

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> str:
        lowered = str(value).strip().lower()
        if lowered not in ("debug", "info", "warning", "error"):
            raise ValueError(f"expected one of debug, info, warning, error, got {value!r}")
        return lowered.upper()

    @field_validator(
        "port", "analytics_retention_days", "guardrail_interval_s", "max_body_bytes", "key_cache_s", mode="before"
    )
    @classmethod
    def _bounded_int(cls, value: object, info: Any) -> int:
        lo, hi = _INT_BOUNDS[info.field_name]
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
        if not lo <= number <= hi:
            raise ValueError(f"expected an integer from {lo} to {hi}, got {number}")
        return number

    @field_validator("router_first_token_max_s", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> float:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {value!r}") from None
        if not 0.5 <= number <= 600:
            raise ValueError(f"expected seconds from 0.5 to 600, got {number:g}")
        return number

    @field_validator("langsmith_tracing", "server_hooks", mode="before")
    @classmethod
    def _boolean(cls, value: object) -> bool:
        lowered = str(value).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {value!r}")

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> str:
        return _url(str(value).strip(), ("postgres", "postgresql"))

    @field_validator("openai_base_url", "ollama_base_url", mode="before")
    @classmethod
    def _http_url(cls, value: object) -> str:
        return _url(str(value).strip(), ("http", "https"))

    @field_validator("router_config", "prices_file", mode="before")
    @classmethod
    def _readable_file(cls, value: object) -> Path:
        path = Path(str(value).strip())
        if not path.is_file():
            raise ValueError(f"expected a readable file, {str(value)!r} does not exist")
        return path

    @field_validator("workflows_repo", mode="before")
    @classmethod
    def _directory(cls, value: object) -> Path:
        path = Path(str(value).strip())
        if path.exists() and not path.is_dir():
            raise ValueError(f"expected a directory (it is created when missing), {str(value)!r} is a file")
        return path

    @field_validator(
        "host", "openai_model", "ollama_model", "api_key", "openai_api_key", "metrics_token", mode="before"
    )
    @classmethod
    def _stripped(cls, value: object) -> str:
        return str(value).strip()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.env == "production":
            for variable, value in self._secrets():
                if is_placeholder(value):
                    raise SettingsError(
                        variable,
                        "holds a placeholder value; set the real secret (placeholders are refused in production)",
                    )
        if self.env == "production" and not self.server_hooks:
            raise SettingsError(
                "TRADEFLOW_SERVER_HOOKS", "is off (benchmarks only); production needs auth and analytics"
            )
        if self.llm_provider == "openai" and not self.openai_api_key and not self.openai_base_url:
            raise SettingsError(
                "OPENAI_API_KEY",
                "TRADEFLOW_LLM_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)",
            )
        return self

    def _secrets(self) -> list[tuple[str, str]]:
        """Every secret this process was given, by variable (the database password taken out of its URL)."""
        named = {
            "TRADEFLOW_API_KEY": self.api_key,
            "TRADEFLOW_METRICS_TOKEN": self.metrics_token,
            "OPENAI_API_KEY": self.openai_api_key,
        }
        environ = _BUILDING.get({})
        for variable in ("DATABASE_URL", "TRADEFLOW_DATABASE_URL"):  # Aegra's tables and tradeflow's
            url = environ.get(variable)
            named[variable] = urlparse(url).password if url else None
        named |= {k: v for k, v in environ.items() if k.endswith(_SECRET_SUFFIXES) and k not in named}
        return [(variable, value) for variable, value in sorted(named.items()) if value]

    # --- derived -----------------------------------------------------------------------------------------
    @property
    def sqlite_checkpoint_path(self) -> Path:
        """Where the embedded (no Postgres) checkpointer keeps its database."""
        return self.data_dir / "checkpoints.sqlite"

    @property
    def workflows_repo_path(self) -> Path:
        """The Git repository of published workflow specs (a bare repository anyone can clone)."""
        return self.workflows_repo or self.data_dir / "workflows.git"

    @property
    def versioning_sqlite_path(self) -> Path:
        """Where labels, audit events and experiments live when no DATABASE_URL is set."""
        return self.data_dir / "versioning.sqlite"

    @property
    def access_sqlite_path(self) -> Path:
        """Where API keys and the approval audit live when no DATABASE_URL is set."""
        return self.data_dir / "access.sqlite"

    @property
    def environ(self) -> Mapping[str, str]:
        """The merged environment these settings were built from (process over ``.env``; empty values dropped).

        The backend table's ``${VAR}`` expansion and its ``api_key_env`` / ``requires_env`` lookups read this,
        so they follow the same precedence as every setting.
        """
        return self._environ


def is_placeholder(value: str) -> bool:
    """A value that stands in for a secret: empty, ``change-me...`` or another dummy marker (as in ``.env.example``)."""
    lowered = value.strip().lower()
    return (
        not lowered or lowered.startswith(("change-me", "changeme")) or any(m in lowered for m in _PLACEHOLDER_MARKERS)
    )


def _literal_values(annotation: Any) -> tuple[str, ...]:
    args = getattr(annotation, "__args__", ())
    values: list[str] = []
    for arg in args:
        if isinstance(arg, str):
            values.append(arg)
        else:
            values.extend(_literal_values(arg))
    return tuple(values)


def _url(value: str, schemes: tuple[str, ...]) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        expected = " or ".join(s + "://" for s in schemes)
        raise ValueError(f"expected a URL starting with {expected}, got {redact_url(value)!r}")
    return value


def _alias_of(field_name: str, environ: Mapping[str, str]) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):  # the variable that was set (the first one wins)
        names = [str(choice) for choice in alias.choices]
        alias = next((name for name in names if environ.get(name)), names[0])
    return alias if isinstance(alias, str) else field_name


_CHOICE_FIELDS = {
    str(choice): name
    for name, field in Settings.model_fields.items()
    if isinstance(field.validation_alias, AliasChoices)
    for choice in field.validation_alias.choices
}


def _settings_error(exc: ValidationError, environ: Mapping[str, str]) -> SettingsError:
    error = exc.errors()[0]
    loc = error["loc"][0] if error["loc"] else "settings"
    loc = _CHOICE_FIELDS.get(str(loc), loc)  # pydantic names the first alias of a choice, set or not
    variable = _alias_of(str(loc), environ) if str(loc) in Settings.model_fields else str(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    return SettingsError(variable, message)


def merged_environ(env_file: str | os.PathLike[str] | None = ".env") -> dict[str, str]:
    """The process environment over ``.env`` (empty values count as unset at both layers)."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v})
    merged.update({k: v for k, v in os.environ.items() if v})
    return merged


def settings_from_mapping(environ: Mapping[str, str]) -> Settings:
    """Validate an already-merged environment into :class:`Settings` (tests use it with a plain dict)."""
    token = _BUILDING.set(environ)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise _settings_error(exc, environ) from None
    finally:
        _BUILDING.reset(token)
    settings._environ = MappingProxyType({k: v for k, v in environ.items() if v})
    return settings


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Build :class:`Settings` from the process environment over ``env_file`` over defaults (uncached)."""
    return settings_from_mapping(merged_environ(env_file))


_reset_hooks: list[Callable[[], None]] = []


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once (the one cache; :func:`reset_settings` clears it)."""
    return load_settings()


def on_settings_reset(hook: Callable[[], None]) -> Callable[[], None]:
    """Register a cache built from settings, cleared whenever :func:`reset_settings` runs."""
    _reset_hooks.append(hook)
    return hook


def reset_settings() -> None:
    """Forget the cached settings and everything built from them (tests; a reload)."""
    get_settings.cache_clear()
    for hook in _reset_hooks:
        hook()


_SECRET_QUERY_KEYS = ("key", "token", "secret", "password", "signature", "sig", "auth", "credential")


def redact_url(url: str) -> str:
    """Public form of a URL for logs and messages: userinfo and secret-looking query values replaced by ``***``."""
    parsed = urlparse(url)
    netloc = parsed.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"***@{hostport}"
    query = "&".join(
        f"{name}=***" if any(k in name.lower() for k in _SECRET_QUERY_KEYS) else f"{name}={value}" if sep else name
        for name, sep, value in (part.partition("=") for part in parsed.query.split("&") if part)
    )
    return parsed._replace(netloc=netloc, query=query).geturl()
