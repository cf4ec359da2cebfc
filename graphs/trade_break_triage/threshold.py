"""The approval threshold in one currency: a break's notional converted with the rates its input carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphs.errors import InvalidInputError


def notional_in_threshold_currency(
    trade_break: Mapping[str, Any], fx_rates: Mapping[str, float] | None, threshold_currency: str
) -> float:
    """``abs(notional)`` in ``threshold_currency``; a currency the rates cannot convert is an error naming it."""
    currency = str(trade_break.get("currency", "")).strip().upper()
    target = threshold_currency.strip().upper()
    notional = abs(float(trade_break.get("notional", 0.0)))
    if currency == target:
        return notional
    rates = {str(k).strip().upper(): v for k, v in (fx_rates or {}).items()}
    rate = rates.get(currency)
    if rate is None:
        offered = ", ".join(sorted(rates)) or "none"
        raise InvalidInputError(
            "trade_break_triage",
            [("trade_break.currency", f"{currency!r} cannot be converted to the threshold currency {target!r}: "
              f"add fx_rates.{currency} (units of {target} per 1 {currency}); rates given: {offered}")],
        )  # fmt: skip
    return notional * float(rate)


def check_rates(fx_rates: object) -> None:
    """Rates must be positive numbers keyed by a three-letter currency code."""
    if fx_rates is None:
        return
    if not isinstance(fx_rates, Mapping):
        raise InvalidInputError("trade_break_triage", [("fx_rates", "expected an object of currency -> rate")])
    problems = [
        (f"fx_rates.{code}", f"expected a positive rate for a three-letter currency code, got {rate!r}")
        for code, rate in fx_rates.items()
        if not (isinstance(code, str) and len(code.strip()) == 3 and code.strip().isalpha())
        or isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0
    ]  # fmt: skip
    if problems:
        raise InvalidInputError("trade_break_triage", problems)


def check_convertible(payload: Mapping[str, Any], threshold_currency: str) -> None:
    """Before a run exists: the input's break can be compared with the threshold (422 naming the field)."""
    check_rates(payload.get("fx_rates"))
    trade_break = payload.get("trade_break")
    if isinstance(trade_break, Mapping):
        notional_in_threshold_currency(trade_break, payload.get("fx_rates"), threshold_currency)
