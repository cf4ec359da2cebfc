"""Checkpointer set-up against real Postgres."""

from __future__ import annotations

import pytest

from core.errors import PersistenceError
from core.persistence import ensure_postgres_schema, postgres_schema_is_current
from tests.support.postgres import scratch_database

pytestmark = [pytest.mark.postgres]


def test_tables_are_set_up_once_then_left_alone() -> None:
    with scratch_database("tradeflow_setup") as url:
        assert postgres_schema_is_current(url) is False
        assert ensure_postgres_schema(url) is True
        assert postgres_schema_is_current(url) is True
        assert ensure_postgres_schema(url) is False


def test_unreachable_database_names_the_variable_without_the_password() -> None:
    with pytest.raises(PersistenceError) as info:
        ensure_postgres_schema("postgresql://ops:hunter2@127.0.0.1:9/nowhere")
    assert str(info.value).startswith("DATABASE_URL: cannot set up checkpoint tables at postgresql://ops:***@")
    assert "hunter2" not in str(info.value)
