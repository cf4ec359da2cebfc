"""No secret-looking literal in any tracked file (keys, tokens, passwords, private keys, URLs with credentials).

A hit names the file and line. The test doubles' stand-in values are allowed by name below; anything else that
looks like a secret must come from the environment (``core/settings.py``), never from the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PATTERNS = {
    "OpenAI key": re.compile(r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{20,}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "LangSmith key": re.compile(r"\blsv2_(?:pt|sk)_[A-Za-z0-9_]{20,}"),
    "secret assignment": re.compile(
        r"(?i)(?:password|passwd|secret|api_?key|token)[\"']?\s*[:=]\s*[\"']([^\"'\s${}<>]{8,})[\"']"
    ),
    "URL with a password": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s/'\"]{3,})@"),
}
# Stand-ins the tests and docs use on purpose: never valid anywhere.
ALLOWED = {
    "test-key-for-double",
    "change-me-locally",
    "***",
    "hunter2",  # tests/unit/test_settings.py: a password that must not be echoed
    "pw-789",  # tests/unit/test_settings.py: redaction examples
    "pw-1",
    "k-7f3a91",  # tests/integration/test_server_persistence.py: the API key its test server is given
    "bridge-test-key",  # airflow_bridge/tests: the key the bridge's test server is given
    "conn-key",  # airflow_bridge/tests/test_hook.py: an Airflow connection's password
    "admin-test-password",  # airflow_bridge/tests/support/airflow.py: the test Airflow's admin
    "tradeflow-bridge-tests-only",  # airflow_bridge/tests/support/airflow.py: the test Airflow's secret key
    "sk-live-123",  # tests/unit/test_settings.py: a key that must not be echoed
}
PLACEHOLDER = re.compile(r"(?i)^(change-?me|dummy|example|placeholder|your[-_]|test[-_]|fake|xxx|\$\{)")
SKIPPED = ("uv.lock", ".tiktoken")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    files = []
    for name in filter(None, names):
        path = REPO / name.decode()
        if path.is_file() and not path.name.endswith(SKIPPED) and path.stat().st_size < 2_000_000:
            files.append(path)
    return files


def findings(text: str) -> list[tuple[int, str, str]]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                value = match.group(match.lastindex or 0)
                if value in ALLOWED or PLACEHOLDER.match(value):
                    continue
                found.append((number, kind, match.group(0)))
    return found


def test_the_patterns_catch_what_they_are_for() -> None:
    samples = [
        "OPENAI_API_KEY = '" + "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0k1L2'",
        "aws = 'AKIA" + "ABCDEFGHIJKLMNOP'",
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        'password="' + 'S3cr3tPassw0rd"',
        "DATABASE_URL=postgresql://app:" + "realpass@db/x",
    ]
    assert all(findings(sample) for sample in samples)
    assert findings("password = 'change-me-locally'\nurl = 'postgresql://u:***@h/db'\napi_key=os.environ[k]") == []


def test_no_tracked_file_holds_a_secret_looking_literal() -> None:
    hits = []
    for path in tracked_text_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        hits += [f"{path.relative_to(REPO)}:{line}: {kind}: {found}" for line, kind, found in findings(text)]
    assert hits == [], "secret-looking literals in tracked files:\n" + "\n".join(hits)
