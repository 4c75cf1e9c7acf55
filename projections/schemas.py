"""A projection's tables as a set, in a PostgreSQL schema of their own: bulk-loaded
from a fold, kept up with the log, compared with the live set, or swapped in.

Every projection's SQL names its tables without a schema, so `search_path`
decides which set a statement reaches; the live set is the connection's
current schema. All functions take a cursor inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from projections.replay import Fold, split_ddl, tables_of
from projections.runner import Projection
from projections.views import Statement

DIFFERENCES_SHOWN = 20


def current_schema(cursor: Cursor[Any]) -> str:
    row = cursor.execute("SELECT current_schema() AS schema").fetchone()
    return row["schema"] if isinstance(row, dict) else row[0]  # type: ignore[index]


def use_schema(cursor: Cursor[Any], schema: str) -> None:
    """Unqualified table names in this transaction now mean `schema`'s tables."""
    cursor.execute("SELECT set_config('search_path', %s, true)", (_quoted(schema),))


def _quoted(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


def existing_tables(cursor: Cursor[Any], schema: str, tables: Iterable[str]) -> list[str]:
    rows = cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name = ANY(%s)",
        (schema, list(tables)),
    ).fetchall()
    found = {row["table_name"] if isinstance(row, dict) else row[0] for row in rows}
    return [table for table in tables if table in found]


def load(cursor: Cursor[Any], schema: str, projections: Sequence[Projection], fold: Fold, live: str) -> None:
    """(Re)create `schema` holding the projections' tables with the fold's rows: tables, COPY, then indexes."""
    drop(cursor, schema)
    cursor.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    use_schema(cursor, schema)
    for projection in projections:
        tables, indexes = split_ddl(projection)
        for statement in tables:
            cursor.execute(statement)  # type: ignore[arg-type]
        for table in tables_of(projection):
            copy_table(cursor, schema, table, fold)
        for statement in indexes:
            cursor.execute(statement)  # type: ignore[arg-type]
    use_schema(cursor, live)


def copy_table(cursor: Cursor[Any], schema: str, table: str, fold: Fold) -> None:
    columns = fold.columns(table)
    target = SQL("COPY {}.{} ({}) FROM STDIN").format(
        Identifier(schema), Identifier(table), SQL(", ").join(map(Identifier, columns))
    )
    with cursor.copy(target) as copy:
        for row in fold.rows(table, columns):
            copy.write_row(row)


def apply(cursor: Cursor[Any], schema: str, statements: Iterable[Statement], live: str) -> None:
    """The live projector's statements, run against `schema`'s tables instead of the live ones."""
    use_schema(cursor, schema)
    for statement in statements:
        cursor.execute(statement.sql, dict(statement.params))  # type: ignore[arg-type]
    use_schema(cursor, live)


def lock(cursor: Cursor[Any], schema: str, tables: Sequence[str], mode: str) -> None:
    """Hold the live tables still: the live projector's next write to them waits for this transaction."""
    present = existing_tables(cursor, schema, tables)
    if present:
        names = SQL(", ").join(SQL("{}.{}").format(Identifier(schema), Identifier(t)) for t in present)
        cursor.execute(SQL("LOCK TABLE {} IN {} MODE").format(names, SQL(mode)))


def swap(cursor: Cursor[Any], tables: Sequence[str], live: str, new: str) -> None:
    """Move the new tables in and drop the old ones, in the caller's transaction (readers see one or the other)."""
    retired = f"{new}_retired"
    drop(cursor, retired)
    cursor.execute(SQL("CREATE SCHEMA {}").format(Identifier(retired)))
    for table in existing_tables(cursor, live, tables):
        cursor.execute(
            SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(Identifier(live), Identifier(table), Identifier(retired))
        )
    for table in tables:
        cursor.execute(
            SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(Identifier(new), Identifier(table), Identifier(live))
        )
    drop(cursor, retired)
    drop(cursor, new)


def drop(cursor: Cursor[Any], schema: str) -> None:
    cursor.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def differences(cursor: Cursor[Any], live: str, scratch: str, table: str, columns: Sequence[str]) -> list[str]:
    """Rows that differ between the live table and its replayed twin, as readable lines (at most a few)."""
    if not existing_tables(cursor, live, [table]):
        return [f"{table}: the live view has no such table"]
    live_columns = {
        row["column_name"] if isinstance(row, dict) else row[0]
        for row in cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (live, table),
        ).fetchall()
    }
    missing = [column for column in columns if column not in live_columns]
    if missing:
        return [f"{table}: the live view lacks column(s) {', '.join(missing)}"]
    listed = SQL(", ").join(map(Identifier, columns))
    found: list[str] = []
    for first, second, label in ((live, scratch, "live only"), (scratch, live, "replay only")):
        rows = cursor.execute(
            SQL("SELECT {cols} FROM {a}.{t} EXCEPT ALL SELECT {cols} FROM {b}.{t} LIMIT {n}").format(
                cols=listed, a=Identifier(first), b=Identifier(second), t=Identifier(table), n=DIFFERENCES_SHOWN
            )
        ).fetchall()
        found += [f"{table} {label}: {dict(row) if isinstance(row, dict) else row}" for row in rows]
    return found
