"""Start a real ``langgraph dev`` (through ``tradeflow serve``) on a free port for tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx

REPO = Path(__file__).resolve().parents[2]
TRADEFLOW = Path(sys.executable).parent / "tradeflow"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(workdir: Path, auth: bool = True) -> Path:
    """Copy langgraph.json into ``workdir`` with absolute paths, so server state stays in ``workdir``.

    ``auth=False`` drops the auth hook (benchmarks measure what it costs).
    """
    config = json.loads((REPO / "langgraph.json").read_text())
    if not auth:
        config.pop("auth")

    def absolute(spec: str) -> str:
        path, _, attr = spec.partition(":")
        return f"{(REPO / path).resolve()}:{attr}"

    config["graphs"] = {name: absolute(spec) for name, spec in config["graphs"].items()}
    config["checkpointer"]["path"] = absolute(config["checkpointer"]["path"])
    if auth:
        config["auth"]["path"] = absolute(config["auth"]["path"])
    config["http"]["app"] = absolute(config["http"]["app"])
    target = workdir / "langgraph.json"
    target.write_text(json.dumps(config, indent=2))
    (workdir / ".env").touch()
    return target


class DevServer:
    """One ``tradeflow serve`` process; ``start`` waits for its health route (``/ok``)."""

    SERVE_ARGS: tuple[str, ...] = ("--no-reload",)
    HEALTH_PATH = "/ok"
    HEALTH_TIMEOUT_S = 1.0
    START_TIMEOUT_S = 60.0
    LABEL = "server"

    def __init__(
        self, workdir: Path, env: dict[str, str], port: int | None = None, auth: bool = True, name: str = "server"
    ) -> None:
        self.workdir = workdir
        self.auth = auth
        self.port = port or free_port()
        self.env = {**env, "TRADEFLOW_PORT": str(self.port), "TRADEFLOW_HOST": "127.0.0.1"}
        self.log_path = workdir / f"{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float | None = None) -> Self:
        timeout_s = self.START_TIMEOUT_S if timeout_s is None else timeout_s
        config = write_config(self.workdir, self.auth)
        with self.log_path.open("ab") as log:  # the server writes to its own copy of the descriptor
            self.process = subprocess.Popen(
                [str(TRADEFLOW), "serve", *self.SERVE_ARGS, "--config", str(config)],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.LABEL} exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            try:
                health = httpx.get(f"{self.url}{self.HEALTH_PATH}", timeout=self.HEALTH_TIMEOUT_S)
                if health.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"{self.LABEL} did not answer {self.HEALTH_PATH} within {timeout_s}s:\n{self.output()[-4000:]}"
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the server's whole process group (even when its leader already exited, children may not have)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.process.wait(timeout=10)


def start_with_double(workdir: Path, model_env: dict[str, str]) -> DevServer:
    """A server on the embedded default whose models are the LLM double (``model_env`` from conftest)."""
    env = {**os.environ, **model_env, "TRADEFLOW_DATA_DIR": str(workdir / "data")}
    env.pop("DATABASE_URL", None)
    return DevServer(workdir, env).start()
