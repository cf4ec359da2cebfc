"""A tradeflow server with API keys for the access tests; which server runs is a fixture parameter.

``SERVERS`` maps a name to a function that starts one (on the LLM double, with the given environment) and
returns a :class:`SecuredServer`. The access tests run against every entry: add another server (Aegra) here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.langgraph_server import DevServer

TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")
# Identity -> roles of the keys every secured server is started with.
IDENTITIES: dict[str, str] = {
    "alice": "operator",
    "carol": "operator",
    "dave": "operator,approver",
    "bob": "approver",
    "vic": "viewer",
    "ann": "admin",
    "rex": "operator",  # revoked before the server starts
}
METRICS_TOKEN = "scrape-3b9f0e1c7a"
BODY_LIMIT = 64 * 1024


@dataclass
class SecuredServer:
    """A started server, its keys by identity, and the environment its tradeflow tables are reached with."""

    name: str
    url: str
    keys: dict[str, str]
    env: dict[str, str]
    output: Callable[[], str]
    stop: Callable[[], None]
    extra: dict[str, Any] = field(default_factory=dict)


def add_keys(env: dict[str, str], cwd: Path) -> dict[str, str]:
    """Store a key per identity with ``tradeflow keys add`` (as an operator would); revoke rex's."""
    keys: dict[str, str] = {}
    for identity, roles in IDENTITIES.items():
        out = subprocess.run(
            [TRADEFLOW, "keys", "add", identity, "--role", roles],
            env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        keys[identity] = out.stdout.splitlines()[1].strip()
    key_id = keys["rex"].split("_")[1]
    subprocess.run([TRADEFLOW, "keys", "revoke", key_id], env=env, cwd=cwd, capture_output=True, timeout=60, check=True)
    return keys


def start_langgraph_dev(workdir: Path, env: dict[str, str]) -> SecuredServer:
    keys = add_keys(env, workdir)
    server = DevServer(workdir, env).start()
    return SecuredServer("langgraph-dev", server.url, keys, env, server.output, server.stop)


SERVERS: dict[str, Callable[[Path, dict[str, str]], SecuredServer]] = {"langgraph-dev": start_langgraph_dev}


def secured_env(workdir: Path, model_env: dict[str, str], database_url: str | None = None) -> dict[str, str]:
    env = {**os.environ, **model_env, "TRADEFLOW_DATA_DIR": str(workdir / "data")}
    env.pop("DATABASE_URL", None)
    env.pop("TRADEFLOW_API_KEY", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update({
        "TRADEFLOW_KEY_CACHE_S": "0",  # a revoked key is refused on its next request
        "TRADEFLOW_METRICS_TOKEN": METRICS_TOKEN,
        "TRADEFLOW_MAX_BODY_BYTES": str(BODY_LIMIT),
        "TRADEFLOW_GUARDRAIL_INTERVAL_S": "0",
    })  # fmt: skip
    return env
