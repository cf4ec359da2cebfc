"""A tradeflow server with API keys for the access tests; which server runs is a fixture parameter.

``SERVERS`` maps a name to a function that starts one (on the LLM double, with the given environment) and
returns a :class:`SecuredServer`. The access tests run against every entry: add another server (Aegra) here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from access.db import AccessDB
from access.keys import KeyStore
from tests.support.langgraph_server import DevServer

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
METRICS_TOKEN = "test-scrape-3b9f0e1c7a"
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


def add_keys(env: dict[str, str]) -> dict[str, str]:
    """Store a key per identity in the server's access tables (as ``tradeflow keys add`` does); revoke rex's."""
    store = KeyStore(AccessDB(env.get("DATABASE_URL"), Path(env["TRADEFLOW_DATA_DIR"]) / "access.sqlite"), 0)
    try:
        keys = {
            identity: store.add(identity, roles.split(","), created_by="test")[1]
            for identity, roles in IDENTITIES.items()
        }
        store.revoke(keys["rex"])
    finally:
        store.db.close()
    return keys


def start_langgraph_dev(workdir: Path, env: dict[str, str]) -> SecuredServer:
    keys = add_keys(env)
    server = DevServer(workdir, env).start()
    return SecuredServer("langgraph-dev", server.url, keys, env, server.output, server.stop)


def start_aegra(workdir: Path, env: dict[str, str]) -> SecuredServer:
    """Aegra on two scratch databases (its tables, tradeflow's); ``env`` reaches tradeflow's (keys, audit)."""
    from contextlib import ExitStack

    from tests.support.aegra_server import AegraServer, aegra_databases, require_aegra

    require_aegra()
    stack = ExitStack()
    dbs = stack.enter_context(aegra_databases())
    server_env = {**env, "DATABASE_URL": dbs.server, "TRADEFLOW_DATABASE_URL": dbs.tradeflow, "NO_COLOR": "1"}
    tables_env = {**env, "DATABASE_URL": dbs.tradeflow}
    keys = add_keys(tables_env)
    try:
        server = AegraServer(workdir, server_env).start()
    except BaseException:
        stack.close()
        raise

    def stop() -> None:
        server.stop()
        stack.close()

    return SecuredServer("aegra", server.url, keys, tables_env, server.output, stop)


SERVERS: dict[str, Callable[[Path, dict[str, str]], SecuredServer]] = {
    "langgraph-dev": start_langgraph_dev,
    "aegra": start_aegra,
}


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
