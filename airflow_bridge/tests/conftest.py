"""Bridge test fixtures: real Airflow (SQLite, temp AIRFLOW_HOME), the repo's server and LLM double.

Airflow reads its configuration when first imported, so the environment is set here, at import time,
before any test module imports ``tradeflow_airflow`` (and with it Airflow).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import airflow as airflow_support
from tests.support.processes import MARK_VARIABLE, reap_leftovers

HOME = Path(tempfile.mkdtemp(prefix="tradeflow-airflow-test-"))
airflow_support.configure(HOME)
# Every process the session starts inherits this marker; pytest_sessionfinish fails the run on leftovers.
os.environ[MARK_VARIABLE] = uuid.uuid4().hex

from tests.support.servers import LLMDouble, TradeflowServer  # noqa: E402
from tests.support.workflows import Catalog, publish_catalog  # noqa: E402

API_KEY = "bridge-test-key"
_API: dict[str, airflow_support.AirflowAPIServer] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a process a test started (a server, an Airflow component) outlives the session."""
    leftovers = reap_leftovers(os.environ[MARK_VARIABLE], HOME.resolve())
    if leftovers:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  pid {pid}: {command}" for pid, command in leftovers)
        message = f"processes started by the bridge tests were still running at the end (now killed):\n{lines}"
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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


@pytest.fixture(scope="session")
def catalog(stack: TradeflowServer) -> Catalog:
    """Specs published once on the session's server (see ``tests/support/workflows.py``)."""
    return publish_catalog(stack.url, API_KEY)
