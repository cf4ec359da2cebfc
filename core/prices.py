"""The one price table: versioned model prices shared by the router (ranking, budgets) and analytics (cost).

Prices belong to models, not to backend slots: a backend running ``gpt-4.1-mini`` is priced as ``gpt-4.1-mini``
whatever its name in the backend table. Each entry has a ``valid_from`` date, so a cost is always computed at the
prices in force on the call's (UTC) date, and says which entry priced it (its ``source``).

The file is ``core/prices.default.yaml`` unless ``TRADEFLOW_PRICES_FILE`` names another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import PriceTableError

DEFAULT_PRICES = Path(__file__).with_name("prices.default.yaml")


class PriceEntry(BaseModel):
    """Prices for the models matching ``pattern`` (on ``provider``, when given) from ``valid_from`` on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str = Field(min_length=1)
    provider: str | None = None
    valid_from: date
    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)
    cached_input_per_1m: float | None = Field(default=None, ge=0)


class PriceFile(BaseModel):
    """The whole price file."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1)
    prices: list[PriceEntry]


@dataclass(frozen=True, slots=True)
class Price:
    """One model's prices in force, and the entry they came from."""

    input_per_1m: float
    output_per_1m: float
    cached_input_per_1m: float
    source: str
    """``price_table:<version>:<pattern>[@provider]@<valid_from>``: stored with every cost."""

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """USD for one call; cached input at the cached price."""
        fresh = max(input_tokens - cached_tokens, 0)
        return (
            fresh * self.input_per_1m + cached_tokens * self.cached_input_per_1m + output_tokens * self.output_per_1m
        ) / 1e6


@dataclass(frozen=True, slots=True)
class Priced:
    """A cost and where it came from."""

    cost_usd: float
    source: str


class PriceTable:
    """Look up the price of a model on a date."""

    def __init__(self, spec: PriceFile, path: Path | str = "(inline)") -> None:
        self.version = spec.version
        self.entries = list(spec.prices)
        self.path = str(path)

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """Read and validate a price file (the committed default when ``path`` is None)."""
        path = path or DEFAULT_PRICES
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise PriceTableError(f"{path}: file not found (TRADEFLOW_PRICES_FILE)") from None
        except yaml.YAMLError as exc:
            raise PriceTableError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_data(data, path)

    @classmethod
    def from_data(cls, data: Any, source: Path | str = "(inline)") -> PriceTable:
        """Validate an already-parsed price file; errors name the file, the entry and the field."""
        try:
            return cls(PriceFile.model_validate(data), source)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise PriceTableError(f"{source}: {problems}") from None

    def entry_for(self, model: str, on: date, provider: str | None = None) -> PriceEntry | None:
        """The entry in force: provider-specific first, then the most specific pattern, then the newest price."""
        best: PriceEntry | None = None
        best_key: tuple[bool, int, date] | None = None
        for entry in self.entries:
            if entry.valid_from > on or not fnmatchcase(model, entry.pattern):
                continue
            if entry.provider is not None and entry.provider != provider:
                continue
            key = (entry.provider is not None, len(entry.pattern.replace("*", "")), entry.valid_from)
            if best_key is None or key > best_key:
                best, best_key = entry, key
        return best

    def price_for(self, model: str, on: date, provider: str | None = None) -> Price | None:
        """The prices in force for ``model`` on ``on`` (None when no entry covers it)."""
        entry = self.entry_for(model, on, provider)
        if entry is None:
            return None
        cached = entry.cached_input_per_1m if entry.cached_input_per_1m is not None else entry.input_per_1m
        where = f"{entry.pattern}@{entry.provider}" if entry.provider else entry.pattern
        source = f"price_table:{self.version}:{where}@{entry.valid_from}"
        return Price(entry.input_per_1m, entry.output_per_1m, cached, source)

    def next_change(self, on: date) -> date | None:
        """The first ``valid_from`` after ``on``: until then, every price looked up on ``on`` still holds."""
        later = [e.valid_from for e in self.entries if e.valid_from > on]
        return min(later) if later else None

    def cost(
        self,
        model: str,
        on: date,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
        provider: str | None = None,
    ) -> Priced | None:
        """Cost of one call at the prices in force, or None when no entry matches."""
        price = self.price_for(model, on, provider)
        if price is None:
            return None
        return Priced(price.cost(input_tokens, output_tokens, cached_tokens), price.source)
