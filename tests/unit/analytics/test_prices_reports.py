"""Prices, cost arithmetic, report requests and rendering."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.dashboards.build import DASHBOARDS, HERE, render_all
from analytics.errors import ReportQueryError
from analytics.queries import ReportRequest, cost_query, parse_since
from analytics.reports import Progress, render
from core.errors import PriceTableError
from core.prices import PriceTable


def test_price_in_force_on_the_call_date() -> None:
    prices = PriceTable.load()
    old = prices.cost("gpt-4o-2024-08-06", date(2024, 6, 1), 1_000_000, 1_000_000)
    new = prices.cost("gpt-4o-2024-08-06", date(2025, 1, 1), 1_000_000, 1_000_000)
    assert old is not None
    assert old.cost_usd == pytest.approx(5.0 + 15.0)
    assert new is not None
    assert new.cost_usd == pytest.approx(2.5 + 10.0)
    assert new.source == f"price_table:{prices.version}:gpt-4o*@2024-10-01"


def test_mini_is_not_priced_as_its_bigger_sibling_and_cached_input_is_cheaper() -> None:
    prices = PriceTable.load()
    priced = prices.cost("gpt-4o-mini", date(2026, 1, 1), 1000, 500, cached_tokens=400)
    assert priced is not None
    assert priced.cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 500 * 0.60) / 1e6)
    assert prices.cost("mystery-model", date(2026, 1, 1), 10, 10) is None


def test_bad_price_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        'version: "1"\nprices:\n  - {pattern: "x*", valid_from: 2024-01-01, input_per_1m: -1, output_per_1m: 1}\n'
    )
    with pytest.raises(PriceTableError, match=r"prices\.0\.input_per_1m: Input should be greater than or equal to 0"):
        PriceTable.load(path)


def test_a_provider_specific_price_beats_the_generic_one() -> None:
    """The same open model costs differently hosted and on the desk's own hardware."""
    prices = PriceTable.from_data({"version": "v", "prices": [
        {"pattern": "llama*", "valid_from": "2024-01-01", "input_per_1m": 0.5, "output_per_1m": 0.5},
        {"pattern": "llama*", "provider": "ollama", "valid_from": "2024-01-01", "input_per_1m": 0.02,
         "output_per_1m": 0.06},
    ]})  # fmt: skip
    local = prices.price_for("llama3.1", date(2026, 1, 1), "ollama")
    hosted = prices.price_for("llama3.1", date(2026, 1, 1), "openai_compatible")
    assert local is not None
    assert hosted is not None
    assert (local.input_per_1m, hosted.input_per_1m) == (0.02, 0.5)
    assert local.source == "price_table:v:llama*@ollama@2024-01-01"
    assert prices.next_change(date(2023, 6, 1)) == date(2024, 1, 1)
    assert prices.next_change(date(2026, 1, 1)) is None


def test_periods() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("2w", now) == now - timedelta(days=14)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ReportQueryError, match="since: expected"):
        parse_since("last tuesday", now)


@pytest.mark.parametrize(
    ("by", "filters", "message"),
    [
        (("model; DROP TABLE llm_calls",), {}, "by: expected some of"),
        (("backend",), {}, "by: expected some of"),  # not in the rollup
        (("model",), {"prompt": "x"}, "filter: expected some of"),
    ],
)
def test_report_requests_are_checked(by: tuple[str, ...], filters: dict[str, str], message: str) -> None:
    with pytest.raises(ReportQueryError, match=message):
        ReportRequest(since=datetime(2026, 1, 1, tzinfo=UTC), by=by, filters=filters, from_rollup=True)


def test_filter_values_are_parameters_never_sql() -> None:
    request = ReportRequest(since=datetime(2026, 1, 1, tzinfo=UTC), filters={"model": "Qwen/Qwen2.5-7B:v1@eu"})
    query, params, _ = cost_query(request, "postgres")
    assert "Qwen" not in query
    assert params["f_model"] == "Qwen/Qwen2.5-7B:v1@eu"


def test_filter_values_no_name_could_have_are_refused_before_any_query() -> None:
    with pytest.raises(ReportQueryError, match=r"^workflow: expected a workflow name"):
        ReportRequest(since=datetime(2026, 1, 1, tzinfo=UTC), filters={"workflow": "x' OR '1'='1"})


def test_render_formats() -> None:
    rows = [{"model": "m", "workflow": "w", "calls": 2, "cost_usd": 0.5}]
    assert render(rows, "csv").splitlines() == ["model,workflow,calls,cost_usd", "m,w,2,0.5"]
    assert json.loads(render(rows, "json")) == rows
    assert "| m | w | 2 | 0.5 |" in render(rows, "md")
    page = render(rows, "html", trends=[{"day": "2026-11-24", "runs": 3, "cost_usd": 1.5}])
    assert page.count("<svg") == 2
    assert "<td>m</td>" in page
    with pytest.raises(ReportQueryError, match="format"):
        render(rows, "xlsx")


def test_an_empty_report_still_has_its_header() -> None:
    """Regression: `tradeflow report --format csv` with no rows printed nothing at all."""
    columns = ["model", "workflow", "calls", "cost_usd"]
    assert render([], "csv", columns=columns) == "model,workflow,calls,cost_usd\r\n"
    assert render([], "md", columns=columns).startswith("| model | workflow | calls | cost_usd |")
    assert "<th>cost_usd</th>" in render([], "html", columns=columns)


def test_workflow_percentiles_are_computed_by_sqlite_as_percentile_cont(tmp_path: Path) -> None:
    from analytics.queries import workflow_report
    from analytics.rows import WorkflowRunRow
    from analytics.sqlite_store import SqliteStore

    store = SqliteStore(tmp_path / "a.sqlite")
    store.migrate()
    durations = [0.7, 0.1, 3.2, 0.4, 9.9, 0.25, 1.5, 0.05, 2.0, 0.33, 0.8]
    now = datetime.now(UTC)
    statuses = ["success", "error", "interrupted"]
    store.write([WorkflowRunRow(now, f"r{i}", None, "w", "v1", statuses[i % 3], d, None) for i, d in enumerate(durations)]
                + [WorkflowRunRow(now, "x", None, "w", "v2", "success", 4.0, None)])  # fmt: skip
    report = workflow_report(store, now - timedelta(hours=1))
    assert [(r["workflow"], r["version"], r["runs"]) for r in report] == [("w", "v1", 11), ("w", "v2", 1)]
    v1, v2 = report
    assert v1["p50_s"] == pytest.approx(float(np.percentile(durations, 50)))
    assert v1["p95_s"] == pytest.approx(float(np.percentile(durations, 95)))
    assert v1["success_rate"] == round(4 / 8, 4)  # 4 successes of the 8 finished (3 interrupted)
    assert (v2["p50_s"], v2["p95_s"], v2["success_rate"]) == (4.0, 4.0, 1.0)


def test_progress_bar_on_long_exports(tmp_path: Path) -> None:
    rows = [{"i": i} for i in range(12_000)]
    with (tmp_path / "progress.txt").open("w+") as out:
        render(rows, "csv", progress_stream=out)
    assert "100% (12000/12000 rows)" in (tmp_path / "progress.txt").read_text()
    with (tmp_path / "quiet.txt").open("w+") as quiet:
        Progress(10, quiet).update(10)
    assert (tmp_path / "quiet.txt").read_text() == ""


def test_committed_dashboards_match_the_generator() -> None:
    for name, text in render_all().items():
        assert (HERE / name).read_text() == text, f"{name} is stale: run python -m analytics.dashboards.build"
    titles = {json.loads(text)["title"] for text in render_all().values()}
    assert titles == {title for title, _ in DASHBOARDS.values()}
    assert {
        "tradeflow · Overview",
        "tradeflow · Cost",
        "tradeflow · Routing",
        "tradeflow · Workflow versions",
    } == titles
