from __future__ import annotations

from graphs.eod_reconciliation.matching import find_mismatches, rank, risk_score
from graphs.eod_reconciliation.state import ExplainedMismatch, Holding


def _h(account: str, symbol: str, qty: float, price: float | None = None) -> Holding:
    holding = Holding(account=account, symbol=symbol, quantity=qty)
    if price is not None:
        holding["price"] = price
    return holding


def test_finds_each_kind_of_mismatch_and_values_it() -> None:
    books = [_h("A", "X", 100, 10.0), _h("A", "Y", 5, 2.0), _h("B", "Z", 1, 1.0)]
    custodian = [_h("A", "X", 90), _h("B", "Z", 1), _h("B", "W", 7, 3.0)]
    found = {(m["account"], m["symbol"]): m for m in find_mismatches(books, custodian, tolerance=0)}
    assert set(found) == {("A", "X"), ("A", "Y"), ("B", "W")}
    assert found[("A", "X")]["kind"] == "quantity_break"
    assert found[("A", "X")]["difference"] == 10
    assert found[("A", "X")]["exposure"] == 100.0
    assert found[("A", "Y")]["kind"] == "missing_at_custodian"
    assert found[("B", "W")]["kind"] == "missing_in_books"
    assert found[("B", "W")]["exposure"] == 21.0


def test_tolerance_and_split_lots() -> None:
    books = [_h("A", "X", 60, 1.0), _h("A", "X", 40, 1.0)]
    assert find_mismatches(books, [_h("A", "X", 100.4)], tolerance=0.5) == []
    assert len(find_mismatches(books, [_h("A", "X", 100.4)], tolerance=0.1)) == 1


def test_rank_orders_by_weighted_exposure_then_name() -> None:
    [big, small] = find_mismatches([_h("A", "X", 10, 100.0), _h("A", "Y", 10, 10.0)], [], tolerance=0)

    def explained(m, cause):  # type: ignore[no-untyped-def]
        return ExplainedMismatch(
            mismatch=m, likely_cause=cause, explanation="", suggested_action="", risk_score=risk_score(m, cause)
        )

    ranked = rank([explained(small, "booking_error"), explained(big, "timing")])
    # 1000 x 0.3 = 300 beats 100 x 1.0 = 100
    assert [e["mismatch"]["symbol"] for e in ranked] == ["X", "Y"]
    assert ranked[0]["risk_score"] == 300.0
