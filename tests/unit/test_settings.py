from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import SettingsError
from core.settings import load_settings, settings_from_mapping


def test_defaults_are_local_and_offline() -> None:
    settings = settings_from_mapping({})
    assert (settings.host, settings.port) == ("127.0.0.1", 2024)
    assert settings.database_url is None
    assert settings.langsmith_tracing is False
    assert settings.llm_provider == "auto"
    assert settings.router_config is None
    assert settings.sqlite_checkpoint_path == Path(".data/checkpoints.sqlite")


def test_router_config_must_exist(tmp_path: Path) -> None:
    table = tmp_path / "table.yaml"
    table.write_text("backends: []\n")
    assert settings_from_mapping({"TRADEFLOW_ROUTER_CONFIG": str(table)}).router_config == table
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({"TRADEFLOW_ROUTER_CONFIG": str(tmp_path / "missing.yaml")})
    assert info.value.variable == "TRADEFLOW_ROUTER_CONFIG"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TRADEFLOW_PORT", "abc", "expected an integer"),
        ("TRADEFLOW_PORT", "70000", "from 1 to 65535"),
        ("DATABASE_URL", "mysql://x@h/db", "postgres://"),
        ("OPENAI_BASE_URL", "localhost:8000", "http://"),
        ("LANGSMITH_TRACING", "maybe", "true or false"),
        ("TRADEFLOW_LLM_PROVIDER", "anthropic", "auto, openai, ollama"),
        ("TRADEFLOW_ROUTING_STRATEGY", "cheapest", "cost, performance, balanced"),
        ("TRADEFLOW_ENV", "staging", "development, production"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({variable: value})
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}: ")
    assert expected in str(info.value)


def test_database_password_is_not_echoed_in_errors() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({"DATABASE_URL": "mysql://admin:hunter2@db/x"})
    assert "hunter2" not in str(info.value)


def test_placeholder_secret_refused_in_production_only() -> None:
    assert settings_from_mapping({"OPENAI_API_KEY": "change-me"}).openai_api_key == "change-me"
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({"TRADEFLOW_ENV": "production", "OPENAI_API_KEY": "change-me"})
    assert info.value.variable == "OPENAI_API_KEY"


def test_openai_provider_without_key_or_url_is_refused() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({"TRADEFLOW_LLM_PROVIDER": "openai"})
    assert info.value.variable == "OPENAI_API_KEY"


def test_dotenv_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TRADEFLOW_PORT=3000\nTRADEFLOW_OLLAMA_MODEL=from-dotenv\n")
    monkeypatch.delenv("TRADEFLOW_OLLAMA_MODEL", raising=False)
    monkeypatch.setenv("TRADEFLOW_PORT", "3100")
    settings = load_settings(env_file)
    assert settings.port == 3100
    assert settings.ollama_model == "from-dotenv"


def test_backend_table_expansion_follows_the_same_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: ${VAR} in the backend table and api_key_env were read from os.environ, ignoring .env."""
    from router.config import load_config
    from router.engine import Router

    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=from-dotenv\nTRADEFLOW_OPENAI_MODEL=gpt-4.1-dotenv\nVLLM_BASE_URL=\n")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("TRADEFLOW_OPENAI_MODEL", "gpt-4.1-process")
    monkeypatch.setenv("VLLM_BASE_URL", "")  # empty counts as unset at every layer
    settings = load_settings(env_file)
    assert settings.openai_api_key == "from-dotenv"
    assert settings.environ["TRADEFLOW_OPENAI_MODEL"] == "gpt-4.1-process"
    assert "VLLM_BASE_URL" not in settings.environ
    config = load_config(None, settings.environ)
    assert {b.name: b.model for b in config.backends}["openai-mini"] == "gpt-4.1-process"
    router = Router(config, env=settings.environ)
    assert "openai-mini" not in router.table.disabled_reason
    assert router.table.disabled_reason["vllm"] == "VLLM_BASE_URL is not set"


def test_one_settings_cache_reset_by_one_function(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import get_settings, reset_settings
    from router.runtime import process_router

    monkeypatch.setenv("TRADEFLOW_OLLAMA_MODEL", "llama-first")
    reset_settings()
    first = process_router()
    assert get_settings() is get_settings()
    assert first.backends["ollama"].model == "llama-first"
    monkeypatch.setenv("TRADEFLOW_OLLAMA_MODEL", "llama-second")
    assert process_router() is first  # cached until reset
    reset_settings()
    assert process_router().backends["ollama"].model == "llama-second"


def test_secrets_stay_out_of_the_settings_repr() -> None:
    settings = settings_from_mapping(
        {"OPENAI_API_KEY": "sk-live-123", "TRADEFLOW_API_KEY": "tk-456", "DATABASE_URL": "postgresql://u:pw-789@h/db"}
    )
    text = repr(settings)
    for secret in ("sk-live-123", "tk-456", "pw-789"):
        assert secret not in text


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("postgresql://u:pw-1@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("https://tok-2@api.example/v1", "https://***@api.example/v1"),
        ("https://api.example/v1?api-key=k-3&deployment=x", "https://api.example/v1?api-key=***&deployment=x"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
    ],
)
def test_redact_url_hides_credentials(url: str, public: str) -> None:
    from core.settings import redact_url

    assert redact_url(url) == public


def test_the_server_shows_clients_the_message_of_tradeflow_errors() -> None:
    """langgraph-api replaces the message of error types it does not trust with 'An internal error occurred'."""
    from langgraph_api.serde import default

    from graphs.errors import LLMUnavailableError
    from router.errors import AllBackendsFailedError, NoEligibleBackendError

    for error in (LLMUnavailableError("tried x"), NoEligibleBackendError({"b": "why"})):
        assert default(error) == {"error": type(error).__name__, "message": str(error)}
    assert issubclass(AllBackendsFailedError, RuntimeError)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRADEFLOW_API_KEY", "change-me"),
        ("TRADEFLOW_METRICS_TOKEN", "CHANGE-ME-scrape"),
        ("OPENAI_API_KEY", "sk-xxx"),
        ("LANGSMITH_API_KEY", "your-key"),
        ("VLLM_API_KEY", "changeme"),  # a backend's api_key_env: any *_API_KEY variable is a secret
        ("GRAFANA_ADMIN_PASSWORD", "change-me-locally"),
        ("DATABASE_URL", "postgresql://tradeflow:change-me-locally@db/tradeflow"),
    ],
)
def test_every_placeholder_secret_is_refused_in_production_naming_the_variable(variable: str, value: str) -> None:
    settings_from_mapping({variable: value})  # development takes it
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({"TRADEFLOW_ENV": "production", variable: value})
    assert info.value.variable == variable
    assert "placeholder" in str(info.value)
    assert value not in str(info.value)


def test_env_example_secrets_are_empty_or_refused_in_production() -> None:
    from dotenv import dotenv_values

    example = {k: v for k, v in dotenv_values(Path(__file__).resolve().parents[2] / ".env.example").items() if v}
    secrets = {k: v for k, v in example.items() if k.endswith(("_API_KEY", "_TOKEN", "_PASSWORD", "_SECRET"))}
    # The compose stack's secrets are all empty in .env.example (docker compose then names each one still unset), so
    # this may find nothing to check: an empty secret cannot carry a placeholder.
    for variable, value in secrets.items():
        with pytest.raises(SettingsError) as info:
            settings_from_mapping({"TRADEFLOW_ENV": "production", variable: value})
        assert info.value.variable == variable


def test_real_secrets_pass_in_production() -> None:
    settings = settings_from_mapping({
        "TRADEFLOW_ENV": "production", "TRADEFLOW_API_KEY": "test-k-93fd02ae1c", "TRADEFLOW_METRICS_TOKEN": "test-m-1f2e3d4c",
        "DATABASE_URL": "postgresql://tradeflow:test-Vq3-9sd0a@db/tradeflow",
    })  # fmt: skip
    assert settings.metrics_token == "test-m-1f2e3d4c"
    assert "test-m-1f2e3d4c" not in repr(settings)
