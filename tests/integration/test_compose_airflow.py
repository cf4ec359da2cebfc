"""The compose stack's Airflow services, run here without Docker, with the configuration compose gives them.

The image's environment (`make airflow-image-env`: airflow_bridge/uv.lock with its deploy group, as
deploy/docker/airflow.Dockerfile installs it) and entry point, with docker-compose.yml's x-airflow configuration
(hosts pointed at this machine's Postgres and Redis): `db migrate` (airflow-init), `dags list` over the DAG files the
image build writes, then the Celery worker, scheduler, DAG processor, triggerer and API server together until each
one's compose healthcheck passes, and the admin password the entry point wrote logs in.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.compose import interpolate, need, stop
from tests.support.langgraph_server import free_port
from tests.support.postgres import scratch_database

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
IMAGE_ENV = REPO / ".venv-airflow-image"
ENTRYPOINT = REPO / "deploy" / "docker" / "airflow-entrypoint.sh"
REDIS_URL = "redis://127.0.0.1:6379/3"  # this suite's Redis database


def _airflow_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """docker-compose.yml's x-airflow environment, its hosts pointed at this machine's services."""
    secrets = {
        "AIRFLOW_FERNET_KEY": "3Ch5jZ0pWvYgNdL0w1kO8qfJb6m2Qx4T7sRzUaHcEiA=", "AIRFLOW_JWT_SECRET": "test-jwt-secret",
        "AIRFLOW_SECRET_KEY": "test-secret-key", "AIRFLOW_DB_PASSWORD": "test-unused",
        "TRADEFLOW_AIRFLOW_API_KEY": "test-airflow-key", "AIRFLOW_ADMIN_PASSWORD": "test-admin-password",
    }  # fmt: skip
    compose_env: dict[str, Any] = COMPOSE["x-airflow"]["environment"]
    local = database_url.split("://", 1)[1]
    env = {}
    for name, value in compose_env.items():
        text = interpolate(str(value), secrets)
        text = text.replace("airflow:test-unused@postgres:5432/airflow", local)
        text = text.replace("redis://redis:6379/2", REDIS_URL)
        env[name] = text
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"postgresql+psycopg2://{local}"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+postgresql://{local}"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == REDIS_URL
    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "HOSTNAME": socket.gethostname(),
        "PATH": f"{IMAGE_ENV / 'bin'}:{os.environ['PATH']}",
    })  # fmt: skip
    return {**os.environ, **env}


AIRFLOW_PROBE = """
import json
from airflow.configuration import conf
from airflow.providers_manager import ProvidersManager
from airflow.sdk import Connection
connection = Connection.get("langgraph_default")
print(json.dumps({
    "executor": conf.get("core", "executor"),
    "providers": sorted(ProvidersManager().providers),
    "langgraph_default": {"conn_type": connection.conn_type, "host": connection.host},
}))
"""


def _airflow(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _until_healthy(
    service: str, env: dict[str, str], proc: subprocess.Popen[bytes], log: Path, rewrite: dict[str, str]
) -> None:
    """Run the service's compose healthcheck until it passes (the way Docker would)."""
    test = [_rewrite(part, rewrite) for part in COMPOSE["services"][service]["healthcheck"]["test"]]
    command = ["sh", "-c", test[1].replace("$$", "$")] if test[0] == "CMD-SHELL" else test[1:]
    deadline = time.monotonic() + 300
    while True:
        check = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        if check.returncode == 0:
            return
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, (
            f"{service} never healthy: {check.stdout}{check.stderr}\n{log.read_text()[-3000:]}"
        )
        time.sleep(2)


def _rewrite(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


@pytest.mark.postgres
@pytest.mark.timeout(900)  # Airflow's migrations and six Airflow processes on a 2-core machine
def test_airflow_image_commands_on_postgres_and_redis(tmp_path: Path) -> None:
    need(IMAGE_ENV / "bin" / "airflow", "the Airflow image's environment (make airflow-image-env)")
    assert ENTRYPOINT.stat().st_mode & stat.S_IXUSR
    with scratch_database("compose_airflow") as database_url:
        env = _airflow_env(tmp_path, database_url)
        home = Path(env["AIRFLOW_HOME"])
        # The image build writes the factory's DAG files into the DAGs folder.
        written = subprocess.run([str(IMAGE_ENV / "bin" / "python"), "-m", "tradeflow_airflow.dag_files",
                                  str(home / "dags")], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert written.returncode == 0, written.stderr
        assert sorted(p.name for p in (home / "dags").iterdir()) == [
            "tradeflow_workflows.py",
            "tradeflow_workflows_check.py",
        ]

        migrate = _airflow(env, *COMPOSE["services"]["airflow-init"]["command"])
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-3000:]
        # One interpreter for what the CLI would need three start-ups for: executor, providers, the connection.
        probe = subprocess.run([str(IMAGE_ENV / "bin" / "python"), "-c", AIRFLOW_PROBE], env=env, capture_output=True,
                               text=True, timeout=180)  # fmt: skip
        assert probe.returncode == 0, probe.stderr[-3000:]
        found = json.loads(probe.stdout.strip().splitlines()[-1])
        assert found["executor"] == "CeleryExecutor"
        assert {"tradeflow-airflow", "apache-airflow-providers-celery", "apache-airflow-providers-postgres"} <= set(
            found["providers"]
        )
        assert found["langgraph_default"] == {"conn_type": "langgraph", "host": "http://tradeflow:8000"}
        dags = _airflow(env, "dags", "list", "-o", "json")
        assert dags.returncode == 0, dags.stderr[-3000:]

        # The API server's entry point writes the admin password file from AIRFLOW_ADMIN_PASSWORD.
        admin = interpolate(COMPOSE["services"]["airflow-api-server"]["environment"]["AIRFLOW_ADMIN_PASSWORD"],
                             {"AIRFLOW_ADMIN_PASSWORD": "test-admin-password"})  # fmt: skip
        version = _airflow({**env, "AIRFLOW_ADMIN_PASSWORD": admin}, "version")
        assert version.returncode == 0
        passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        assert json.loads(passwords.read_text()) == {"admin": "test-admin-password"}
        assert stat.S_IMODE(passwords.stat().st_mode) == 0o600

        # Every long-running Airflow service, started together as compose would, until its healthcheck passes.
        api_port = free_port()
        services = ("airflow-worker", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-api-server")  # fmt: skip
        running: dict[str, tuple[subprocess.Popen[bytes], Path, list[str]]] = {}
        try:
            for service in services:
                log = tmp_path / f"{service}.log"
                command = [arg.replace("8080", str(api_port)) for arg in COMPOSE["services"][service]["command"]]
                extra = {"AIRFLOW_ADMIN_PASSWORD": admin} if service == "airflow-api-server" else {}
                with log.open("wb") as out:
                    proc = subprocess.Popen([str(ENTRYPOINT), *command], env={**env, **extra}, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
                running[service] = (proc, log, command)
            for service, (proc, log, _) in running.items():
                _until_healthy(service, env, proc, log, {"127.0.0.1:8080": f"127.0.0.1:{api_port}"})
            # The admin password the entry point wrote is the one Airflow's API accepts (airflow_api_default).
            token = httpx.post(f"http://127.0.0.1:{api_port}/auth/token", timeout=30,
                               json={"username": "admin", "password": admin})  # fmt: skip
            assert token.status_code == 201, token.text
            wrong = httpx.post(f"http://127.0.0.1:{api_port}/auth/token", timeout=30,
                               json={"username": "admin", "password": "test-wrong"})  # fmt: skip
            assert wrong.status_code == 401
        finally:
            stop(*(proc for proc, _, _ in running.values()))
