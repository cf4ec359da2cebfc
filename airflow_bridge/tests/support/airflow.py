"""Real Airflow for the tests: a migrated SQLite metadata DB, DAG files run with ``dag.test()``, the API server.

``configure(home)`` must run before anything imports Airflow (it reads its configuration at import).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.servers import Process, _wait_http, free_port

AIRFLOW = Path(sys.executable).parent / "airflow"
ADMIN_PASSWORD = "admin-test-password"


def configure(home: Path) -> dict[str, str]:
    """Point Airflow at ``home`` (SQLite DB, DAGs folder, simple auth manager user) via the environment."""
    (home / "dags").mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    passwords.write_text(f'{{"admin": "{ADMIN_PASSWORD}"}}\n')
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # an asset event queues runs only for unpaused DAGs
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "tradeflow-bridge-tests-only",
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "False",
        "LANGSMITH_TRACING": "false",
    }
    os.environ.update(env)
    return env


def migrate() -> None:
    """``airflow db migrate`` on the configured SQLite file."""
    done = subprocess.run([str(AIRFLOW), "db", "migrate"], capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def langgraph_connection(url: str, api_key: str | None) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON) for a ``langgraph`` connection."""
    import json

    return json.dumps({"conn_type": "langgraph", "host": url, "password": api_key or ""})


@dataclass
class DagResult:
    """One finished ``dag.test()`` run: its state, task states and XComs."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    xcoms: dict[tuple[str, str], Any]

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_id, key))


def write_dag(dags_folder: Path, body: str, dag_id: str | None = None) -> tuple[Path, str]:
    """Write a DAG file whose ``{dag_id}`` placeholder gets a unique id; returns (path, dag_id)."""
    dag_id = dag_id or f"t_{uuid.uuid4().hex[:10]}"
    path = dags_folder / f"{dag_id}.py"
    path.write_text(textwrap.dedent(body).replace("{dag_id}", dag_id))
    return path, dag_id


def run_dag(path: Path, dag_id: str, **test_kwargs: Any) -> DagResult:
    """Import the DAG file and run ``dag.test()`` in this process (the trigger of a deferred task runs inline)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    spec = importlib.util.spec_from_file_location(f"dagfile_{dag_id}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = next(v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id and hasattr(v, "test"))
    dagrun = dag.test(**test_kwargs)
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == dagrun.run_id).all()
        xcoms = {(row.task_id, row.key): row.value for row in rows}
    states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}
    return DagResult(dag_id, dagrun.run_id, str(dagrun.state), states, xcoms)


class AirflowAPIServer(Process):
    """``airflow api-server`` on a free port: the core API, the simple auth manager's /auth, and the execution
    API the scheduler's task processes report to."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        super().__init__(
            [
                str(AIRFLOW),
                "api-server",
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-w",
                "1",
                "--apps",
                "core,execution",
            ],
            cwd=workdir,
            env=dict(os.environ),
            log=workdir / "api-server.log",
        )

    def wait(self) -> AirflowAPIServer:
        _wait_http(f"{self.url}/api/v2/version", self.process, self.log, 120)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class AirflowScheduler(Process):
    """``airflow scheduler`` (LocalExecutor) whose task processes talk to ``api``'s execution API."""

    def __init__(self, workdir: Path, api: AirflowAPIServer) -> None:
        env = {
            **os.environ,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api.url}/execution/",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # The API server shares a SQLite file with the scheduler on a loaded 2-core machine: a task's
            # calls to the execution API can wait on the file lock for longer than the 5 s default.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        }
        super().__init__([str(AIRFLOW), "scheduler"], cwd=workdir, env=env, log=workdir / "scheduler.log")


def parse_dags(*, only: str | None = None) -> subprocess.CompletedProcess[str]:
    """One pass of the real ``airflow dag-processor`` over the DAGs folder (``only``: a sub-folder's files)."""
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    ignore = folder / ".airflowignore"
    if only is not None:
        skipped = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if p.name not in (only,
                         ".airflowignore"))  # fmt: skip
        ignore.write_text("".join(f"{name}\n" for name in skipped))
    try:
        return subprocess.run(
            [str(AIRFLOW), "dag-processor", "--num-runs", "1"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        ignore.unlink(missing_ok=True)
