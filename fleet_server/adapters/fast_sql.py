"""Statements of the debit path, compiled once and run straight on the DBAPI cursor.

SQLAlchemy's execution path around each statement (cache key, execution context, parameter
and result processing, the Result object) cost the debit more CPU than psycopg and PostgreSQL
together (docs/benchmarks.md, "Where the time goes"). A `FastStatement` is the same Core
statement compiled by SQLAlchemy once per dialect and set of parameter names; running it does
only what the statement needs:

- the bound values the statement carries itself (literals, `func.coalesce(x, 0)`) are filled
  in from the compiled form, and the types' bind processors that exist are applied
  (`UTCDateTime`: aware UTC in, naive on SQLite; SQLite's DateTime strings);
- the rows come back as named tuples (`row.balance_cents`), with the types' result processors
  applied (aware UTC out, SQLite's booleans);
- database errors come out as SQLAlchemy's (`IntegrityError`, `OperationalError` with the
  driver's error as `.orig`), and a lost connection is invalidated as SQLAlchemy would;
- `before_cursor_execute` / `after_cursor_execute` listeners of the engine still see every
  statement (tests count them, bench/debit_profile.py times them).

It runs in the connection's transaction, begun as Connection.execute would begin it (on
SQLite the engine's "begin" event issues BEGIN); nothing here commits. Statements
with expanding ("IN :list") parameters are not supported: give each value its own parameter.
"""

import json
from collections import namedtuple
from datetime import datetime

from sqlalchemy import JSON, Text, bindparam, cast, exc, func
from sqlalchemy import column as named_column
from sqlalchemy.engine import Connection


class FastResult:
    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list, rowcount: int):
        self.rows, self.rowcount = rows, rowcount

    def all(self) -> list:
        return self.rows

    def first(self):
        return self.rows[0] if self.rows else None

    def one(self):
        if len(self.rows) != 1:
            raise exc.NoResultFound("expected one row") if not self.rows else \
                exc.MultipleResultsFound("expected one row")
        return self.rows[0]

    def scalar(self):
        return self.rows[0][0] if self.rows else None

    def __iter__(self):
        return iter(self.rows)


class _Form:
    """One compiled form: the SQL text, how to order the parameters, and the processors."""

    __slots__ = ("sql", "order", "defaults", "computed", "binds", "row", "results", "cursor")

    def __init__(self, statement, dialect, keys: tuple[str, ...]):
        # psycopg: the SQL with $1, $2... and psycopg's RawCursor, which takes it as it is,
        # instead of turning %(name)s into $n and a dict into a list on every execution.
        self.cursor = getattr(dialect.loaded_dbapi, "RawCursor", None)
        if self.cursor is not None:
            dialect = _numbered(dialect)
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.post_compile_params:
            raise ValueError("expanding parameters are not supported on the fast path")
        self.sql = compiled.string
        names = compiled.bind_names  # BindParameter -> the name it has in the SQL
        # Values the statement carries itself: what construct_params() would fill in.
        self.defaults = {name: bind.effective_value for bind, name in names.items()
                         if not bind.required and name not in keys}
        # Columns left out of an INSERT (or UPDATE) that have a Python-side default.
        self.computed = []
        for column, default in ([(c, c.default) for c in compiled.insert_prefetch]
                                + [(c, c.onupdate) for c in compiled.update_prefetch]):
            if default.is_scalar:
                self.defaults[column.key] = default.arg
            elif default.is_callable:
                self.computed.append((column.key, default.arg))
            else:
                raise ValueError(f"default of {column} is not supported on the fast path")
        self.binds = list(compiled._bind_processors.items())
        self.order = list(compiled.positiontup) if compiled.positional else None
        columns = compiled._result_columns
        self.row = namedtuple("Row", [c[0] for c in columns], rename=True) if columns else None
        self.results = [(i, c[3]._cached_result_processor(dialect, None))
                        for i, c in enumerate(columns)]
        self.results = [(i, proc) for i, proc in self.results if proc is not None]


class FastStatement:
    def __init__(self, statement):
        self.statement = statement
        self._forms: dict[tuple, _Form] = {}

    def run(self, conn: Connection, params: dict | None = None) -> FastResult:
        params = params or {}
        keys = tuple(params)
        dialect = conn.dialect
        form = self._forms.get((dialect.name, keys))
        if form is None:
            form = self._forms[(dialect.name, keys)] = _Form(self.statement, dialect, keys)
        values = {**form.defaults, **params} if form.defaults else dict(params)
        for name, make in form.computed:
            values[name] = make(None)  # SQLAlchemy's wrapper of a default without arguments
        for name, process in form.binds:
            if name in values:
                values[name] = process(values[name])
        bound = [values[name] for name in form.order] if form.order is not None else values
        return _execute(conn, form, bound)


_NUMBERED: dict = {}


def _numbered(dialect):
    """A dialect of the same kind that writes numbered parameters ($1), for compiling only."""
    numbered = _NUMBERED.get(type(dialect))
    if numbered is None:
        numbered = _NUMBERED[type(dialect)] = type(dialect)(paramstyle="numeric_dollar")
        numbered.server_version_info = dialect.server_version_info
    return numbered


def _execute(conn: Connection, form: _Form, bound) -> FastResult:
    if not conn.in_transaction():
        conn.begin()  # as Connection.execute's autobegin: the engine's "begin" event runs
    fairy = conn.connection
    dbapi_conn = fairy.dbapi_connection
    events = conn._has_events or conn.engine._has_events
    try:
        cursor = form.cursor(dbapi_conn) if form.cursor is not None else dbapi_conn.cursor()
        if events:
            conn.dispatch.before_cursor_execute(conn, cursor, form.sql, bound, None, False)
        cursor.execute(form.sql, bound)
        if events:
            conn.dispatch.after_cursor_execute(conn, cursor, form.sql, bound, None, False)
        rows = cursor.fetchall() if form.row is not None else []
        rowcount = cursor.rowcount
        cursor.close()
    except conn.dialect.loaded_dbapi.Error as err:
        invalidated = conn.dialect.is_disconnect(err, dbapi_conn, None)
        if invalidated:
            conn.invalidate(err)
        raise exc.DBAPIError.instance(form.sql, bound, err, conn.dialect.loaded_dbapi.Error,
                                      connection_invalidated=invalidated,
                                      dialect=conn.dialect) from err
    if form.row is None:
        return FastResult(rows, rowcount)
    make = form.row._make
    if form.results:
        out = []
        for raw in rows:
            raw = list(raw)
            for i, process in form.results:
                raw[i] = process(raw[i])
            out.append(make(raw))
        return FastResult(out, rowcount)
    return FastResult([make(raw) for raw in rows], rowcount)


def json_rows(name: str, columns: list):
    """PostgreSQL: many rows in one parameter, `name`, as a table with the columns' names and
    types (json_to_recordset). Give it dump_rows()'s text. An array per column cost more:
    psycopg dumps a list element by element in Python, one JSON text is one value."""
    return (func.json_to_recordset(cast(bindparam(name, type_=Text), JSON))
            .table_valued(*[named_column(c.name, c.type) for c in columns])
            .render_derived(with_types=True))


def dump_rows(rows: list[dict]) -> str:
    """Rows (column name -> value) as json_rows() reads them: aware datetimes in ISO 8601,
    bytes as bytea's hex text."""
    return json.dumps(rows, default=_json_value, separators=(",", ":"))


def _json_value(value):
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    raise TypeError(f"{type(value).__name__} cannot be written as a JSON row")
