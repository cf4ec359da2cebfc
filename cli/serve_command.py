"""``tradeflow serve``: validate settings, check the port and the model, then start the server.

``--server langgraph-dev`` (the default) runs ``langgraph dev`` on the embedded runtime; ``--server aegra`` runs
Aegra (Apache-2.0, Postgres, Redis for replicas) from its own environment, ``deploy/aegra/.venv`` (``make
aegra-env``), serving the same ``langgraph.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from core.errors import SettingsError
from core.settings import Settings, get_settings, redact_url

# The CLI phones home for analytics and version checks unless told not to; tracing stays off unless
# the user turned it on in settings.
OFFLINE_ENV = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}
REPO = Path(__file__).resolve().parents[1]
AEGRA_PYTHON = REPO / "deploy" / "aegra" / ".venv" / "bin" / "python"


def add_serve_parser(sub: Any) -> None:
    parser = sub.add_parser("serve", help="start the LangGraph server (langgraph dev) on the embedded default")
    parser.add_argument("--config", default="langgraph.json", help="langgraph.json to serve (default: %(default)s)")
    parser.add_argument("--no-reload", action="store_true", help="do not restart on code changes")
    parser.add_argument(
        "--server",
        choices=("langgraph-dev", "aegra"),
        default="langgraph-dev",
        help="langgraph dev (embedded, one process) or Aegra (Postgres; replicas with Redis) (default: %(default)s)",
    )
    parser.set_defaults(handler=serve)


def ensure_port_free(host: str, port: int) -> None:
    """Fail clearly when the port is taken: ``langgraph dev`` would silently move to another one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the server binds with: a port left in TIME_WAIT by a stopped server is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SettingsError(
                "TRADEFLOW_PORT",
                f"port {port} on {host} is not free ({exc.strerror}); set TRADEFLOW_PORT to a free port",
            ) from None


def server_urls(settings: Settings) -> dict[str, str]:
    """The URLs a user opens: the API, its docs and Studio."""
    api = f"http://{settings.host}:{settings.port}"
    return {
        "API": api,
        "API docs": f"{api}/docs",
        "Studio": f"https://smith.langchain.com/studio/?baseUrl={api}",
    }


def server_environment(settings: Settings) -> dict[str, str]:
    """The environment ``langgraph dev`` runs with: the settings' merged environment, offline, tracing as configured.

    The server gets the process environment over ``.env`` already merged, so every variable means in the server
    exactly what it meant to this command and its banner (``langgraph.json`` names no ``env`` file: langgraph
    dev would let ``.env`` override the process environment).
    """
    env = dict(os.environ)
    env.update(settings.environ)
    env.update(OFFLINE_ENV)
    env["LANGSMITH_TRACING"] = "true" if settings.langsmith_tracing else "false"
    # langgraph-api's own limit on request bodies (413 above it); tradeflow's routes apply the same setting.
    env["HTTP_MAX_REQUEST_BODY_BYTES"] = str(settings.max_body_bytes)
    return env


def config_for_here(config: Path, data_dir: Path) -> Path:
    """``config`` itself when it lies in the current directory, else a copy with absolute paths in ``data_dir``.

    langgraph-api resolves the auth hook's and the HTTP app's paths against the working directory, not the
    config's: ``tradeflow serve --config ../tradeflow/langgraph.json`` would fail to find ``./graphs/api_auth.py``.
    """
    config = config.resolve()
    if config.parent == Path.cwd().resolve():
        return config
    spec = json.loads(config.read_text())

    def absolute(entry: str) -> str:
        path, colon, attr = entry.partition(":")
        return f"{(config.parent / path).resolve()}{colon}{attr}"

    spec["graphs"] = {name: absolute(entry) for name, entry in spec.get("graphs", {}).items()}
    spec["dependencies"] = [absolute(entry) for entry in spec.get("dependencies", [])]
    for section, key in (("checkpointer", "path"), ("auth", "path"), ("http", "app")):
        if isinstance(spec.get(section), dict) and key in spec[section]:
            spec[section][key] = absolute(spec[section][key])
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "langgraph.serve.json"
    target.write_text(json.dumps(spec, indent=2))
    return target


def serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not Path(args.config).is_file():
        raise SettingsError("--config", f"{args.config} does not exist")
    ensure_port_free(settings.host, settings.port)
    from graphs.chat_models import probe_models  # the model stack loads only for this command

    reachable, sentence = asyncio.run(probe_models(settings))
    print(("" if reachable else "WARNING: ") + sentence, flush=True)  # noqa: T201
    if not reachable:
        print("The server starts anyway; runs that call a model fail fast until one is configured.", flush=True)  # noqa: T201
    if args.server == "aegra":
        return serve_aegra(settings, args.config)
    print(f"Checkpoints: {'Postgres (DATABASE_URL)' if settings.database_url else settings.sqlite_checkpoint_path}")  # noqa: T201
    for name, url in server_urls(settings).items():
        print(f"{name}: {url}", flush=True)  # noqa: T201
    langgraph = shutil.which("langgraph", path=os.path.dirname(sys.executable)) or shutil.which("langgraph")
    if langgraph is None:
        raise SettingsError("PATH", "the langgraph CLI is not installed; run `make run` to create the environment")
    command = [langgraph, "dev", "--no-browser", "--host", settings.host, "--port", str(settings.port)]
    command += ["--config", str(config_for_here(Path(args.config), settings.data_dir))]
    if args.no_reload:
        command.append("--no-reload")
    os.execve(langgraph, command, server_environment(settings))
    return 0  # pragma: no cover - execve does not return


def aegra_environment(settings: Settings, config: str) -> dict[str, str]:
    """What Aegra runs with: the settings' environment plus Aegra's own variables (config, host, port).

    Aegra keeps its tables (assistants, threads, runs, checkpoints, store) in ``DATABASE_URL``; tradeflow's own
    follow ``TRADEFLOW_DATABASE_URL`` when set, so the two can live in separate databases. ``REDIS_URL`` with
    ``REDIS_BROKER_ENABLED=true`` (Aegra's variables, passed through) lets several replicas share the work.
    """
    if not settings.environ.get("DATABASE_URL"):
        raise SettingsError("DATABASE_URL", "Aegra keeps threads, runs and checkpoints in Postgres; set DATABASE_URL")
    env = server_environment(settings)
    env.update({"AEGRA_CONFIG": str(Path(config).resolve()), "HOST": settings.host, "PORT": str(settings.port)})
    env.setdefault("LOG_LEVEL", settings.log_level)
    return env


def serve_aegra(settings: Settings, config: str) -> int:
    if not AEGRA_PYTHON.is_file():
        raise SettingsError("--server", f"Aegra's environment is missing ({AEGRA_PYTHON}); run `make aegra-env`")
    env = aegra_environment(settings, config)
    print(f"Server: Aegra; its tables in {redact_url(env['DATABASE_URL'])}", flush=True)  # noqa: T201
    if settings.database_url:
        print(f"Tradeflow tables: {redact_url(settings.database_url)}", flush=True)  # noqa: T201
    for name, url in server_urls(settings).items():
        print(f"{name}: {url}", flush=True)  # noqa: T201
    command = [str(AEGRA_PYTHON), "-m", "uvicorn", "aegra_api.main:app", "--host", settings.host]
    command += ["--port", str(settings.port), "--no-access-log", "--timeout-graceful-shutdown", "10"]
    os.execve(str(AEGRA_PYTHON), command, env)
    return 0  # pragma: no cover - execve does not return
