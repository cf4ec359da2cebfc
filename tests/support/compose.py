"""The compose stack read as `docker compose` reads it, without Docker: files, interpolation, merged configuration.

Shared by tests/unit/test_compose.py (static checks) and tests/integration/test_compose_*.py (the services'
commands run here). `python -m tests.support.compose` prints both files interpolated with .env.example's values
(a stand-in for every required secret) and merged, extension fields dropped, like `docker compose config`:
`make compose-check` validates that with compose-spec.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "docker-compose.yml"
LICENSED = REPO / "docker-compose.licensed.yml"
FILES = (MAIN, LICENSED)
PROFILES = {"aegra", "licensed", "gpu"}
SERVERS = ("aegra", "langgraph-api")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; $${...} is a literal dollar.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}")
SECRET = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$")


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def all_services() -> dict[str, dict[str, Any]]:
    """Both files' services, as `docker compose -f docker-compose.yml -f docker-compose.licensed.yml` sees them."""
    services: dict[str, dict[str, Any]] = {}
    for path in FILES:
        for name, service in load(path)["services"].items():
            assert name not in services, f"{name} is defined in both compose files"
            services[name] = service
    return services


def uncommented(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def references(text: str) -> Iterator[tuple[str, str | None, str]]:
    """(name, operator, argument) for every variable reference outside comments, nested defaults included."""
    for match in VARIABLE.finditer(uncommented(text)):
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        yield name, operator, argument
        yield from references(argument)


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of ``text`` with ``env`` (unset and empty alike fall to the default)."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name, "")
        if operator in (":-", "-"):
            return value or interpolate(argument, env)
        if operator in (":?", "?"):
            assert value, f"{name} is required: {argument}"
            return value
        return value

    return VARIABLE.sub(substitute, text).replace("$$", "$")


def need(path: Path | None, what: str) -> Path:
    """``path``, or skip on a laptop where it is missing (fail under CI=true)."""
    if path is None or not path.exists():
        message = f"{what} is missing"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def stop(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM to each service's process group (each started in a session of its own), as `docker stop` does;
    SIGKILL to what is left a minute later."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    for proc in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def compose_config() -> str:
    """Both files interpolated (a stand-in for each required secret) and merged, as YAML; extension fields dropped."""
    texts = [uncommented(path.read_text()) for path in FILES]
    env = env_example()
    for text in texts:
        for name, operator, _ in references(text):
            if operator == ":?" and not env.get(name):
                env[name] = f"stand-in-{name.lower()}"
    first, *others = (yaml.safe_load(interpolate(text, env)) for text in texts)
    for other in others:
        first["services"].update(other["services"])
    merged = {key: value for key, value in first.items() if not key.startswith("x-")}
    return yaml.safe_dump(merged, sort_keys=False)


if __name__ == "__main__":
    sys.stdout.write(compose_config())
