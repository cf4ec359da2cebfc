"""Bridge test fixtures: real Airflow (SQLite, temp AIRFLOW_HOME), the repo's server and LLM double.

Airflow reads its configuration when first imported, so the environment is set here, at import time,
before any test module imports ``tradeflow_airflow`` (and with it Airflow).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import airflow as airflow_support

HOME = Path(tempfile.mkdtemp(prefix="tradeflow-airflow-test-"))
airflow_support.configure(HOME)

from tests.support.servers import LLMDouble, TradeflowServer  # noqa: E402

API_KEY = "bridge-test-key"
_API: dict[str, airflow_support.AirflowAPIServer] = {}


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def llm() -> Iterator[LLMDouble]:
    double = LLMDouble(HOME)
    yield double
    double.stop()


@pytest.fixture(scope="session")
def stack(llm: LLMDouble) -> Iterator[TradeflowServer]:
    """The tradeflow server (with an API key) and a migrated Airflow DB; started side by side."""
    workdir = HOME / "server"
    workdir.mkdir(exist_ok=True)
    server_holder: dict[str, TradeflowServer] = {}

    def start() -> None:
        server_holder["server"] = TradeflowServer(workdir, llm.model_env(), api_key=API_KEY)

    starter = threading.Thread(target=start)
    starter.start()
    try:
        airflow_support.migrate()
    finally:
        starter.join()
    if "server" not in server_holder:
        raise RuntimeError(f"the tradeflow server did not start; see {workdir}")
    server = server_holder["server"]
    os.environ["AIRFLOW_CONN_LANGGRAPH_DEFAULT"] = airflow_support.langgraph_connection(server.url, API_KEY)
    # The API server takes ~20 s to start: start it now, in the background; api_server waits for it.
    _API["server"] = airflow_support.AirflowAPIServer(HOME)
    yield server
    _API["server"].stop()
    server.stop()
    shutil.rmtree(HOME, ignore_errors=True)


@pytest.fixture
def server(stack: TradeflowServer, llm: LLMDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[TradeflowServer]:
    """The session's server, with the Airflow connection set and the double answering normally."""
    monkeypatch.setenv("AIRFLOW_CONN_LANGGRAPH_DEFAULT", airflow_support.langgraph_connection(stack.url, API_KEY))
    llm.behave()
    yield stack
    llm.behave()


@pytest.fixture
def dags_folder(stack: TradeflowServer) -> Path:
    return HOME / "dags"


@pytest.fixture(scope="session")
def api_server(stack: TradeflowServer) -> airflow_support.AirflowAPIServer:
    """``airflow api-server`` on the tests' DB, with user admin / ADMIN_PASSWORD (simple auth manager)."""
    return _API["server"].wait()
