"""Price tables for tests: the shared table's format, built from a few model prices."""

from __future__ import annotations

from core.prices import PriceTable


def price_table(prices: dict[str, float | tuple[float, float]], version: str = "test") -> PriceTable:
    """A price table pricing each model pattern at ``(input, output)`` USD per 1M tokens (one number: both)."""
    entries = []
    for pattern, price in prices.items():
        input_price, output_price = price if isinstance(price, tuple) else (price, price)
        entries.append({"pattern": pattern, "valid_from": "2024-01-01", "input_per_1m": input_price,
                        "output_per_1m": output_price})  # fmt: skip
    return PriceTable.from_data({"version": version, "prices": entries}, "test prices")
