"""Real processes the bridge tests talk to: the repo's LLM double and its ``langgraph dev`` server.

They run from the repository's main environment (``<repo>/.venv``), not this one: the server and Airflow
cannot share an environment. Everything here speaks HTTP only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

BRIDGE = Path(__file__).resolve().parents[2]
REPO = BRIDGE.parent
REPO_PYTHON = REPO / ".venv" / "bin" / "python"
TRADEFLOW = REPO / ".venv" / "bin" / "tradeflow"
OFFLINE = {"LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s}s:\n{log.read_text()[-4000:]}")


class Process:
    """A child process in its own session, logged to a file, stopped with SIGTERM then SIGKILL."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class LLMDouble(Process):
    """``python -m tests.doubles.llm_server`` from the repo: OpenAI- and Ollama-compatible."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        super().__init__(
            [str(REPO_PYTHON), "-m", "tests.doubles.llm_server", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            log=workdir / "llm-double.log",
        )
        _wait_http(f"{self.url}/health", self.process, self.log, 30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def behave(self, model: str = "test-model", **behaviour: Any) -> None:
        """Set how the double answers for ``model`` (latency_s, fault, ...; empty = normal)."""
        httpx.post(f"{self.url}/_double/behaviour", json={model: behaviour}, timeout=5).raise_for_status()

    def model_env(self) -> dict[str, str]:
        """The server's model settings pointing at this double (the repo's tests/conftest.py model_env)."""
        return {
            "TRADEFLOW_ROUTER_CONFIG": str(REPO / "tests" / "fixtures" / "router_double.yaml"),
            "TRADEFLOW_PRICES_FILE": str(REPO / "tests" / "fixtures" / "prices_double.yaml"),
            "TRADEFLOW_LLM_PROVIDER": "openai",
            "OPENAI_API_KEY": "test-key-for-double",
            "OPENAI_BASE_URL": f"{self.url}/v1",
            "TRADEFLOW_OPENAI_MODEL": "test-model",
            "OLLAMA_BASE_URL": self.url,
            "TRADEFLOW_OLLAMA_MODEL": "test-model",
        }


def _write_config(workdir: Path) -> Path:
    """The repo's langgraph.json with absolute paths, so the server's files stay in ``workdir``."""
    config = json.loads((REPO / "langgraph.json").read_text())

    def absolute(spec: str) -> str:
        path, _, attr = spec.partition(":")
        return f"{(REPO / path).resolve()}:{attr}"

    config["graphs"] = {name: absolute(spec) for name, spec in config["graphs"].items()}
    for key in ("checkpointer", "auth"):
        config[key]["path"] = absolute(config[key]["path"])
    config["http"]["app"] = absolute(config["http"]["app"])
    target = workdir / "langgraph.json"
    target.write_text(json.dumps(config, indent=2))
    (workdir / ".env").touch()
    return target


class TradeflowServer(Process):
    """``tradeflow serve --no-reload`` (langgraph dev) on a free port, on the embedded default."""

    def __init__(self, workdir: Path, model_env: dict[str, str], api_key: str | None = None) -> None:
        self.port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DATABASE_URL"))},
            **OFFLINE,
            **model_env,
            "TRADEFLOW_PORT": str(self.port),
            "TRADEFLOW_HOST": "127.0.0.1",
            "TRADEFLOW_DATA_DIR": str(workdir / "data"),
        }
        if api_key:
            env["TRADEFLOW_API_KEY"] = api_key
        config = _write_config(workdir)
        self.env, self.workdir = env, workdir
        super().__init__(
            [str(TRADEFLOW), "serve", "--no-reload", "--config", str(config)],
            cwd=workdir,
            env=env,
            log=workdir / "server.log",
        )
        _wait_http(f"{self.url}/ok", self.process, self.log, 90)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_key(self, identity: str, roles: str) -> str:
        """A stored API key for ``identity`` (``tradeflow keys add``), e.g. a second person to approve a run."""
        added = subprocess.run(
            [str(TRADEFLOW), "keys", "add", identity, "--role", roles],
            cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return added.stdout.splitlines()[1].strip()
