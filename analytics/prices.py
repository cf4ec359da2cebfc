"""A versioned price table: model-name patterns with valid-from dates; cost computed at ingest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analytics.errors import PriceTableError

DEFAULT_PRICES = Path(__file__).with_name("prices.default.yaml")


class PriceEntry(BaseModel):
    """Prices for the models matching ``pattern`` from ``valid_from`` on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str = Field(min_length=1)
    valid_from: date
    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)
    cached_input_per_1m: float | None = Field(default=None, ge=0)


class PriceFile(BaseModel):
    """The whole price file."""

    model_config = ConfigDict(extra="forbid")
    version: str
    prices: list[PriceEntry]


@dataclass(frozen=True)
class Priced:
    """A cost and where it came from."""

    cost_usd: float
    source: str


class PriceTable:
    """Look up the price of a model on a date."""

    def __init__(self, spec: PriceFile) -> None:
        self.version = spec.version
        self.entries = list(spec.prices)

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """Read and validate a price file (the committed default when ``path`` is None)."""
        path = path or DEFAULT_PRICES
        try:
            data = yaml.safe_load(path.read_text())
            return cls(PriceFile.model_validate(data))
        except FileNotFoundError:
            raise PriceTableError(f"{path}: file not found (TRADEFLOW_PRICES_FILE)") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise PriceTableError(f"{path}: {problems}") from None

    def entry_for(self, model: str, on: date) -> PriceEntry | None:
        """The entry in force for ``model`` on ``on``: the most specific pattern, then the newest price."""
        matches = [e for e in self.entries if e.valid_from <= on and fnmatchcase(model, e.pattern)]
        if not matches:
            return None
        return max(matches, key=lambda e: (len(e.pattern.replace("*", "")), e.valid_from))

    def cost(
        self, model: str, on: date, input_tokens: int, output_tokens: int, cached_tokens: int = 0
    ) -> Priced | None:
        """Cost of one call at the prices in force, or None when no entry matches."""
        entry = self.entry_for(model, on)
        if entry is None:
            return None
        cached_price = entry.cached_input_per_1m if entry.cached_input_per_1m is not None else entry.input_per_1m
        fresh = max(input_tokens - cached_tokens, 0)
        cost = (fresh * entry.input_per_1m + cached_tokens * cached_price + output_tokens * entry.output_per_1m) / 1e6
        return Priced(cost, f"price_table:{self.version}:{entry.pattern}@{entry.valid_from}")
