"""ORM queries compiled once per process: the labeling screen's hot reads, without rebuilding their SQL per request.

Building and compiling a queryset of a few subqueries and joins costs several ms of CPU, far more than PostgreSQL
takes to run it (bench/README.md, W2b). A `Prepared` query is the queryset itself, built once with stand-in
values in place of the request's (a user id, a slug, an item id), compiled once per process and database, and
then run with each call's values put where the stand-ins were. Rows become model instances (select_related
included) or dicts as the queryset's own iteration would make them: same SQL, same objects; only the
compiling is skipped. The queryset stays the one definition (a test compares both ways). `PreparedUpdate` does
the same for a queryset's `update()`.

On PostgreSQL the statement binds its parameters on the server, so psycopg prepares it once it has run a few times
on a connection (settings: DB_PREPARED_STATEMENTS) and PostgreSQL stops planning it anew: planning was most of
these statements' server time (the labeling screen's item query: 0.7 ms to plan, 0.1 ms to run). Only the stand-ins
are parameters there; the query's own constants are written into its SQL, so the plan made once knows them.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connections
from django.db.models import QuerySet, sql
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators

from labeling.rules.ids import fits_an_id


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    params: tuple  # the compiled parameters, with the name of a stand-in in the place of each
    converters: list  # [(column, converters, expression)], as the compiler applies them
    build_row: Callable[[list], Any]


@dataclass(frozen=True, slots=True)
class _Slot:
    """A stand-in's place among the compiled parameters."""

    name: str


def _adapted(value: Any, connection) -> Any:
    """The value as compiled parameters hold it (SQLite's hold datetimes and dates as text)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


def _slotted(build: Callable, stand_ins: dict[str, Any], params, connection) -> tuple:
    """The compiled parameters with a `_Slot` in the place of each stand-in; RuntimeError if one is missing."""
    places = {_adapted(value, connection): name for name, value in stand_ins.items()}
    if len(places) != len(stand_ins):
        raise ValueError("Each stand-in needs a value of its own.")
    slotted = tuple(_Slot(places[p]) if _hashable(p) and p in places else p for p in params)
    # A stand-in the ORM changed on its way into the SQL would stay there, silently matching nothing.
    missing = set(stand_ins) - {p.name for p in slotted if isinstance(p, _Slot)}
    if missing:
        raise RuntimeError(f"{build!r}: stand-in(s) {sorted(missing)} did not reach the SQL")
    return slotted


# A parameter's place in compiled SQL ("%s"), and a literal percent sign ("%%"), which is not one.
_PLACEHOLDER = re.compile(r"%[%s]")


def _constants_written_in(sql: str, params: tuple, connection) -> tuple[str, tuple]:
    """On PostgreSQL, the SQL with the query's own constants (every parameter but the stand-ins: a state, the 1 of
    EXISTS(SELECT 1 …)) written into it as literals, and the parameters left (the stand-ins' slots).

    A prepared statement is planned anew on every run until PostgreSQL finds a plan made once for any parameters
    (a generic plan) no costlier; sent as parameters, the constants leave that plan guessing `state = $2`, so the
    week line's generic plan walked every slot (1.6 s) and every label paid ~1.6 ms of planning instead of 0.04.
    """
    if connection.vendor != "postgresql":
        return sql, params
    connection.ensure_connection()  # compose_sql quotes as the connection does
    left, pending = [], iter(params)

    def write(placeholder: re.Match) -> str:
        if placeholder.group() == "%%":
            return "%%"
        param = next(pending)
        if isinstance(param, _Slot):
            left.append(param)
            return "%s"
        return connection.ops.compose_sql("%s", [param]).replace("%", "%%")

    return _PLACEHOLDER.sub(write, sql), tuple(left)


def _names_no_row(values: dict[str, Any]) -> bool:
    """Whether a value is a number no id column holds (past 64 bits): no row matches it, and SQLite would refuse it
    (OverflowError). The ORM's own lookups know this; the compiled SQL run here does not."""
    return any(isinstance(value, int) and not fits_an_id(value) for value in values.values())


def _filled(params: tuple, values: dict[str, Any], connection) -> list:
    return [_adapted(values[param.name], connection) if isinstance(param, _Slot) else param for param in params]


class Prepared:
    """`build(**values)` → a queryset, compiled once with `stand_ins` (distinctive values no real call passes:
    negative ids, a slug no project can have), then run per call with the real values in their places.

    Only what the stand-ins are used for may vary between calls: the query's shape (which filters, which
    joins) must not depend on the values, so `build` takes plain values (ids, strings), never a flag.
    """

    def __init__(self, build: Callable[..., QuerySet], **stand_ins: Any):
        self.build, self.stand_ins = build, stand_ins
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def __call__(self, using: str = "default", **values: Any) -> list:
        """The rows of the queryset for these values: model instances, or dicts for a values() queryset."""
        if _names_no_row(values):
            return []
        connection = connections[using]
        key = (using, connection.vendor)
        compiled = self._compiled.get(key) or self._compiled.setdefault(key, self._compile(using))
        with server_binding_cursor(connection) as cursor:
            cursor.execute(compiled.sql, _filled(compiled.params, values, connection))
            rows = cursor.fetchall()
        result = []
        for row in rows:
            row = list(row)
            for position, converters, expression in compiled.converters:
                for converter in converters:
                    row[position] = converter(row[position], expression, connection)
            result.append(compiled.build_row(row))
        return result

    def _compile(self, using: str) -> _Compiled:
        queryset = self.build(**self.stand_ins).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slotted = _slotted(self.build, self.stand_ins, params, connections[using])
        sql, slotted = _constants_written_in(sql, slotted, connections[using])
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        converters = [(pos, convs, expr) for pos, (convs, expr) in compiler.get_converters(fields).items()]
        if queryset._iterable_class is ValuesIterable:
            query = queryset.query
            names = [*query.extra_select, *query.values_select, *query.annotation_select]
            return _Compiled(sql, slotted, converters, lambda row: dict(zip(names, row, strict=True)))
        if queryset._iterable_class is not ModelIterable:
            raise TypeError("Prepared runs model and values() querysets only.")
        return _Compiled(sql, slotted, converters, _model_builder(queryset, compiler))


class PreparedUpdate:
    """`Prepared` for `build(**values).update(**changes(**values))`: the UPDATE compiled once, run per call; returns
    the number of rows changed, as update() does. For updates of the queryset's own table only."""

    def __init__(self, build: Callable[..., QuerySet], changes: Callable[..., dict[str, Any]], **stand_ins: Any):
        self.build, self.changes, self.stand_ins = build, changes, stand_ins
        self._compiled: dict[tuple[str, str], tuple[str, tuple]] = {}

    def __call__(self, using: str = "default", **values: Any) -> int:
        if _names_no_row(values):
            return 0
        connection = connections[using]
        key = (using, connection.vendor)
        statement, params = self._compiled.get(key) or self._compiled.setdefault(key, self._compile(using))
        with server_binding_cursor(connection) as cursor:
            cursor.execute(statement, _filled(params, values, connection))
            return cursor.rowcount

    def _compile(self, using: str) -> tuple[str, tuple]:
        query = self.build(**self.stand_ins).query.chain(sql.UpdateQuery)
        query.add_update_values(self.changes(**self.stand_ins))
        if query.related_updates or query.order_by:
            raise TypeError("PreparedUpdate changes the queryset's own table, in no order.")
        query.clear_select_clause()
        statement, params = query.get_compiler(using).as_sql()
        slotted = _slotted(self.build, self.stand_ins, params, connections[using])
        return _constants_written_in(statement, slotted, connections[using])


def server_binding_cursor(connection):
    """A cursor as `connection.cursor()` gives (errors translated, queries logged, execute wrappers run), that on
    PostgreSQL binds parameters on the server, so that psycopg can prepare a statement run again and again (Django's
    cursors inline them into the SQL). The query log shows such a statement with $1, $2 … in place of its values."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor  # importable only with psycopg installed

    connection.close_if_health_check_failed()  # what connection.cursor() does first (CONN_HEALTH_CHECKS)
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
    connection.validate_thread_sharing()
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _model_builder(queryset: QuerySet, compiler) -> Callable[[list], Any]:
    """A row → the model instance, its select_related objects and annotations, as ModelIterable makes them."""
    select, klass_info, annotations = compiler.select, compiler.klass_info, compiler.annotation_col_map
    model, fields = klass_info["model"], klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    names = [column[0].target.attname for column in select[start:end]]
    populators = get_related_populators(klass_info, select, queryset.db, queryset._fetch_mode)

    def build(row: list) -> Any:
        instance = model.from_db(queryset.db, names, row[start:end], fetch_mode=queryset._fetch_mode)
        for populator in populators:
            populator.populate(row, instance)
        for name, position in (annotations or {}).items():
            setattr(instance, name, row[position])
        return instance

    return build
