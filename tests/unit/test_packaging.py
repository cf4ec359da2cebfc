"""langgraph.json, docker-compose.yml and .env.example agree with each other and with the code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from graphs.registry import GRAPHS
from tests.support.compose import env_example

REPO = Path(__file__).resolve().parents[2]
CONFIG = json.loads((REPO / "langgraph.json").read_text())


def test_langgraph_json_serves_every_registered_graph() -> None:
    assert CONFIG["$schema"].startswith("https://")
    assert CONFIG["dependencies"] == ["."]
    # No env file: langgraph dev would let .env override the process environment; Settings reads .env itself.
    assert "env" not in CONFIG
    assert set(CONFIG["graphs"]) == set(GRAPHS)
    for spec in [*CONFIG["graphs"].values(), CONFIG["checkpointer"]["path"], CONFIG["auth"]["path"]]:
        path, _, attr = spec.partition(":")
        source = (REPO / path).read_text()
        assert re.search(rf"^(async def |def |){attr}\b", source, re.M), spec
    assert CONFIG["auth"]["disable_studio_auth"] is True


def _locked_version(lock: str, package: str) -> str:
    match = re.search(rf'^name = "{package}"\nversion = "([^"]+)"', lock, re.M)
    assert match, f"{package} is not in uv.lock"
    return match.group(1)


def test_langgraph_dockerfile_installs_from_uv_lock(tmp_path: Path) -> None:
    """`langgraph dockerfile` / `langgraph build`: the image installs tradeflow's dependencies from uv.lock.

    Before, the generated Dockerfile resolved pyproject.toml's ranges afresh (`pip install -e .`), so the image
    could serve with versions no test had run.
    """
    target = tmp_path / "Dockerfile"
    cli = Path(sys.executable).parent / "langgraph"
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}
    proc = subprocess.run(
        [str(cli), "dockerfile", "-c", str(REPO / "langgraph.json"), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    dockerfile = target.read_text()
    lock = (REPO / "uv.lock").read_text()
    # The base image serves with the langgraph-api that uv.lock pins (and that `langgraph dev` runs in the tests).
    assert CONFIG["api_version"] == _locked_version(lock, "langgraph-api")
    assert dockerfile.startswith(f"FROM langchain/langgraph-api:{CONFIG['api_version']}-py{CONFIG['python_version']}\n")
    lines = dockerfile.splitlines()
    copy = lines.index("COPY pyproject.toml uv.lock /tmp/tradeflow-lock/")
    install = next(i for i, line in enumerate(lines) if line.startswith("RUN uv export --project /tmp/tradeflow-lock"))
    local_package = next(i for i, line in enumerate(lines) if line.startswith("ADD . /deps/"))
    assert copy < install < local_package  # the lock's versions are in place before the CLI installs tradeflow
    for flag in ("--frozen", "--no-dev", "--no-emit-project", "-r /tmp/tradeflow-lock/requirements.txt"):
        assert flag in lines[install], flag
    deps = f"/deps/{REPO.name}"  # the CLI names the folder after the checkout
    assert f"{deps}/core/persistence.py:server_checkpointer" in dockerfile
    assert f"{deps}/graphs/trade_break_triage/graph.py:graph" in dockerfile
    # The checked-in copy that docker compose --profile licensed builds is this one (`make dockerfile`).
    check = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "docker" / "langgraph_api_dockerfile.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert check.returncode == 0, check.stderr
    checked_in = (REPO / "deploy" / "docker" / "langgraph-api.Dockerfile").read_text()
    assert dockerfile.replace(deps, "/deps/tradeflow") in checked_in


def test_uv_export_of_the_lock_pins_every_dependency(tmp_path: Path) -> None:
    """The export the image runs (its flags copied from langgraph.json) yields exact pins, and no dev tools."""
    line = next(line for line in CONFIG["dockerfile_lines"] if line.startswith("RUN uv export"))
    export = line.removeprefix("RUN ").split(" && ")[0].split()
    project = tmp_path / "lock"
    project.mkdir()
    for name in ("pyproject.toml", "uv.lock"):
        (project / name).write_bytes((REPO / name).read_bytes())
    uv = REPO / ".tools" / "bin" / "uv"
    export = [str(uv), *export[1:]]
    export[export.index("--project") + 1] = str(project)
    export[export.index("--output-file") + 1] = str(project / "requirements.txt")
    proc = subprocess.run(export, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    pins = [line.split(" ;")[0] for line in (project / "requirements.txt").read_text().splitlines() if "==" in line]
    names = {pin.split("==")[0] for pin in pins}
    lock = (REPO / "uv.lock").read_text()
    for dependency in ("langgraph", "langchain-openai", "psycopg", "pydantic-settings"):
        assert f"{dependency}=={_locked_version(lock, dependency)}" in pins
    assert not names & {"pytest", "ruff", "mypy", "litellm", "langgraph-api", "langgraph-cli", "tradeflow"}


def test_env_example_lists_every_setting_the_code_reads() -> None:
    from pydantic import AliasChoices

    from core.settings import Settings

    read = {
        str(name)
        for field in Settings.model_fields.values()
        for name in (
            field.validation_alias.choices
            if isinstance(field.validation_alias, AliasChoices)
            else [field.validation_alias]
        )
    }
    assert read, "no settings found: the pattern no longer matches core/settings.py"
    example = env_example()
    assert read <= set(example), sorted(read - set(example))
    lines = (REPO / "router" / "backends.default.yaml").read_text().splitlines()
    table = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    from_table = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", table)) | set(re.findall(r"_env: ([A-Z_]+)", table))
    assert from_table <= set(example), sorted(from_table - set(example))
    for secret in ("OPENAI_API_KEY", "TRADEFLOW_API_KEY", "LANGSMITH_API_KEY"):
        assert example[secret] == "", f"{secret} must have no value in .env.example"


def test_readme_quick_start_is_the_ci_command() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quick_start
    assert "make test" in quick_start
    assert "make test" in (REPO / ".ci" / "run").read_text()
