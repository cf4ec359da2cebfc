"""Ingest rate into Postgres: the writer's batched COPY path vs row-by-row INSERT (the baseline).

Writes synthetic ``llm_calls`` rows into a scratch database on the local server, side by side in one run.
Prints ``name value unit`` lines.

    .venv/bin/python benchmarks/analytics_ingest.py [--rows 100000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from analytics.rows import LlmCallRow, columns
from analytics.store import PostgresStore
from tests.support.postgres import scratch_database


def _rows(n: int) -> list[LlmCallRow]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        LlmCallRow(
            start + timedelta(microseconds=i * 30),
            f"run{i // 5}",
            f"d{i}",
            ("market_brief", "recon")[i % 2],
            "openai",
            ("gpt-4o-mini", "gpt-4o")[i % 2],
            "openai-mini",
            "success",
            None,
            1,
            None,
            400,
            120,
            0,
            "provider",
            0.0001,
            "price_table",
            0.8,
            0.2,
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    args = parser.parse_args()
    rows = _rows(args.rows)
    with scratch_database("tradeflow_bench_ingest") as url:
        store = PostgresStore(url)
        store.migrate()
        store.write(rows[:10])  # partitions and connection ready
        started = time.perf_counter()
        for i in range(0, len(rows), args.batch):
            store.write(rows[i : i + args.batch])
        copy_rate = len(rows) / (time.perf_counter() - started)
        names = columns(LlmCallRow)
        insert = f"INSERT INTO llm_calls ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
        sample = rows[: args.baseline_rows]
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            for row in sample:
                conn.execute(insert, [getattr(row, n) for n in names])  # type: ignore[arg-type]
            insert_rate = len(sample) / (time.perf_counter() - started)
        total = store.fetch("SELECT count(*) FROM llm_calls", {})[0][0]
        store.close()
    print(f"ingest_batched_copy_with_rollups {copy_rate:,.0f} rows/s".replace(",", ""))
    print(f"ingest_row_by_row_insert_baseline {insert_rate:,.0f} rows/s".replace(",", ""))
    print(f"batched_over_row_by_row {copy_rate / insert_rate:.1f} x")
    print(f"rows_in_table {total} rows")


if __name__ == "__main__":
    main()
