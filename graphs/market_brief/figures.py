"""Market figures computed in code: P&L by book, biggest movers, limit utilisation."""

from __future__ import annotations

from collections import defaultdict

from graphs.market_brief.state import BookFigures, BookLimit, MarketFigures, Mover, Position


def compute_figures(
    positions: list[Position],
    limits: list[BookLimit],
    *,
    currency: str,
    top_movers: int,
    utilisation_warning: float,
) -> MarketFigures:
    """Aggregate a snapshot into the figures the brief is written from."""
    pnl_by_book: dict[str, float] = defaultdict(float)
    gross_by_book: dict[str, float] = defaultdict(float)
    pnl_by_symbol: dict[str, float] = defaultdict(float)
    move_by_symbol: dict[str, float] = {}
    for pos in positions:
        pnl = pos["quantity"] * (pos["price"] - pos["prev_close"])
        pnl_by_book[pos["book"]] += pnl
        gross_by_book[pos["book"]] += abs(pos["quantity"] * pos["price"])
        pnl_by_symbol[pos["symbol"]] += pnl
        if pos["prev_close"]:
            move_by_symbol[pos["symbol"]] = (pos["price"] / pos["prev_close"] - 1.0) * 100.0
    limit_by_book = {lim["book"]: lim["gross_limit"] for lim in limits}
    books: list[BookFigures] = []
    warnings: list[str] = []
    for book in sorted(pnl_by_book):
        limit = limit_by_book.get(book)
        utilisation = gross_by_book[book] / limit if limit else None
        books.append(
            BookFigures(
                book=book,
                pnl=round(pnl_by_book[book], 2),
                gross_exposure=round(gross_by_book[book], 2),
                gross_limit=limit,
                utilisation=round(utilisation, 4) if utilisation is not None else None,
            )
        )
        if utilisation is not None and utilisation >= utilisation_warning:
            warnings.append(f"{book} at {utilisation:.0%} of its gross limit")
    ranked = sorted(move_by_symbol, key=lambda s: (-abs(move_by_symbol[s]), s))[:top_movers]
    movers = [Mover(symbol=s, move_pct=round(move_by_symbol[s], 2), pnl=round(pnl_by_symbol[s], 2)) for s in ranked]
    return MarketFigures(
        currency=currency,
        total_pnl=round(sum(pnl_by_book.values()), 2),
        books=books,
        top_movers=movers,
        limit_warnings=warnings,
    )
