from __future__ import annotations

import pytest

from graphs.market_brief.figures import compute_figures
from graphs.market_brief.state import BookLimit, Position


def _pos(book: str, symbol: str, qty: float, price: float, prev: float) -> Position:
    return Position(book=book, symbol=symbol, quantity=qty, price=price, prev_close=prev)


def test_pnl_by_book_movers_and_limits() -> None:
    positions = [
        _pos("A", "X", 100, 11.0, 10.0),  # +100, +10%
        _pos("A", "Y", -50, 19.0, 20.0),  # +50 (short gains), -5%
        _pos("B", "Z", 10, 99.0, 100.0),  # -10, -1%
    ]
    limits = [BookLimit(book="A", gross_limit=2000.0), BookLimit(book="B", gross_limit=10_000.0)]
    figures = compute_figures(positions, limits, currency="EUR", top_movers=2, utilisation_warning=0.9)
    assert figures["total_pnl"] == pytest.approx(140.0)
    books = {b["book"]: b for b in figures["books"]}
    assert books["A"]["pnl"] == pytest.approx(150.0)
    assert books["A"]["gross_exposure"] == pytest.approx(100 * 11 + 50 * 19)
    assert books["A"]["utilisation"] == pytest.approx(2050 / 2000, abs=1e-4)
    assert books["B"]["utilisation"] == pytest.approx(990 / 10_000, abs=1e-4)
    assert [m["symbol"] for m in figures["top_movers"]] == ["X", "Y"]
    assert figures["top_movers"][0]["move_pct"] == pytest.approx(10.0)
    assert figures["limit_warnings"] == ["A at 102% of its gross limit"]
    assert figures["currency"] == "EUR"


def test_book_without_limit_has_no_utilisation() -> None:
    figures = compute_figures([_pos("C", "Q", 1, 2.0, 2.0)], [], currency="USD", top_movers=5, utilisation_warning=0.9)
    assert figures["books"][0]["utilisation"] is None
    assert figures["limit_warnings"] == []
