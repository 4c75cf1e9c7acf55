"""The replay's in-memory fold: its physical layout, which the rebuild rate depends on."""

from __future__ import annotations

from projections.replay import Fold, clustered
from projections.runner import ALL_PROJECTIONS


def test_every_keyed_table_of_the_fold_is_clustered_by_its_key() -> None:
    fold = Fold(ALL_PROJECTIONS)
    try:
        tables = fold.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        fold.close()
    assert tables
    for name, sql in tables:
        assert ("WITHOUT ROWID" in sql) == ("PRIMARY KEY" in sql.upper()), name


def test_indexes_and_unkeyed_tables_are_left_as_they_are() -> None:
    index = "CREATE INDEX IF NOT EXISTS t_by_x ON t (x, y)"
    unkeyed = "CREATE TABLE IF NOT EXISTS log (line TEXT)"
    assert clustered(index) == index
    assert clustered(unkeyed) == unkeyed
    assert clustered("CREATE TABLE t (id TEXT PRIMARY KEY, x TEXT)\n") == (
        "CREATE TABLE t (id TEXT PRIMARY KEY, x TEXT) WITHOUT ROWID"
    )
