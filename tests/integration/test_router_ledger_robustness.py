"""Budget reservations under cancellation, long streams and crashes: real SQLite files and real Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from router.ledger import SpendLedger
from router.spend_store import PostgresSpendStore, SpendStore, SqliteSpendStore

WORKFLOW = "desk"


class SlowSqliteStore(SqliteSpendStore):
    """A store whose database takes its time to grant a reservation (a busy database)."""

    def reserve(
        self, reservation_id: str, workflow: str, day: date, amount_usd: float, budget_usd: float, ttl_s: float
    ) -> tuple[bool, float]:
        time.sleep(0.3)
        return super().reserve(reservation_id, workflow, day, amount_usd, budget_usd, ttl_s)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SpendStore]:
    found: SpendStore
    if request.param == "postgres":
        found = PostgresSpendStore(str(request.getfixturevalue("postgres_url")))
    else:
        found = SqliteSpendStore(tmp_path / "router.sqlite")
    yield found
    found.close()


async def test_a_reserve_cancelled_while_the_database_grants_it_gives_the_budget_back(tmp_path: Path) -> None:
    """Regression: a call cancelled during its budget reservation (client gone) left the reservation the database
    granted behind it, holding the budget until its time-to-live ran out."""
    store = SlowSqliteStore(tmp_path / "router.sqlite")
    ledger = SpendLedger({WORKFLOW: 1.0}, store, ttl_s=600)
    try:
        task = asyncio.create_task(ledger.reserve(WORKFLOW, 0.6))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 10
        while (again := await ledger.reserve(WORKFLOW, 0.6)) is None:
            assert time.monotonic() < deadline, "the abandoned reservation still holds the budget"
            await asyncio.sleep(0.1)
        await ledger.settle(again, 0.0)
        assert ledger.spent(WORKFLOW) == 0.0
    finally:
        store.close()


async def test_a_reservation_outlives_its_time_to_live_while_its_attempt_runs(store: SpendStore) -> None:
    """Regression: a stream longer than the reservation's time-to-live let the reservation expire mid-call, and
    concurrent calls spent the budget it was holding."""
    workflow = f"stream-{uuid.uuid4().hex[:8]}"
    ledger = SpendLedger({workflow: 1.0}, store, ttl_s=0.6)
    held = await ledger.reserve(workflow, 0.6)
    assert held is not None
    async with ledger.holding(held):
        await asyncio.sleep(1.5)  # a long stream: well past the time-to-live
        assert await ledger.reserve(workflow, 0.6) is None
    await ledger.settle(held, 0.5)
    assert ledger.spent(workflow) == pytest.approx(0.5)


async def test_expired_reservations_are_deleted(store: SpendStore, tmp_path: Path) -> None:
    """Regression: in Postgres, reservations a crashed process never settled stayed in the table for good."""
    workflow = f"crash-{uuid.uuid4().hex[:8]}"  # the Postgres database is shared by the session's tests
    ledger = SpendLedger({workflow: 1.0}, store, ttl_s=0.2)
    abandoned = await ledger.reserve(workflow, 0.6)  # never settled: its process "crashed"
    assert abandoned is not None
    await asyncio.sleep(0.4)
    fresh = await ledger.reserve(workflow, 0.6)
    assert fresh is not None  # the expired one no longer counts...
    assert _reservation_ids(store, workflow) == {fresh.id}  # ...and is gone from the table


def _reservation_ids(store: SpendStore, workflow: str) -> set[str]:
    query = "SELECT id FROM router_reservations WHERE workflow = "
    if isinstance(store, PostgresSpendStore):
        with psycopg.connect(store.url) as conn:
            return {row[0] for row in conn.execute(query + "%s", (workflow,))}
    assert isinstance(store, SqliteSpendStore)
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        return {row[0] for row in conn.execute(query + "?", (workflow,))}
