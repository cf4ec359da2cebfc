"""Print the stack's compose configuration as `docker compose config` would, for `make compose-check`.

Both files (docker-compose.yml, docker-compose.licensed.yml) interpolated with .env.example's values and a stand-in
for every required secret, then merged, YAML anchors and merge keys resolved. `make compose-check` hands the result
to compose-spec (Python bindings of the Rust compose_spec crate, a spec-compliant parser), since no Docker is here.
"""

from __future__ import annotations

import sys

import yaml

from tests.unit.test_compose import FILES, _env_example, _interpolate, _references, _uncommented


def compose_config() -> str:
    """The merged, interpolated configuration as YAML (extension fields dropped)."""
    texts = [_uncommented(path.read_text()) for path in FILES]
    env = _env_example()
    for text in texts:
        for name, operator, _ in _references(text):
            if operator == ":?" and not env.get(name):
                env[name] = f"stand-in-{name.lower()}"
    first, *others = (yaml.safe_load(_interpolate(text, env)) for text in texts)
    for other in others:
        first["services"].update(other["services"])
    merged = {key: value for key, value in first.items() if not key.startswith("x-")}
    return yaml.safe_dump(merged, sort_keys=False)


if __name__ == "__main__":
    sys.stdout.write(compose_config())
