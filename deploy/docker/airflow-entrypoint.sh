#!/usr/bin/env bash
# Entry point of the Airflow image: `airflow <the service's command>`. The simple auth manager's password file is
# written here, from AIRFLOW_ADMIN_PASSWORD (set on the API server only), so no password is baked into the image.
set -euo pipefail

if [[ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]]; then
  python - <<'PY'
import json
import os

path = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") or os.path.join(
    os.environ["AIRFLOW_HOME"], "simple_auth_manager_passwords.json"
)
users = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
name = users.split(",")[0].split(":")[0].strip()
descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(descriptor, "w") as handle:
    json.dump({name: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, handle)
PY
fi

exec airflow "$@"
