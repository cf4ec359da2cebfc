"""Each backend's prices in force, from the one price table (:mod:`core.prices`), looked up by its model."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time

from core.prices import Price, PriceTable
from router.config import BackendConfig
from router.errors import RouterConfigError


class BackendPrices:
    """The price of every backend's model today; looked up again when a newer price takes effect."""

    def __init__(self, table: PriceTable, backends: Sequence[BackendConfig], wall_clock: Callable[[], float]) -> None:
        self.table = table
        self.backends = list(backends)
        self.wall_clock = wall_clock
        self.valid_until = -math.inf
        self.by_name: dict[str, Price] = {}
        self.refresh()

    def refresh(self) -> bool:
        """Look the prices up again if a price's ``valid_from`` has passed; True when they changed."""
        now = self.wall_clock()
        if now < self.valid_until:
            return False
        today = datetime.fromtimestamp(now, UTC).date()
        self.by_name = {b.name: self._price(b, today) for b in self.backends}
        change = self.table.next_change(today)
        self.valid_until = math.inf if change is None else _midnight(change)
        return True

    def _price(self, backend: BackendConfig, on: date) -> Price:
        price = self.table.price_for(backend.model, on, backend.kind)
        if price is None:
            raise RouterConfigError(
                f"backend {backend.name!r}: model {backend.model!r} ({backend.kind}) has no price in force on {on} "
                f"in the price table {self.table.path}; add an entry for it (TRADEFLOW_PRICES_FILE names the file)"
            )
        return price

    def in_order(self) -> list[Price]:
        """Prices in the table's backend order."""
        return [self.by_name[b.name] for b in self.backends]


def _midnight(day: date) -> float:
    return datetime.combine(day, time(0), UTC).timestamp()
