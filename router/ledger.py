"""Budgets: reserve a call's estimated cost before it starts, settle with its real cost when it ends.

The figures live in a :class:`~router.spend_store.SpendStore` (the database), so N workers share one budget
and a restart remembers the day's spend. This process keeps only a hint of what is left (from the last
reservation or settlement it saw), which ranking uses to leave out backends that cannot fit; the reservation
itself is the authority.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from router.errors import SpendStoreError
from router.spend_store import MemorySpendStore, SpendStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reservation:
    """Part of a workflow's daily budget held for one attempt."""

    id: str
    workflow: str
    day: date
    amount_usd: float


_NO_DAY = date(1970, 1, 1)  # a workflow without a budget reserves nothing: no id, no date, no database
_NOTHING_HELD: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()


def utc_today() -> date:
    """The UTC date budgets are kept by."""
    return datetime.now(UTC).date()


class SpendLedger:
    """Daily budgets per workflow over a shared store."""

    def __init__(
        self, budgets_usd_per_day: dict[str, float], store: SpendStore | None = None, ttl_s: float = 300.0
    ) -> None:
        self._budgets = budgets_usd_per_day
        self.store: SpendStore = store if store is not None else MemorySpendStore()
        # Database stores are called from a worker thread, so the event loop never waits on a lock or a socket.
        self._threaded = not isinstance(self.store, MemorySpendStore)
        self.ttl_s = ttl_s
        self._committed: dict[tuple[str, date], float] = {}

    def budget_for(self, workflow: str) -> float | None:
        """The workflow's daily limit ('*' for any workflow not listed), or None for no limit."""
        return self._budgets.get(workflow, self._budgets.get("*"))

    def remaining_hint(self, workflow: str) -> float | None:
        """What is left of today's budget as this process last saw it (None: no limit)."""
        if not self._budgets:
            return None
        budget = self.budget_for(workflow)
        if budget is None:
            return None
        return max(budget - self._committed.get((workflow, utc_today()), 0.0), 0.0)

    def committed(self, workflow: str) -> float:
        """Spent plus reserved today, as this process last saw it."""
        return self._committed.get((workflow, utc_today()), 0.0)

    def unbudgeted(self, workflow: str, amount_usd: float) -> Reservation | None:
        """The empty reservation of a workflow without a budget (nothing to hold); None when it has one."""
        if self._budgets and self.budget_for(workflow) is not None:
            return None
        return Reservation("", workflow, _NO_DAY, amount_usd)

    async def reserve(self, workflow: str, amount_usd: float) -> Reservation | None:
        """Hold ``amount_usd`` of today's budget; None when it does not fit (no budget: always granted)."""
        budget = self.budget_for(workflow)
        if budget is None:
            return Reservation("", workflow, _NO_DAY, amount_usd)
        reservation = Reservation(uuid.uuid4().hex, workflow, utc_today(), amount_usd)
        args = (reservation.id, workflow, reservation.day, amount_usd, budget, self.ttl_s)
        if self._threaded:
            pending = asyncio.ensure_future(asyncio.to_thread(self.store.reserve, *args))
            try:
                granted, committed = await asyncio.shield(pending)
            except asyncio.CancelledError:
                # The database may grant it after the caller is gone: give it back once it does.
                pending.add_done_callback(lambda done: self._release_abandoned(done, reservation))
                raise
        else:
            granted, committed = self.store.reserve(*args)
        self._committed[(workflow, reservation.day)] = committed
        return reservation if granted else None

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the reservation by the real cost."""
        if self.budget_for(reservation.workflow) is None:
            return
        args = (reservation.id, reservation.workflow, reservation.day, actual_usd)
        if self._threaded:
            committed = await asyncio.to_thread(self.store.settle, *args)
        else:
            committed = self.store.settle(*args)
        self._committed[(reservation.workflow, reservation.day)] = committed

    def settle_later(self, reservation: Reservation, actual_usd: float) -> None:
        """Settle without waiting (the caller is being cancelled): a worker thread does it."""
        if self.budget_for(reservation.workflow) is None:
            return
        args = (reservation.id, reservation.workflow, reservation.day, actual_usd)
        if not self._threaded:
            self.store.settle(*args)
            return
        try:
            asyncio.get_running_loop().run_in_executor(None, self._settle_quietly, *args)
        except RuntimeError:
            self._settle_quietly(*args)

    def _release_abandoned(self, done: asyncio.Future[tuple[bool, float]], reservation: Reservation) -> None:
        """A reservation whose caller was cancelled while the database granted it: settle it at nothing."""
        if done.cancelled() or done.exception() is not None:
            return
        granted, _ = done.result()
        if granted:
            self.settle_later(reservation, 0.0)

    def holding(self, reservation: Reservation) -> contextlib.AbstractAsyncContextManager[None]:
        """Keep ``reservation`` from expiring while its attempt runs: a long stream may outlast the time-to-live.

        The time-to-live is what frees the budget a crashed process held; a live one renews its reservations
        every third of it, so only a dead process's reservations ever expire. Nothing reserved (no budget):
        nothing to do, and no generator-based context manager to pay for on every call.
        """
        return self._renewing(reservation) if reservation.id else _NOTHING_HELD

    @contextlib.asynccontextmanager
    async def _renewing(self, reservation: Reservation) -> AsyncIterator[None]:
        renewal = asyncio.create_task(self._renew(reservation), name=f"renew-{reservation.id}")
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    async def _renew(self, reservation: Reservation) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                if self._threaded:
                    await asyncio.to_thread(self.store.extend, reservation.id, self.ttl_s)
                else:
                    self.store.extend(reservation.id, self.ttl_s)
            except SpendStoreError:
                logger.warning("could not extend reservation %s; trying again", reservation.id, exc_info=True)

    def _settle_quietly(self, *args: object) -> None:
        try:
            self.store.settle(*args)  # type: ignore[arg-type]
        except SpendStoreError:
            # Nobody awaits this settlement; the reservation expires after its time-to-live instead.
            logger.exception("could not settle reservation %s; it expires on its own", args[0])

    def spent(self, workflow: str, day: date | None = None) -> float:
        """Settled spend of ``workflow`` on ``day`` (today by default), read from the store."""
        return self.store.spent(workflow, day or utc_today())
