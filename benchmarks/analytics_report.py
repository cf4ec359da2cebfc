"""30-day cost report by model x workflow x day: from raw rows vs from the hourly rollup.

Loads N synthetic ``llm_calls`` rows spread over 30 days into a scratch database on the local Postgres (server
side, with generate_series), builds the hourly rollup, then times the same report both ways in one run, plus,
once, the baseline of grouping by ``date_trunc('day', ts)`` per row.
Prints ``name value unit`` lines.

    .venv/bin/python benchmarks/analytics_report.py [--rows 1000000]   # --rows 10000000 for the full target
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.queries import ReportRequest, cost_report
from analytics.store import PostgresStore
from tests.support.postgres import scratch_database

LOAD = """
INSERT INTO llm_calls (ts, run_id, decision_id, workflow, provider, model, backend, status, error_class, attempt,
                       fallback_of, input_tokens, output_tokens, cached_tokens, token_source, cost_usd, cost_source,
                       latency_s, ttft_s)
SELECT %(now)s - (g::double precision / %(rows)s) * interval '30 days', 'run' || g, NULL,
       (ARRAY['market_brief','trade_break_triage','eod_reconciliation','llm_router'])[1 + g %% 4], 'openai',
       (ARRAY['gpt-4o-mini','gpt-4o','llama3.1','qwen2.5'])[1 + (g / 7) %% 4], 'b', 'success', NULL, 1, NULL,
       400, 120, 0, 'provider', 0.0001 * (1 + g %% 10), 'bench', 0.5, 0.1
FROM generate_series(1, %(rows)s) AS g
"""
ROLLUP = """
INSERT INTO llm_cost_hourly (hour, workflow, provider, model, calls, failed_calls, input_tokens, output_tokens,
                             cost_usd)
SELECT date_trunc('hour', ts), workflow, provider, model, count(*), 0, sum(input_tokens), sum(output_tokens),
       sum(cost_usd)
FROM llm_calls GROUP BY 1, 2, 3, 4
"""


# The same report grouped the obvious way, by date_trunc over ts per row: no statistics cover that expression,
# so the planner expects one group per row and sorts them all. Timed once, side by side, as the baseline.
NAIVE = """
SELECT date_trunc('day', ts) AS day, model, workflow, count(*), sum(input_tokens), sum(output_tokens),
       sum(cost_usd) AS cost_usd
FROM llm_calls WHERE ts >= %(since)s AND ts < %(until)s GROUP BY 1, 2, 3 ORDER BY cost_usd DESC, 1, 2, 3
"""


def _time(store: PostgresStore, request: ReportRequest, repeats: int = 3) -> tuple[float, int]:
    samples, rows = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        rows = len(cost_report(store, request))
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with scratch_database("tradeflow_bench_report") as url:
        store = PostgresStore(url)
        store.migrate()
        store.ensure_partitions((now - timedelta(days=d)).date() for d in range(32))
        conn = store._connect()
        started = time.perf_counter()
        conn.execute(LOAD, {"now": now, "rows": args.rows})
        conn.execute(ROLLUP)
        store.refresh_statistics()  # what the writer's maintenance does at start and every 6 h
        print(f"load_and_rollup {time.perf_counter() - started:.1f} s")
        since = now - timedelta(days=30, minutes=5)
        by = ("model", "workflow", "day")
        raw_s, raw_rows = _time(store, ReportRequest(since=since, by=by))
        rollup_s, rollup_rows = _time(store, ReportRequest(since=since, by=by, from_rollup=True))
        started = time.perf_counter()
        conn.execute(NAIVE, {"since": since, "until": now + timedelta(minutes=1)}).fetchall()
        naive_s = time.perf_counter() - started
        store.close()
    print(f"rows {args.rows} rows")
    print(f"report_30d_model_workflow_day_from_raw {raw_s * 1000:.0f} ms")
    print(f"report_30d_model_workflow_day_from_rollup {rollup_s * 1000:.1f} ms")
    print(f"baseline_date_trunc_per_row_from_raw {naive_s * 1000:.0f} ms")
    print(f"baseline_over_raw {naive_s / raw_s:.1f} x")
    print(f"raw_over_rollup {raw_s / rollup_s:.0f} x")
    print(f"report_result_rows {raw_rows} rows (rollup: {rollup_rows})")


if __name__ == "__main__":
    main()
