"""Start a real Aegra (``tradeflow serve --server aegra``) on a free port, on scratch Postgres databases.

Aegra runs from its own environment (``deploy/aegra/.venv``, Python 3.12, ``make aegra-env``). Without it the
tests skip on a laptop and fail under CI=true, like the Postgres tests.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.support.langgraph_server import REPO, DevServer
from tests.support.postgres import scratch_database

AEGRA_PYTHON = REPO / "deploy" / "aegra" / ".venv" / "bin" / "python"
# This project's Redis database for tests (Redis is shared with other tools on the machine).
REDIS_URL = os.environ.get("TRADEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/2")


def require_aegra() -> None:
    """Skip when Aegra's environment is missing on a laptop; fail when CI=true."""
    if AEGRA_PYTHON.is_file():
        return
    message = f"Aegra's environment is missing ({AEGRA_PYTHON}); run `make aegra-env`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def redis_command(*args: str) -> str:
    """One Redis command over RESP on a plain socket (the test environment has no Redis client)."""
    parsed = urlparse(REDIS_URL)
    with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=3) as sock:
        for command in (("SELECT", parsed.path.strip("/") or "0"), args):
            sock.sendall(f"*{len(command)}\r\n".encode() + b"".join(
                f"${len(part.encode())}\r\n{part}\r\n".encode() for part in command))  # fmt: skip
            reply = sock.recv(65536).decode(errors="replace")
        return reply


def require_redis() -> None:
    """Skip when Redis is down on a laptop; fail when CI=true."""
    try:
        redis_command("PING")
    except OSError as exc:
        message = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@dataclass(frozen=True)
class Databases:
    """Aegra's tables (``DATABASE_URL``) and tradeflow's (``TRADEFLOW_DATABASE_URL``), in separate databases."""

    server: str
    tradeflow: str


@contextmanager
def aegra_databases() -> Iterator[Databases]:
    """Two scratch databases, dropped afterwards."""
    with ExitStack() as stack:
        server = stack.enter_context(scratch_database("aegra_srv"))
        tradeflow = stack.enter_context(scratch_database("aegra_tf"))
        yield Databases(server, tradeflow)


class AegraServer(DevServer):
    """One Aegra process (``tradeflow serve --server aegra``); ``start`` waits for ``/health``."""

    SERVE_ARGS = ("--server", "aegra")
    HEALTH_PATH = "/health"
    HEALTH_TIMEOUT_S = 2.0
    START_TIMEOUT_S = 90.0
    LABEL = "Aegra"

    def __init__(
        self, workdir: Path, env: dict[str, str], port: int | None = None, name: str = "aegra", auth: bool = True
    ) -> None:
        super().__init__(workdir, env, port, auth, name)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """``kill -9`` the server (its whole process group): no shutdown, no lease released."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


def aegra_env(workdir: Path, model_env: dict[str, str], databases: Databases, **extra: str) -> dict[str, str]:
    """The environment of an Aegra replica whose models are the LLM double (``model_env`` from conftest)."""
    env = {**os.environ, **model_env, "TRADEFLOW_DATA_DIR": str(workdir / "data"), **extra}
    env.update({"DATABASE_URL": databases.server, "TRADEFLOW_DATABASE_URL": databases.tradeflow})
    # Plain logs (no colour codes) and a short guardrail tick; Aegra's access log is noise here.
    env.update({"NO_COLOR": "1", "LOG_EXCLUDE_PATHS": "/health", "ENV_MODE": "LOCAL"})
    return env


def redis_env(prefix: str) -> dict[str, str]:
    """Aegra's Redis mode: runs queued in Redis, any replica's workers take them; keys under ``prefix``."""
    return {
        "REDIS_BROKER_ENABLED": "true",
        "REDIS_URL": REDIS_URL,
        "REDIS_CHANNEL_PREFIX": f"{prefix}:run:",
        "WORKER_QUEUE_KEY": f"{prefix}:jobs",
    }
