"""Shared fixtures: environment hygiene, the LLM server double, Postgres, and model settings."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.settings import reset_settings
from tests.doubles.llm_server import LLMServerDouble
from tests.support.postgres import scratch_database
from tests.support.processes import MARK_VARIABLE, reap_leftovers
from tests.support.sdk import close_all as close_sdk_clients

MODEL = "test-model"


def pytest_configure(config: pytest.Config) -> None:
    """Anything a test writes through the process-wide settings lands in a scratch folder, not in .data/.

    Every process the session starts inherits a marker, so the session can check at the end that none is left.
    """
    os.environ.setdefault("TRADEFLOW_DATA_DIR", tempfile.mkdtemp(prefix="tradeflow-test-data-"))
    os.environ[MARK_VARIABLE] = uuid.uuid4().hex


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a process a test started (a server, Prometheus, a CLI) outlives the session."""
    leftovers = reap_leftovers(os.environ[MARK_VARIABLE])
    if leftovers:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  pid {pid}: {command}" for pid, command in leftovers)
        message = f"processes started by tests were still running at the end (now killed):\n{lines}"
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


ROUTER_DOUBLE = Path(__file__).parent / "fixtures" / "router_double.yaml"
PRICES_DOUBLE = Path(__file__).parent / "fixtures" / "prices_double.yaml"


def _clear_setting_caches() -> None:
    reset_settings()


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """Every test starts from the same environment and fresh settings caches."""
    saved = dict(os.environ)
    _clear_setting_caches()
    yield
    os.environ.clear()
    os.environ.update(saved)
    _clear_setting_caches()


@pytest.fixture(scope="session", autouse=True)
async def _close_sdk_clients() -> AsyncIterator[None]:
    """The langgraph-sdk clients the tests made are closed on the session's loop (``tests.support.sdk``)."""
    yield
    await close_sdk_clients()


@pytest.fixture(scope="session")
def llm_server() -> Iterator[LLMServerDouble]:
    double = LLMServerDouble(models=(MODEL, "slow-model", "broken-model")).start()
    yield double
    double.stop()


@pytest.fixture
def llm_double(llm_server: LLMServerDouble) -> Iterator[LLMServerDouble]:
    """The session's LLM double, with behaviours and request log reset for this test."""
    llm_server.reset()
    yield llm_server
    llm_server.reset()


def model_env(double: LLMServerDouble, provider: str = "openai") -> dict[str, str]:
    """Environment that points the model seam at the double."""
    return {
        "TRADEFLOW_ROUTER_CONFIG": str(ROUTER_DOUBLE),
        "TRADEFLOW_PRICES_FILE": str(PRICES_DOUBLE),
        "TRADEFLOW_LLM_PROVIDER": provider,
        "OPENAI_API_KEY": "test-key-for-double",
        "OPENAI_BASE_URL": double.openai_base_url,
        "TRADEFLOW_OPENAI_MODEL": MODEL,
        "OLLAMA_BASE_URL": double.ollama_base_url,
        "TRADEFLOW_OLLAMA_MODEL": MODEL,
    }


@pytest.fixture(params=["openai", "ollama"])
def provider(request: pytest.FixtureRequest, llm_double: LLMServerDouble, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once through langchain-openai and once through langchain-ollama."""
    for key, value in model_env(llm_double, request.param).items():
        monkeypatch.setenv(key, value)
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty Postgres database for this test session."""
    with scratch_database() as url:
        yield url


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setenv("LANGGRAPH_CLI_NO_ANALYTICS", "1")
    monkeypatch.setenv("LANGGRAPH_NO_VERSION_CHECK", "true")
