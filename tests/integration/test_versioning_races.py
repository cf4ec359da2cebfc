"""Concurrent movers and failures of the versioning store, on real Git repositories, SQLite and Postgres.

Each race is made deterministic: the "other" writer is a second service (another replica, with its own
connections) that acts at the exact point where the first is between its read and its write.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.settings import reset_settings
from graphs.versioning_service import VersioningService, service
from tests.support.postgres import scratch_database
from tests.support.versioning import make_service, variant
from versioning.errors import ConflictError, FieldError, StoreError
from versioning.store import GitStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VersioningService]:
    if request.param == "sqlite":
        built = make_service(tmp_path)
        yield built
        built.close()
        return
    with scratch_database("vfix_races") as url:
        built = make_service(tmp_path, url)
        yield built
        built.close()


@pytest.fixture
def replica(svc: VersioningService, tmp_path: Path) -> Iterator[VersioningService]:
    """A second replica on the same Git store and database (own caches, own connections)."""
    other = make_service(tmp_path, svc.settings.database_url)
    yield other
    other.close()


def published(svc: VersioningService, count: int, workflow: str = "market_brief") -> None:
    for n in range(1, count + 1):
        svc.publish(text=variant(workflow, f"v{n}"), message=f"v{n}", author="jane")


def wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def once(action: Callable[[], None]) -> Callable[[], None]:
    done: list[bool] = []

    def run() -> None:
        if not done:
            done.append(True)
            action()

    return run


def test_a_label_move_during_a_load_never_leaves_the_old_version_cached(
    svc: VersioningService, replica: VersioningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broke: a resolution that loaded the label before a move stored it after a concurrent resolution had
    seen the move's token, so the old version stayed cached (under the new token) until the next move."""
    published(svc, 2)
    svc.labels.move("market_brief", "production", 1, actor="jane")
    assert svc.db.wait_listening()
    real_get = svc.labels.get

    def move_and_resolve_concurrently() -> None:
        before = svc.db.change_token()
        replica.labels.move("market_brief", "production", 2, actor="bob")
        wait_for(lambda: svc.db.change_token() != before)  # this replica has heard of the move
        assert svc.resolve("market_brief")["version"] == 2

    racing = once(move_and_resolve_concurrently)

    def slow_get(workflow: str, label: str) -> int | None:
        value = real_get(workflow, label)  # read before the move ...
        racing()  # ... and stored after it
        return value

    monkeypatch.setattr(svc.labels, "get", slow_get)
    assert svc.resolve("market_brief")["version"] == 1  # began before the move: the old version is right for it
    assert svc.resolve("market_brief")["version"] == 2
    assert svc.resolve("market_brief")["version"] == 2


def test_a_cache_only_resolution_never_answers_from_before_a_label_move(
    svc: VersioningService, replica: VersioningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``versioned_workflow`` resolves on the event loop from the caches (no Git or database read) and falls back
    to a worker thread when they cannot answer: a move in another replica must send it there, not to the old
    version. On SQLite reading the change token is a database call, so there it always falls back."""
    published(svc, 2)
    svc.labels.move("market_brief", "production", 1, actor="jane")
    resolver = svc.resolver
    if svc.db.dialect == "sqlite":
        assert resolver.resolve("market_brief").version == 1
        assert resolver.resolve_cached("market_brief") is None
        return
    assert svc.db.wait_listening()  # on Postgres, no change token (and so no cache) before it listens
    assert resolver.resolve_cached("market_brief") is None  # nothing loaded yet
    assert resolver.resolve("market_brief").version == 1
    monkeypatch.setattr(svc.labels, "get", lambda *a: pytest.fail("a cache-only resolution read the database"))
    monkeypatch.setattr(svc.store, "sha", lambda *a: pytest.fail("a cache-only resolution read Git"))
    cached = resolver.resolve_cached("market_brief")
    assert cached is not None
    assert (cached.version, cached.label) == (1, "production")
    assert resolver.resolve_cached("market_brief", version=2) is None  # this version's commit is not cached yet
    assert resolver.resolve_cached("market_brief", label="staging") is None  # a label never looked up
    monkeypatch.undo()
    before = svc.db.change_token()
    replica.labels.move("market_brief", "production", 2, actor="bob")
    wait_for(lambda: svc.db.change_token() != before)
    assert resolver.resolve_cached("market_brief") is None  # the caches are from before the move
    assert resolver.resolve("market_brief").version == 2
    assert resolver.resolve_cached("market_brief") == resolver.resolve("market_brief")


def test_two_rollbacks_at_once_one_wins_the_other_gets_a_conflict(
    svc: VersioningService, replica: VersioningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broke: both rollbacks read v3 and both wrote; the second silently rolled back again and audited twice."""
    published(svc, 3)
    for version in (1, 2, 3):
        svc.labels.move("market_brief", "production", version, actor="jane")
    real_sha = svc.store.sha
    other = once(lambda: replica.labels.rollback("market_brief", actor="bob", reason="bob saw it first"))

    def sha_while_another_rolls_back(workflow: str, version: int) -> str:
        other()
        return real_sha(workflow, version)

    monkeypatch.setattr(svc.store, "sha", sha_while_another_rolls_back)
    with pytest.raises(ConflictError, match="points at version 2, not version 3") as lost:
        svc.labels.rollback("market_brief", actor="ann", reason="ann too")
    assert lost.value.field == "label"
    assert svc.labels.get("market_brief", "production") == 2
    rollbacks = [(e.actor, e.from_version, e.to_version) for e in svc.labels.audit("market_brief") if
                 e.action == "rollback"]  # fmt: skip
    assert rollbacks == [("bob", 3, 2)]


def test_a_conditional_move_names_where_the_label_points_now(svc: VersioningService) -> None:
    published(svc, 3)
    svc.labels.move("market_brief", "production", 2, actor="jane")
    with pytest.raises(ConflictError, match="points at version 2, not version 1"):
        svc.move_label("market_brief", "production", 3, actor="bob", expect=1)
    with pytest.raises(ConflictError, match="points at version 2, not version 1"):
        svc.labels.rollback("market_brief", actor="bob", reason="x", expect=1)
    assert svc.move_label("market_brief", "production", 3, actor="bob", expect=2).to_version == 3
    assert [e.to_version for e in svc.labels.audit("market_brief")] == [2, 3]


def test_a_ramp_and_a_stop_at_once_the_loser_gets_a_conflict(
    svc: VersioningService, replica: VersioningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broke: a ramp computed from the experiment as it read it overwrote a stop (or ramp) made meanwhile."""
    published(svc, 2)
    svc.labels.move("market_brief", "production", 1, actor="jane")
    arms = [{"name": "control", "version": 1, "weight": 0.5}, {"name": "treatment", "version": 2, "weight": 0.5}]
    started = svc.experiments.start("market_brief", arms, actor="jane", name="brief-ab")
    assert started.revision == 0
    real_sha = svc.store.sha  # the ramp checks its arms' versions between its read and its write
    other = once(lambda: replica.experiments.stop("brief-ab", actor="bob", reason="done") and None)

    def sha_while_another_stops(workflow: str, version: int) -> str:
        other()
        return real_sha(workflow, version)

    monkeypatch.setattr(svc.store, "sha", sha_while_another_stops)
    with pytest.raises(ConflictError, match="was stopped by someone else"):
        svc.experiments.ramp("brief-ab", {"control": 0.2, "treatment": 0.8}, actor="ann")
    found = svc.experiments.get("brief-ab")
    assert (found.status, found.revision, [a.weight for a in found.arms]) == ("stopped", 1, [0.5, 0.5])
    with pytest.raises(ConflictError, match="already stopped"):
        svc.experiments.stop("brief-ab", actor="ann")
    actions = [e.action for e in svc.labels.audit("market_brief")]
    assert actions == ["move", "experiment_start", "experiment_stop"]


def test_a_ramp_from_an_old_revision_is_refused(svc: VersioningService) -> None:
    published(svc, 2)
    svc.labels.move("market_brief", "production", 1, actor="jane")
    arms = [{"name": "control", "version": 1, "weight": 0.5}, {"name": "treatment", "version": 2, "weight": 0.5}]
    svc.experiments.start("market_brief", arms, actor="jane", name="brief-ab")
    assert (
        svc.experiments.ramp("brief-ab", {"control": 0.4, "treatment": 0.6}, actor="a", expect_revision=0).revision == 1
    )
    with pytest.raises(ConflictError, match="at revision 1, not 0") as stale:
        svc.experiments.ramp("brief-ab", {"control": 0.1, "treatment": 0.9}, actor="b", expect_revision=0)
    assert stale.value.field == "revision"
    assert [a.weight for a in svc.experiments.get("brief-ab").arms] == [0.4, 0.6]


def test_a_label_and_its_guardrail_move_together(
    svc: VersioningService, replica: VersioningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broke: the move and its thresholds were two transactions; between them another replica saw the new
    version carrying the old thresholds (and a failure there left the label moved without them)."""
    published(svc, 2)
    svc.move_label("market_brief", "production", 1, actor="jane", guardrail={"max_error_rate": 0.5})
    seen: list[tuple[int | None, Any]] = []
    real_transaction = svc.db.transaction

    def transaction(**kwargs: Any) -> Any:
        class Watched:
            def __enter__(self) -> Any:
                self.inner = real_transaction(**kwargs)
                return self.inner.__enter__()

            def __exit__(self, *exc: Any) -> Any:
                result = self.inner.__exit__(*exc)
                if kwargs.get("write", True):  # after each committed write, what does another replica see?
                    rails = {(w, lb): g.max_error_rate for w, lb, _, g in replica.labels.guardrails()}
                    seen.append((replica.labels.get("market_brief", "production"),
                                 rails.get(("market_brief", "production"))))  # fmt: skip
                return result

        return Watched()

    monkeypatch.setattr(svc.db, "transaction", transaction)
    svc.move_label("market_brief", "production", 2, actor="jane", guardrail={"max_error_rate": 0.1})
    assert seen == [(2, 0.1)]
    actions = [(e.action, e.to_version) for e in svc.labels.audit("market_brief")]
    assert actions[-2:] == [("move", 2), ("guardrail", 2)]


@pytest.mark.parametrize(
    ("message", "author", "field", "problem"),
    [
        ("", "jane", "message", "required"),
        ("   ", "jane", "message", "required"),
        ("x" * 501, "jane", "message", "at most 500 characters"),
        ("line one\nline two", "jane", "message", "control character '\\n'"),
        ("ok", "", "author", "required"),
        ("ok", "jane\x00", "author", "control character"),
        ("ok", "j" * 201, "author", "at most 200 characters"),
        ("ok", "jane <a> <b>", "author", "expected 'Name' or 'Name <email>'"),
    ],
)
def test_publish_refuses_a_bad_message_or_author_naming_the_field(
    tmp_path: Path, message: str, author: str, field: str, problem: str
) -> None:
    """Broke: an empty, huge or multi-line message or author went into the commit as it was."""
    svc = make_service(tmp_path)
    try:
        with pytest.raises(FieldError, match=f"^{field}: .*{re.escape(problem)}") as refused:
            svc.publish(text=variant("market_brief", "a"), message=message, author=author)
        assert refused.value.field == field
        with pytest.raises(FieldError):
            svc.store.publish("market_brief", variant("market_brief", "a"), message=message, author=author)
        assert svc.store.all_versions() == {}
    finally:
        svc.close()


def test_publish_fails_at_once_on_a_stale_lock_and_retries_only_a_real_race(tmp_path: Path) -> None:
    """Broke: every git failure was taken for a race and retried; a stale main.lock ended in 'the repository kept
    changing under us' after five attempts instead of saying what was wrong."""
    repo = tmp_path / "workflows.git"
    store = GitStore(repo)
    store.publish("market_brief", variant("market_brief", "seed"), message="seed", author="t")
    lock = repo / "refs" / "heads" / "main.lock"
    lock.write_text("left by a crashed git\n")
    attempts: list[int] = []
    real_commit = store._commit

    def counted(*args: Any) -> str:
        attempts.append(1)
        return real_commit(*args)

    store._commit = counted  # type: ignore[method-assign]
    with pytest.raises(StoreError, match=r"main\.lock") as failed:
        store.publish("market_brief", variant("market_brief", "next"), message="next", author="t")
    assert "kept changing" not in str(failed.value)
    assert len(attempts) == 1
    lock.unlink()

    class Raced(GitStore):
        """Another host (the file lock does not reach it) tags the next number between our read and our write."""

        def _commit(self, repo: Any, workflow: str, number: int, *args: Any) -> str:
            if number == 2 and not attempts[1:]:
                attempts.append(1)
                subprocess.run(["git", "tag", f"{workflow}/v{number}", "main"], cwd=repo.git_dir, check=True)
            return super()._commit(repo, workflow, number, *args)

    again = Raced(repo).publish("market_brief", variant("market_brief", "next"), message="next", author="t")
    assert (again.version, again.created) == (3, True)


def _connections(url: str) -> int:
    database = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                           (database,)).fetchone()  # fmt: skip
    return int(row[0]) if row else 0


@pytest.mark.postgres
def test_settings_reset_closes_the_service_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broke: reset_settings() only dropped the cached service; its connection and its LISTEN connection stayed
    open for the life of the process."""
    with scratch_database("vfix_reset") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("TRADEFLOW_WORKFLOWS_REPO", str(tmp_path / "workflows.git"))
        reset_settings()
        svc = service()
        svc.publish(text=variant("market_brief", "a"), message="a", author="jane")
        svc.labels.move("market_brief", "production", 1, actor="jane")
        assert svc.db.wait_listening()
        assert _connections(url) == 2  # the service's own and its change listener
        reset_settings()
        wait_for(lambda: _connections(url) == 0)
        with pytest.raises(StoreError, match="closed"):
            svc.labels.get("market_brief", "production")


def test_driver_errors_become_store_errors_without_the_password(tmp_path: Path) -> None:
    """Broke: a damaged SQLite file or a Postgres error other than a lost connection surfaced as the raw driver
    exception (an HTTP 500 on the server)."""
    svc = make_service(tmp_path)
    try:
        svc.settings.versioning_sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        svc.settings.versioning_sqlite_path.write_bytes(b"this is not a database" * 100)
        with pytest.raises(StoreError, match=r"versioning database .*versioning\.sqlite: file is not a database"):
            svc.labels.all()
    finally:
        svc.close()
    marker = "s3cr3t-pw"  # a stand-in password the error must not repeat
    closed = make_service(tmp_path / "pg", "postgresql://tradeflow:" + marker + "@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(StoreError) as refused:
            closed.labels.all()
        assert marker not in str(refused.value)
        assert "tradeflow:***@127.0.0.1:1/nowhere" in str(refused.value)
    finally:
        closed.close()


@pytest.mark.postgres
def test_a_broken_postgres_schema_is_a_store_error(tmp_path: Path) -> None:
    with scratch_database("vfix_schema") as url:
        svc = make_service(tmp_path, url)
        try:
            svc.labels.all()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ALTER TABLE workflow_labels DROP COLUMN guardrail")
            with pytest.raises(StoreError, match='column "guardrail" does not exist'):
                svc.labels.guardrails()
        finally:
            svc.close()


def test_the_cli_and_the_service_import_neither_numpy_nor_scipy() -> None:
    """Broke: every `tradeflow workflows ...` command (and the server) imported NumPy through the versioning
    service, whatever it did; only a report or a guardrail check needs it."""
    code = (
        "import sys, cli.main, graphs.versioning_service, versioning.report, versioning.stats\n"
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ}, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert result.stdout.strip() == "[]"
