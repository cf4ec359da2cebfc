"""Keys and the approval audit on each database tradeflow supports (SQLite and Postgres), across processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from access.audit import ApprovalAudit, Decision
from access.db import AccessDB
from access.keys import KeyStore
from tests.support.postgres import scratch_database

TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccessDB]:
    if request.param == "sqlite":
        database = AccessDB(None, tmp_path / "access.sqlite")
        yield database
        database.close()
        return
    with scratch_database("auth_test") as url:
        database = AccessDB(url, tmp_path / "unused.sqlite")
        yield database
        database.close()


def test_keys_are_stored_hashed_and_revocable(db: AccessDB) -> None:
    store = KeyStore(db, cache_s=0)
    info, key = store.add("alice", ["operator", "approver"], created_by="test")
    assert key.startswith(f"tfk_{info.key_id}_")
    with db.cursor() as cur:
        cur.execute("SELECT key_hash, roles FROM tradeflow_api_keys")
        [(stored, roles)] = cur.fetchall()
    assert key.split("_", 2)[2] not in stored  # only a hash is kept
    assert len(stored) == 64
    assert roles == "operator,approver"
    assert store.verify(key) is not None
    assert store.verify(key[:-2] + "zz") is None
    assert store.verify("tfk_nosuchid_secret") is None
    assert store.any_active()
    store.revoke(info.key_id)
    assert store.verify(key) is None
    assert not store.any_active()
    assert [k.revoked_at is not None for k in store.list(include_revoked=True)] == [True]


def test_the_audit_is_append_only_and_idempotent_per_run(db: AccessDB) -> None:
    audit = ApprovalAudit(db)
    decision = Decision("bob", "t-1", "r-1", "trade_break_triage", "BRK-1", "approved", "ok", requested_by="alice")
    assert audit.append(decision)
    assert not audit.append(decision)  # the same node re-run after a crash appends nothing twice
    assert audit.append(Decision("system", "t-2", "r-2", "trade_break_triage", "BRK-2", "auto_approved", "small"))
    assert [d.break_id for d in audit.decisions()] == ["BRK-1", "BRK-2"]
    errors = (psycopg.Error, __import__("sqlite3").Error)
    for statement in (
        "UPDATE tradeflow_approval_audit SET decision = 'rejected'",
        "DELETE FROM tradeflow_approval_audit",
    ):
        with pytest.raises(errors, match="append-only"), db.cursor() as cur:
            cur.execute(statement)
    if db.dialect == "postgres":
        with pytest.raises(psycopg.Error, match="append-only"), db.cursor() as cur:
            cur.execute("TRUNCATE tradeflow_approval_audit")
    reopened = ApprovalAudit(AccessDB(db.url, db.sqlite_path))  # another process, after a restart
    assert [d.decision for d in reopened.decisions(thread_id="t-1")] == ["approved"]
    reopened.db.close()


def test_keys_cli_prints_a_key_once_and_lists_and_revokes(tmp_path: Path) -> None:
    env = {"TRADEFLOW_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def tradeflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TRADEFLOW, "keys", *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    added = tradeflow("add", "j.doe", "--role", "approver", "--role", "viewer")
    assert added.returncode == 0, added.stderr
    key = added.stdout.splitlines()[1]
    key_id = key.split("_")[1]
    listed = tradeflow("list")
    assert f"{key_id}  j.doe" in listed.stdout
    assert key not in listed.stdout
    assert KeyStore(AccessDB(None, tmp_path / "access.sqlite"), 0).verify(key) is not None
    bad = tradeflow("add", "x", "--role", "boss")
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "error: unknown role 'boss'; roles: viewer, operator, approver, admin",
    )
    assert tradeflow("revoke", key_id).stdout.strip() == f"revoked key {key_id} of j.doe"
    assert tradeflow("list").stdout == ""
    assert "revoked" in tradeflow("list", "--all").stdout
    unknown = tradeflow("revoke", "nope")
    assert (unknown.returncode, "no key with id 'nope'" in unknown.stderr) == (2, True)
