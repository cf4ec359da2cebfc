"""Matching of book and custodian positions, and risk ranking, all in code."""

from __future__ import annotations

from collections import defaultdict

from graphs.eod_reconciliation.state import ExplainedMismatch, Holding, LikelyCause, Mismatch, MismatchKind

# How much a mismatch of each cause matters, given its exposure: a timing difference clears by
# itself, a booking error is a real position we do not know we hold.
CAUSE_WEIGHT: dict[LikelyCause, float] = {
    "booking_error": 1.0,
    "unknown": 1.0,
    "custodian_error": 0.9,
    "corporate_action": 0.6,
    "timing": 0.3,
}


def _totals(holdings: list[Holding]) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    quantity: dict[tuple[str, str], float] = defaultdict(float)
    price: dict[tuple[str, str], float] = {}
    for holding in holdings:
        key = (holding["account"], holding["symbol"])
        quantity[key] += holding["quantity"]
        if "price" in holding:
            price[key] = holding["price"]
    return quantity, price


def find_mismatches(books: list[Holding], custodian: list[Holding], tolerance: float) -> list[Mismatch]:
    """Every (account, symbol) whose quantities differ by more than ``tolerance``, sorted."""
    book_qty, book_price = _totals(books)
    cust_qty, cust_price = _totals(custodian)
    mismatches: list[Mismatch] = []
    for key in sorted(set(book_qty) | set(cust_qty)):
        ours, theirs = book_qty.get(key, 0.0), cust_qty.get(key, 0.0)
        difference = ours - theirs
        if abs(difference) <= tolerance:
            continue
        kind: MismatchKind
        if key not in cust_qty:
            kind = "missing_at_custodian"
        elif key not in book_qty:
            kind = "missing_in_books"
        else:
            kind = "quantity_break"
        price = book_price.get(key, cust_price.get(key, 0.0))
        mismatches.append(
            Mismatch(
                account=key[0],
                symbol=key[1],
                kind=kind,
                book_quantity=ours,
                custodian_quantity=theirs,
                difference=difference,
                exposure=round(abs(difference) * price, 2),
            )
        )
    return mismatches


def risk_score(mismatch: Mismatch, cause: LikelyCause) -> float:
    """Exposure weighted by how much the likely cause matters."""
    return round(mismatch["exposure"] * CAUSE_WEIGHT[cause], 2)


def rank(explained: list[ExplainedMismatch]) -> list[ExplainedMismatch]:
    """Most urgent first; ties broken by account and symbol so the order is stable."""
    return sorted(explained, key=lambda e: (-e["risk_score"], e["mismatch"]["account"], e["mismatch"]["symbol"]))
